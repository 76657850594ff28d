"""The BPJS simulator alone, against the real Kafka: requests in, answers and dead letters out."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import contracts, topics
from shared.envelope import event_type, new_envelope
from shared.kafka_admin import ensure_topic
from simulators.bpjs.settings import SimulatorSettings
from simulators.bpjs.simulator import SOURCE, BpjsSimulator, answer_id, kpj_number
from testkit.infra import Infra
from testkit.kafka import RecordedEvent, publish_json, record_events
from testkit.samples import make_nik

REQUESTER = "/muba/sponsorship"


def enrollment_request(
    i: int, run: str, *, serial: int | None = None, months: int = 12, start: date = date(2026, 5, 1)
) -> dict[str, Any]:
    birth = date(1975 + i % 25, 1 + i % 12, 1 + i % 28)
    sex = "P" if i % 2 else "L"
    return {
        "enrollment_id": f"enr-{run}-{i}",
        "worker_id": f"wrk-{run}-{i}",
        "nik": make_nik(f"{1 + i % 15:02d}", birth, sex, serial if serial is not None else 1 + i),
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


async def publish_requests(infra: Infra, topic: str, bodies: list[Any]) -> list[str]:
    """Publish each request as sponsorship does (CloudEvents headers); returns the correlation ids."""
    correlation_ids = []
    for body in bodies:
        key = body["worker_id"] if isinstance(body, dict) and "worker_id" in body else None
        envelope = new_envelope(event_type("enrollment-requested.v1"), REQUESTER, subject=key)
        headers = envelope.headers() | {"ce_correlationid": f"corr-{envelope.id}"}
        await publish_json(infra.kafka, topic, [(key, body)], headers=headers)
        correlation_ids.append(headers["ce_correlationid"])
    return correlation_ids


@pytest.fixture
def simulator_settings(
    infra: Infra, service_env: Callable[..., dict[str, Any]]
) -> Callable[..., SimulatorSettings]:
    def make(**env: Any) -> SimulatorSettings:
        service_env(BPJS_SIMULATOR_HTTP_PORT=0, **env)
        return SimulatorSettings()

    return make


@pytest.fixture
async def simulator(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings]
) -> AsyncIterator[BpjsSimulator]:
    sim = BpjsSimulator(simulator_settings())
    await ensure_topic(infra.kafka, sim.request_topic)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def answer_topics(prefix: str) -> tuple[str, str]:
    return prefix + contracts.ENROLLMENT_CONFIRMED.topic, prefix + contracts.ENROLLMENT_REJECTED.topic


async def http_get(port: int, path: str) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def committed_offsets(infra: Infra, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(**infra.kafka.options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
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


async def test_typical_journey_confirmations_and_rejections(infra: Infra, simulator: BpjsSimulator) -> None:
    prefix = simulator.settings.topic_prefix
    run = prefix.strip(".")
    valid = [enrollment_request(i, run) for i in range(8)]
    leap = enrollment_request(8, run, months=1, start=date(2028, 1, 31))
    not_found = enrollment_request(9, run, serial=9999)
    member = enrollment_request(10, run, serial=9998)
    bodies = [*valid, leap, not_found, member]
    confirmed_topic, rejected_topic = answer_topics(prefix)
    async with record_events(infra.kafka, confirmed_topic, rejected_topic) as recorder:
        correlation_ids = await publish_requests(infra, simulator.request_topic, bodies)
        await recorder.wait_for(len(bodies))
        events = await recorder.settle(1.0)

    confirmed = by_enrollment([e for e in events if e.topic == confirmed_topic])
    rejected = by_enrollment([e for e in events if e.topic == rejected_topic])
    assert len(events) == len(bodies)
    assert set(confirmed) == {b["enrollment_id"] for b in [*valid, leap]}
    assert set(rejected) == {not_found["enrollment_id"], member["enrollment_id"]}

    correlation = {b["enrollment_id"]: c for b, c in zip(bodies, correlation_ids, strict=True)}
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

    assert rejected[not_found["enrollment_id"]].payload["reason_code"] == "NIK_NOT_FOUND"
    assert rejected[not_found["enrollment_id"]].payload["reason_message"] == "NIK tidak ditemukan di Dukcapil"
    assert rejected[member["enrollment_id"]].payload["reason_code"] == "ALREADY_MEMBER"
    assert all(e.event_type == event_type("enrollment-rejected.v1") for e in rejected.values())
    assert all(b["nik"] not in e.body.decode() for b in bodies for e in events)

    await asyncio.sleep(0.5)  # the commit follows the acknowledgements
    assert simulator.stats.confirmed == 9 and simulator.stats.rejected == 2
    status, health = await http_get(simulator.http_port or 0, "/healthz")
    assert (status, health["status"]) == (200, "up")
    status, stats = await http_get(simulator.http_port or 0, "/stats")
    assert (status, stats["confirmed"], stats["rejected"]) == (200, 9, 2)
    assert (await http_get(simulator.http_port or 0, "/nope"))[0] == 404


async def test_a_redelivered_request_gets_the_identical_answer(
    infra: Infra, simulator: BpjsSimulator, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    prefix = simulator.settings.topic_prefix
    request = enrollment_request(1, prefix.strip("."))
    rejected_request = enrollment_request(2, prefix.strip("."), serial=9999)
    confirmed_topic, rejected_topic = answer_topics(prefix)
    async with record_events(infra.kafka, confirmed_topic, rejected_topic) as recorder:
        await publish_requests(infra, simulator.request_topic, [request, rejected_request])
        await recorder.wait_for(2)
        await publish_requests(infra, simulator.request_topic, [request])  # the producer retried
        await recorder.wait_for(3)
        # Another reader of the whole log (as after a lost commit) answers everything again.
        again = BpjsSimulator(simulator_settings(SIMULATOR_GROUP_ID="bpjs-simulator-replay"))
        await again.start()
        try:
            events = await recorder.wait_for(6)
            events = await recorder.settle(1.0)
        finally:
            await again.stop()

    assert len(events) == 6
    answers = [e for e in events if e.payload["enrollment_id"] == request["enrollment_id"]]
    assert len(answers) == 4 and all(e.topic == confirmed_topic for e in answers)
    assert {e.headers["ce_id"] for e in answers} == {answer_id(request["enrollment_id"])}
    assert len({e.body for e in answers}) == 1
    assert len({e.headers["ce_time"] for e in answers}) == 1
    rejections = [e for e in events if e.topic == rejected_topic]
    assert len(rejections) == 2 and len({(e.headers["ce_id"], e.body) for e in rejections}) == 1


async def test_a_request_that_breaks_the_contract_is_dead_lettered_and_the_next_is_answered(
    infra: Infra, simulator: BpjsSimulator
) -> None:
    prefix = simulator.settings.topic_prefix
    dlq = topics.dead_letter_topic(simulator.request_topic)
    valid = enrollment_request(3, prefix.strip("."))
    missing_fields = {"enrollment_id": "enr-broken", "worker_id": "wrk-broken", "nik": valid["nik"]}
    no_months = dict(enrollment_request(4, prefix.strip(".")), months=0)
    confirmed_topic, _ = answer_topics(prefix)
    async with record_events(infra.kafka, dlq, confirmed_topic) as recorder:
        # One partition (same key) so the order is the log's order.
        await publish_json(
            infra.kafka,
            simulator.request_topic,
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

    dead = sorted((e for e in events if e.topic == dlq), key=lambda e: int(e.headers["dlq_original_offset"]))
    assert [e.headers["dlq_reason"] for e in dead] == ["NOT_JSON", "CONTRACT_VIOLATION", "CONTRACT_VIOLATION"]
    assert dead[0].body == b"\xff\xfe not json"
    assert "not UTF-8 JSON" in dead[0].headers["dlq_error"]
    assert "full_name: Field required" in dead[1].headers["dlq_error"]
    assert "months must be at least 1" in dead[2].headers["dlq_error"]
    assert valid["nik"] not in dead[1].headers["dlq_error"]
    for event in dead:
        assert event.key == "wrk-x"
        assert event.headers["dlq_original_topic"] == simulator.request_topic
        assert event.headers["dlq_original_partition"].isdigit()
        assert event.headers["ce_correlationid"] == "corr-dlq"  # the original headers travel along
    offsets = [int(e.headers["dlq_original_offset"]) for e in dead]
    assert offsets == [offsets[0], offsets[0] + 1, offsets[0] + 2]
    answered = [e for e in events if e.topic == confirmed_topic]
    assert [e.payload["enrollment_id"] for e in answered] == [valid["enrollment_id"]]
    assert simulator.stats.dead_lettered == 3

    await simulator.stop()  # commits what it answered, then leaves the group
    committed = await committed_offsets(infra, simulator.group_id)
    assert committed == await end_offsets(infra, simulator.request_topic)


async def test_stop_returns_quickly_and_commits_only_what_was_answered(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    idle = BpjsSimulator(simulator_settings())
    await idle.start()
    started = time.monotonic()
    await idle.stop()
    assert time.monotonic() - started < 3.0
    assert not idle.healthy

    slow = BpjsSimulator(simulator_settings(SIMULATOR_DELAY_MS=20_000))
    prefix = slow.settings.topic_prefix
    request = enrollment_request(5, prefix.strip("."))
    confirmed_topic, _ = answer_topics(prefix)
    async with record_events(infra.kafka, confirmed_topic) as recorder:
        await slow.start()
        await publish_requests(infra, slow.request_topic, [request])
        for _ in range(150):  # until the request is in hand, waiting out the simulated processing time
            if slow.stats.received:
                break
            await asyncio.sleep(0.1)
        assert slow.stats.received == 1
        started = time.monotonic()
        await slow.stop()
        assert time.monotonic() - started < 3.0
        assert await recorder.settle(0.5) == []  # stopped mid-delay: not answered, not committed
        assert await committed_offsets(infra, slow.group_id) == {}

        # The next run of the same group answers it (the delay has not passed yet: shorten it).
        fast = BpjsSimulator(simulator_settings(SIMULATOR_DELAY_MS=0))
        await fast.start()
        try:
            events = await recorder.wait_for(1)
        finally:
            await fast.stop()
    assert events[0].payload["enrollment_id"] == request["enrollment_id"]
    assert events[0].headers["ce_id"] == answer_id(request["enrollment_id"])


async def test_the_delay_holds_answers_back(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    sim = BpjsSimulator(simulator_settings(SIMULATOR_DELAY_MS=1500))
    await ensure_topic(infra.kafka, sim.request_topic)
    request = enrollment_request(6, sim.settings.topic_prefix.strip("."))
    confirmed_topic, _ = answer_topics(sim.settings.topic_prefix)
    await sim.start()
    try:
        async with record_events(infra.kafka, confirmed_topic) as recorder:
            published = time.monotonic()
            await publish_requests(infra, sim.request_topic, [request])
            events = await recorder.wait_for(1)
            elapsed = time.monotonic() - published
    finally:
        await sim.stop()
    assert elapsed >= 1.3
    assert events[0].payload["confirmed_at"] == "2026-04-20T09:00:01.500000Z"
