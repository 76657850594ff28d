"""The BPJS simulator alone, on the shared runtime against the real Kafka and PostgreSQL (its schema
`bpjs`) and served over HTTP by uvicorn: requests in, answers and dead letters out, seen from
outside (the topics, the consumer group's offsets, the HTTP endpoints)."""

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.stack import free_port
from shared import contracts, topics
from shared.envelope import event_type, new_envelope
from shared.kafka_admin import ensure_topic
from simulators.bpjs.app import create_app
from simulators.bpjs.domain import SOURCE, answer_id, kpj_number, member_kpj_number
from simulators.bpjs.settings import SimulatorSettings
from testkit.infra import Infra
from testkit.kafka import RecordedEvent, publish_json, record_events
from testkit.samples import make_nik
from tests.support import truncate_schema

REQUESTER = "/muba/sponsorship"


def enrollment_request(
    i: int,
    run: str,
    *,
    serial: int | None = None,
    months: int = 12,
    start: date = date(2026, 5, 1),
    person: int | None = None,
    nik_warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Enrollment `i` of the run, for person `person` (default: a person of its own, `i`)."""
    j = i if person is None else person
    birth = date(1975 + j % 25, 1 + j % 12, 1 + j % 28)
    sex = "P" if j % 2 else "L"
    return {
        "nik_warnings": nik_warnings or [],
        "enrollment_id": f"enr-{run}-{i}",
        "worker_id": f"wrk-{run}-{i}",
        "nik": make_nik(f"{1 + j % 15:02d}", birth, sex, serial if serial is not None else 1 + j),
        "full_name": "Rudi Saputra",
        "birth_date": birth.isoformat(),
        "sex": sex,
        "phone": f"+62812{i:08d}",
        "address": "Desa Bailangu, Sekayu, Kabupaten Musi Banyuasin, Sumatera Selatan",
        "kecamatan_code": f"{1 + i % 15:02d}",
        "occupation": "penyadap karet",
        "declared_income_idr": 1_000_000,
        "package": "JKK_JKM",
        "months": months,
        "coverage_start": start.isoformat(),
        "monthly_contribution_idr": 16_800,
        "total_contribution_idr": 16_800 * months,
        "payer": {
            "company_id": "cmp-medco",
            "company_name": "Medco E&P Grissik",
            "commitment_id": f"cmt-{run}",
        },
        "requested_at": datetime(2026, 4, 20, 9, 0, tzinfo=UTC).isoformat(),
    }


async def publish_requests(
    infra: Infra, topic: str, bodies: list[Any], headers: list[dict[str, str]] | None = None
) -> list[dict[str, str]]:
    """Publish each request as sponsorship does (CloudEvents headers, a new event id each unless
    `headers` are given); returns the headers sent."""
    sent = []
    for i, body in enumerate(bodies):
        key = body["worker_id"] if isinstance(body, dict) and "worker_id" in body else None
        if headers is None:
            envelope = new_envelope(event_type("enrollment-requested.v1"), REQUESTER, subject=key)
            given = envelope.headers() | {"ce_correlationid": f"corr-{envelope.id}"}
        else:
            given = headers[i]
        await publish_json(infra.kafka, topic, [(key, body)], headers=given)
        sent.append(given)
    return sent


@pytest.fixture
async def simulator_settings(
    infra: Infra, service_env: Callable[..., dict[str, Any]]
) -> Callable[..., SimulatorSettings]:
    await truncate_schema(infra, "bpjs")

    def make(**env: Any) -> SimulatorSettings:
        service_env(
            BPJS_DATABASE_URL=infra.database_urls["bpjs"], BPJS_SIMULATOR_HTTP_PORT=free_port(), **env
        )
        return SimulatorSettings()

    return make


@contextlib.asynccontextmanager
async def serving(settings: SimulatorSettings) -> AsyncIterator[SimulatorSettings]:
    """`python -m simulators.bpjs` in this process: the runtime's ASGI app under uvicorn, until
    it is asked to exit as on SIGTERM (the runtime then finishes or abandons the batch in hand)."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 90
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("the simulator stopped while starting")
        assert time.monotonic() < deadline, "the simulator did not start"
        await asyncio.sleep(0.1)
    try:
        yield settings
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def simulator(simulator_settings: Callable[..., SimulatorSettings]) -> AsyncIterator[SimulatorSettings]:
    async with serving(simulator_settings()) as settings:
        yield settings


def request_topic(settings: SimulatorSettings) -> str:
    return settings.topic(contracts.ENROLLMENT_REQUESTED.topic)


def group(settings: SimulatorSettings) -> str:
    return settings.topic_prefix + settings.group_id


def answer_topics(prefix: str) -> tuple[str, str]:
    return prefix + contracts.ENROLLMENT_CONFIRMED.topic, prefix + contracts.ENROLLMENT_REJECTED.topic


async def http_get(port: int, path: str) -> tuple[int, Any]:
    def get() -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    return await asyncio.to_thread(get)


async def committed_offsets(infra: Infra, group_id: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(**infra.kafka.options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def end_offsets(infra: Infra, topic: str) -> dict[TopicPartition, int]:
    """The end offset of every partition of `topic` that holds messages."""
    count = await ensure_topic(infra.kafka, topic)
    consumer = AIOKafkaConsumer(**infra.kafka.options())
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(
            [TopicPartition(topic, p) for p in range(count)]
        )
        return {tp: offset for tp, offset in ends.items() if offset > 0}
    finally:
        await consumer.stop()


def by_enrollment(events: list[RecordedEvent]) -> dict[str, RecordedEvent]:
    return {e.payload["enrollment_id"]: e for e in events}


async def test_typical_journey_confirmations_and_rejections(
    infra: Infra, simulator: SimulatorSettings
) -> None:
    prefix = simulator.topic_prefix
    run = prefix.strip(".")
    valid = [enrollment_request(i, run) for i in range(8)]
    leap = enrollment_request(8, run, months=1, start=date(2028, 1, 31))
    not_found = enrollment_request(9, run, serial=9999)
    member = enrollment_request(10, run, serial=9998)
    bodies = [*valid, leap, not_found, member]
    confirmed_topic, rejected_topic = answer_topics(prefix)
    async with record_events(infra.kafka, confirmed_topic, rejected_topic) as recorder:
        sent = await publish_requests(infra, request_topic(simulator), bodies)
        await recorder.wait_for(len(bodies))
        events = await recorder.settle(1.0)

    confirmed = by_enrollment([e for e in events if e.topic == confirmed_topic])
    rejected = by_enrollment([e for e in events if e.topic == rejected_topic])
    assert len(events) == len(bodies)
    assert set(confirmed) == {b["enrollment_id"] for b in [*valid, leap, member]}
    assert set(rejected) == {not_found["enrollment_id"]}

    correlation = {b["enrollment_id"]: h["ce_correlationid"] for b, h in zip(bodies, sent, strict=True)}
    for enrollment_id, event in {**confirmed, **rejected}.items():
        assert event.key == event.payload["worker_id"] == enrollment_id.replace("enr-", "wrk-", 1)
        assert event.headers["ce_id"] == answer_id(enrollment_id)
        assert event.headers["ce_source"] == SOURCE
        assert event.headers["ce_specversion"] == "1.0"
        assert event.headers["ce_subject"] == event.key
        assert event.headers["ce_correlationid"] == correlation[enrollment_id]
        assert event.headers["content-type"] == "application/json"

    for body in valid:
        event = confirmed[body["enrollment_id"]]
        assert event.event_type == event_type("enrollment-confirmed.v1")
        assert event.payload["kpj_number"] == kpj_number(body["enrollment_id"])
        assert len(event.payload["kpj_number"]) == 11 and event.payload["kpj_number"].isdigit()
        assert (event.payload["coverage_start"], event.payload["coverage_end"]) == (
            "2026-05-01",
            "2027-04-30",
        )
    assert confirmed[leap["enrollment_id"]].payload["coverage_end"] == "2028-02-29"
    assert len({e.payload["kpj_number"] for e in confirmed.values()}) == len(confirmed)
    assert {e.payload["membership"] for e in confirmed.values()} == {"new", "continued"}
    assert confirmed[member["enrollment_id"]].payload["membership"] == "continued"

    assert rejected[not_found["enrollment_id"]].payload["reason_code"] == "NIK_NOT_FOUND"
    assert rejected[not_found["enrollment_id"]].payload["reason_message"] == "NIK tidak ditemukan di Dukcapil"
    assert all(e.event_type == event_type("enrollment-rejected.v1") for e in rejected.values())
    assert all(b["nik"] not in e.body.decode() for b in bodies for e in events)

    # Health over the runtime's own app (uvicorn, as `python -m simulators.bpjs` serves it).
    port = simulator.http_port
    status, health = await http_get(port, "/healthz")
    assert (status, health) == (200, {"status": "up", "service": "bpjs-simulator"})
    status, ready = await http_get(port, "/readyz")
    assert (status, ready["status"], ready["broker"], ready["database"]) == (200, "ready", True, True)
    assert ready["consumers_failing"] == {}
    status, stats = await http_get(port, "/stats")
    consumer = f"{group(simulator)}:{contracts.ENROLLMENT_REQUESTED.topic}"
    assert status == 200 and stats[consumer]["processed"] == len(bodies)


async def test_an_existing_member_is_confirmed_on_the_kpj_number_of_their_nik_every_time(
    infra: Infra, simulator: SimulatorSettings
) -> None:
    """Serial 9998 is an active member, 9997 a lapsed one: confirmed (not refused) on the KPJ number
    BPJS holds for the person, whichever enrollment asks: two enrollments of one NIK, one number."""
    prefix = simulator.topic_prefix
    run = prefix.strip(".")
    active = [enrollment_request(i, run, serial=9998, person=20) for i in (20, 21)]
    lapsed = enrollment_request(22, run, serial=9997, months=6)
    new = enrollment_request(23, run)
    bodies = [*active, lapsed, new]
    confirmed_topic, rejected_topic = answer_topics(prefix)
    async with record_events(infra.kafka, confirmed_topic, rejected_topic) as recorder:
        await publish_requests(infra, request_topic(simulator), bodies)
        await recorder.wait_for(len(bodies))
        events = await recorder.settle(1.0)

    assert {e.topic for e in events} == {confirmed_topic}
    confirmed = by_enrollment(events)
    assert len(events) == len(confirmed) == len(bodies)
    first, second = (confirmed[b["enrollment_id"]].payload for b in active)
    assert active[0]["nik"] == active[1]["nik"] and active[0]["enrollment_id"] != active[1]["enrollment_id"]
    assert (first["membership"], second["membership"]) == ("continued", "continued")
    assert first["kpj_number"] == second["kpj_number"] == member_kpj_number(active[0]["nik"])
    assert first["kpj_number"] != kpj_number(active[0]["enrollment_id"])
    assert len(first["kpj_number"]) == 11 and first["kpj_number"].isdigit()
    assert (first["coverage_start"], first["coverage_end"]) == ("2026-05-01", "2027-04-30")
    resumed = confirmed[lapsed["enrollment_id"]].payload
    assert (resumed["membership"], resumed["kpj_number"]) == ("resumed", member_kpj_number(lapsed["nik"]))
    assert (resumed["coverage_start"], resumed["coverage_end"]) == ("2026-05-01", "2026-10-31")
    fresh = confirmed[new["enrollment_id"]].payload
    assert (fresh["membership"], fresh["kpj_number"]) == ("new", kpj_number(new["enrollment_id"]))


@pytest.mark.parametrize(("percent", "expected"), [(100, "rejected"), (0, "confirmed")])
async def test_a_warned_nik_is_answered_by_the_configured_share_of_dukcapil_mismatches(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings], percent: int, expected: str
) -> None:
    """The registry's warning travels on the request; at 100 % Dukcapil's record never agrees
    (DATA_MISMATCH), at 0 % always (a corrected record: confirmed). An area warning decides nothing."""
    settings = simulator_settings(SIMULATOR_WARNING_MISMATCH_PERCENT=percent)
    run = settings.topic_prefix.strip(".")
    birth_date = enrollment_request(30, run, nik_warnings=["NIK_BIRTH_DATE_MISMATCH"])
    sex = enrollment_request(31, run, nik_warnings=["NIK_SEX_MISMATCH", "NIK_AREA_UNKNOWN"])
    member = enrollment_request(32, run, serial=9998, nik_warnings=["NIK_SEX_MISMATCH"])
    area_only = enrollment_request(33, run, nik_warnings=["NIK_AREA_UNKNOWN"])
    warned = [birth_date, sex, member]
    confirmed_topic, rejected_topic = answer_topics(settings.topic_prefix)
    async with serving(settings), record_events(infra.kafka, confirmed_topic, rejected_topic) as recorder:
        await publish_requests(infra, request_topic(settings), [*warned, area_only])
        await recorder.wait_for(4)
        events = await recorder.settle(1.0)

    answers = by_enrollment(events)
    assert len(events) == len(answers) == 4
    outcome = {e: "confirmed" if a.topic == confirmed_topic else "rejected" for e, a in answers.items()}
    assert {outcome[b["enrollment_id"]] for b in warned} == {expected}
    assert outcome[area_only["enrollment_id"]] == "confirmed"
    if expected == "rejected":
        for body in warned:
            payload = answers[body["enrollment_id"]].payload
            assert payload["reason_code"] == "DATA_MISMATCH"
            assert "Dukcapil" in payload["reason_message"]
    else:
        assert answers[member["enrollment_id"]].payload["membership"] == "continued"
        assert answers[sex["enrollment_id"]].payload["membership"] == "new"


async def test_a_redelivered_request_yields_no_second_answer(
    infra: Infra, simulator: SimulatorSettings, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    """The same message again (a lost commit, a producer retry) is dropped by the inbox; the same
    enrollment in a new message, or read by another consumer group of the same schema, finds its
    answer (the same uuid5 event id) already in the outbox: one answer each, ever."""
    prefix = simulator.topic_prefix
    request = enrollment_request(1, prefix.strip("."))
    rejected_request = enrollment_request(2, prefix.strip("."), serial=9999)
    confirmed_topic, rejected_topic = answer_topics(prefix)
    async with record_events(infra.kafka, confirmed_topic, rejected_topic) as recorder:
        sent = await publish_requests(infra, request_topic(simulator), [request, rejected_request])
        await recorder.wait_for(2)
        await publish_requests(infra, request_topic(simulator), [request], headers=[sent[0]])  # byte for byte
        await publish_requests(infra, request_topic(simulator), [request, rejected_request])  # new event ids
        # Another reader of the whole log (as after the group's offsets were lost) answers nothing new.
        async with serving(simulator_settings(SIMULATOR_GROUP_ID="bpjs-simulator-replay")) as again:
            replay_consumer = f"{group(again)}:{contracts.ENROLLMENT_REQUESTED.topic}"
            for _ in range(300):  # until the second reader has been through all five requests
                _, stats = await http_get(again.http_port, "/stats")
                done = stats.get(replay_consumer, {})
                if done.get("processed", 0) + done.get("duplicates", 0) >= 5:
                    break
                await asyncio.sleep(0.1)
            assert done["processed"] + done["duplicates"] == 5, done
            events = await recorder.settle(2.0)

    assert sorted((e.topic, e.payload["enrollment_id"]) for e in events) == sorted(
        [(confirmed_topic, request["enrollment_id"]), (rejected_topic, rejected_request["enrollment_id"])]
    )
    assert {e.headers["ce_id"] for e in events} == {
        answer_id(request["enrollment_id"]),
        answer_id(rejected_request["enrollment_id"]),
    }
    _, stats = await http_get(simulator.http_port, "/stats")
    assert stats[f"{group(simulator)}:{contracts.ENROLLMENT_REQUESTED.topic}"]["duplicates"] == 1


async def test_a_request_that_breaks_the_contract_is_dead_lettered_and_the_next_is_answered(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    settings = simulator_settings()
    prefix = settings.topic_prefix
    topic = request_topic(settings)
    dlq = topics.dead_letter_topic(topic)
    valid = enrollment_request(3, prefix.strip("."))
    missing_fields = {"enrollment_id": "enr-broken", "worker_id": "wrk-broken", "nik": valid["nik"]}
    no_months = dict(enrollment_request(4, prefix.strip(".")), months=0)
    confirmed_topic, _ = answer_topics(prefix)
    async with serving(settings), record_events(infra.kafka, dlq, confirmed_topic) as recorder:
        # One partition (same key) so the order is the log's order.
        await publish_json(
            infra.kafka,
            topic,
            [
                ("wrk-x", b"\xff\xfe not json"),
                ("wrk-x", missing_fields),
                ("wrk-x", no_months),
                ("wrk-x", valid),
            ],
            headers={"ce_correlationid": "corr-dlq"},
        )
        events = await recorder.wait_for(4)
        events = await recorder.settle(1.0)
    # Stopped (as on SIGTERM): what it answered and dead-lettered is committed.

    consumer = f"{group(settings)}:{contracts.ENROLLMENT_REQUESTED.topic}"
    dead = sorted((e for e in events if e.topic == dlq), key=lambda e: int(e.headers["dlq_original_offset"]))
    assert [e.headers["dlq_reason"] for e in dead] == ["NOT_JSON", "CONTRACT_VIOLATION", "CONTRACT_VIOLATION"]
    assert dead[0].body == b"\xff\xfe not json"
    assert "not UTF-8 JSON" in dead[0].headers["dlq_error"]
    assert "full_name: Field required" in dead[1].headers["dlq_error"]
    assert "months must be at least 1" in dead[2].headers["dlq_error"]
    assert valid["nik"] not in dead[1].headers["dlq_error"]
    offsets = [int(e.headers["dlq_original_offset"]) for e in dead]
    assert offsets == [offsets[0], offsets[0] + 1, offsets[0] + 2]
    for event in dead:
        assert event.key == "wrk-x"
        assert event.headers["ce_correlationid"] == "corr-dlq"  # the original headers travel along
        # The dead-letter headers every service writes (shared/consumer.py).
        assert event.headers["dlq_original_topic"] == topic
        assert event.headers["dlq_original_partition"].isdigit()
        assert event.headers["dlq_consumer"] == consumer
        assert event.headers["dlq_attempts"] == "1"
        assert event.headers["dlq_original_identity"] and event.headers["dlq_original_event_id"]
        assert datetime.fromisoformat(event.headers["dlq_failed_at"]).tzinfo is not None
    assert len({e.headers["dlq_id"] for e in dead}) == 3
    answered = [e for e in events if e.topic == confirmed_topic]
    assert [e.payload["enrollment_id"] for e in answered] == [valid["enrollment_id"]]

    committed = await committed_offsets(infra, group(settings))
    assert committed == await end_offsets(infra, topic)
    # The letters left through the simulator's own outbox, in its schema.
    conn = await asyncpg.connect(infra.database_urls["bpjs"])
    try:
        letters = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = $1 AND published_at IS NOT NULL", dlq
        )
    finally:
        await conn.close()
    assert letters == 3


async def held_batches(infra: Infra) -> int:
    """Sessions of the role bpjs holding a transaction open: the simulator waiting out its delay."""
    conn = await asyncpg.connect(infra.admin_database_url)
    try:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'bpjs'"
            " AND datname = current_database() AND state = 'idle in transaction'"
        )
        return found
    finally:
        await conn.close()


async def test_a_stop_during_the_delay_commits_nothing_and_the_next_run_answers(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    slow = simulator_settings(SIMULATOR_DELAY_MS=25_000)
    prefix = slow.topic_prefix
    request = enrollment_request(5, prefix.strip("."))
    confirmed_topic, _ = answer_topics(prefix)
    async with record_events(infra.kafka, confirmed_topic) as recorder:
        async with serving(slow):
            await publish_requests(infra, request_topic(slow), [request])
            for _ in range(300):  # until the request is in hand, waiting out the processing time
                if await held_batches(infra):
                    break
                await asyncio.sleep(0.1)
            assert await held_batches(infra) == 1
        # Stopped mid-delay: not answered, not committed.
        assert await recorder.settle(0.5) == []
        assert await committed_offsets(infra, group(slow)) == {}

        # The next run of the same group answers it (the delay has not passed yet: shorten it).
        async with serving(simulator_settings(SIMULATOR_DELAY_MS=0)):
            events = await recorder.wait_for(1)
    assert events[0].payload["enrollment_id"] == request["enrollment_id"]
    assert events[0].headers["ce_id"] == answer_id(request["enrollment_id"])


async def test_the_delay_holds_answers_back(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    settings = simulator_settings(SIMULATOR_DELAY_MS=1500)
    request = enrollment_request(6, settings.topic_prefix.strip("."))
    confirmed_topic, _ = answer_topics(settings.topic_prefix)
    async with serving(settings), record_events(infra.kafka, confirmed_topic) as recorder:
        published = time.monotonic()
        await publish_requests(infra, request_topic(settings), [request])
        events = await recorder.wait_for(1)
        elapsed = time.monotonic() - published
    assert elapsed >= 1.3
    assert events[0].payload["confirmed_at"] == "2026-04-20T09:00:01.500000Z"
