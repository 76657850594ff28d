"""Sponsorship alone, against real Kafka and PostgreSQL: commitments and workers in, matches,
waitlist, BPJS requests and answers out."""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.sponsorship.app import create_app
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts
from shared.envelope import event_type, new_envelope
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected
from shared.events.registry import RegistrationWarning, WorkerRegistered
from shared.kecamatan import kecamatan_name
from testkit.infra import Infra
from testkit.kafka import RecordedEvent, publish_json, record_events
from testkit.samples import sample_commitment
from tests.support import running, truncate_schema


def worker(i: int, kecamatan: str, occupation: str = "penyadap karet") -> WorkerRegistered:
    return WorkerRegistered(
        worker_id=str(uuid.uuid4()),
        submission_id=f"s-{i}",
        source="test",
        nik=f"160601{(i % 28) + 1:02d}0890{i + 1:04d}",
        full_name=f"Pekerja {chr(65 + i % 26)}",
        birth_date=date(1990, 8, (i % 28) + 1),
        sex="L",
        phone=f"+62812000{i:05d}",
        kecamatan_code=kecamatan,
        kecamatan_name=kecamatan_name(kecamatan),
        desa=None,
        occupation=occupation,
        declared_income_idr=None,
        registered_at=datetime(2026, 11, 1, tzinfo=UTC).replace(microsecond=i),
    )


commitment = sample_commitment


async def publish_events(infra: Infra, topic: str, events: list[tuple[str, str, Any]]) -> None:
    """(key, event name, model) with CloudEvents headers, one publish each (own ce_id)."""
    for key, name, model in events:
        headers = new_envelope(event_type(name), "/test").headers()
        await publish_json(infra.kafka, topic, [(key, model.model_dump(mode="json"))], headers)


@pytest.fixture
async def sponsorship(infra: Infra, service_env: Callable[..., dict[str, Any]]) -> AsyncIterator[str]:
    # Full-price figures whatever month the test runs in: PP 50/2025 (on by default) has its own
    # tests (tests/unit, tests/services/test_sponsorship_tariffs.py).
    env = service_env(
        SPONSORSHIP_DATABASE_URL=infra.database_urls["sponsorship"], SPONSORSHIP_APPLY_DISCOUNT="false"
    )
    await truncate_schema(infra, "sponsorship")
    async with running(create_app(SponsorshipSettings())):
        yield env["prefix"]


async def _wait_outcomes(rec: Any, prefix: str, count: int) -> None:
    loop_events = await rec.wait_for(0)
    while (
        len(
            [
                e
                for e in loop_events
                if e.topic
                in (prefix + contracts.ENROLLMENT_REQUESTED.topic, prefix + contracts.WORKER_WAITLISTED.topic)
            ]
        )
        < count
    ):
        loop_events = await rec.wait_for(len(rec.events) + 1)


def of(events: list[RecordedEvent], topic: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.topic.endswith(topic)]


async def test_matching_waitlist_and_bpjs_answers(infra: Infra, sponsorship: str) -> None:
    p = sponsorship
    kafka = infra.kafka
    async with record_events(
        kafka,
        p + contracts.COMMITMENT_ACCEPTED.topic,
        p + contracts.ENROLLMENT_REQUESTED.topic,
        p + contracts.WORKER_WAITLISTED.topic,
        p + contracts.ENROLLMENT_COMPLETED.topic,
        p + contracts.ENROLLMENT_FAILED.topic,
        p + contracts.SPONSOR_MATCHED.topic,
    ) as rec:
        await publish_json(
            infra.kafka_as("operator"),  # as the office submits them (muba commitments add)
            p + contracts.COMMITMENT_SUBMITTED.topic,
            [
                (
                    "a",
                    commitment(
                        "hindoli", ["Sungai Lilin", "08"], 2, preferred_occupations=["buruh kebun sawit"]
                    ),
                ),
                ("b", commitment("medco", ["*"], 2)),
            ],
        )
        await rec.wait_for(2, topic=p + contracts.COMMITMENT_ACCEPTED.topic)
        sawit = worker(1, "07", "buruh kebun sawit").model_copy(  # preferred occupation -> hindoli
            update={
                "warnings": [
                    RegistrationWarning(field="birth_date", code="NIK_BIRTH_DATE_MISMATCH", message="-")
                ]
            }
        )
        karet = worker(2, "07")  # names the kecamatan -> hindoli over whole-regency medco
        sekayu = worker(3, "01")  # only medco covers Sekayu
        late = [worker(4, "01"), worker(5, "07")]  # medco has 1 slot left, then nothing
        # Waitlisted, then matched from the table: the warning is read back from the worker's row.
        late[1] = late[1].model_copy(
            update={"warnings": [RegistrationWarning(field="sex", code="NIK_SEX_MISMATCH", message="-")]}
        )
        for n, w in enumerate([sawit, karet, sekayu, *late], start=1):
            # One at a time: each worker's outcome decides what the next one finds.
            await publish_events(
                infra, p + contracts.WORKER_REGISTERED.topic, [(w.worker_id, "worker-registered.v1", w)]
            )
            await _wait_outcomes(rec, p, n)
        events = rec.events
        requested = {r["worker_id"]: r for r in of(events, contracts.ENROLLMENT_REQUESTED.topic)}
        assert requested[sawit.worker_id]["payer"]["commitment_id"] == "hindoli"
        assert requested[karet.worker_id]["payer"]["commitment_id"] == "hindoli"
        assert requested[sekayu.worker_id]["payer"]["commitment_id"] == "medco"
        assert requested[late[0].worker_id]["payer"]["commitment_id"] == "medco"
        assert [w["worker_id"] for w in of(events, contracts.WORKER_WAITLISTED.topic)] == [late[1].worker_id]
        first = requested[sawit.worker_id]
        assert first["nik"] == sawit.nik and first["total_contribution_idr"] == 12 * 16_800
        assert first["nik_warnings"] == ["NIK_BIRTH_DATE_MISMATCH"]
        assert requested[karet.worker_id]["nik_warnings"] == []
        assert all(
            e.key == e.payload["worker_id"] for e in rec.events if e.topic.endswith("enrollment-requested.v1")
        )

        # BPJS confirms one (twice: the second changes nothing) and rejects another: its slot goes
        # to the waitlisted worker, who registered first among those waiting.
        confirm = EnrollmentConfirmed(
            enrollment_id=first["enrollment_id"],
            worker_id=sawit.worker_id,
            kpj_number="12345678901",
            coverage_start=date(2026, 11, 28),
            coverage_end=date(2027, 11, 27),
            confirmed_at=datetime.now(UTC),
            membership="continued",  # an active member: sponsored on their own KPJ number
        )
        reject = EnrollmentRejected(
            enrollment_id=requested[karet.worker_id]["enrollment_id"],
            worker_id=karet.worker_id,
            reason_code="NIK_NOT_FOUND",
            reason_message="NIK tidak ditemukan",
            rejected_at=datetime.now(UTC),
        )
        await publish_events(
            infra,
            p + contracts.ENROLLMENT_CONFIRMED.topic,
            [
                (sawit.worker_id, "enrollment-confirmed.v1", confirm),
                (sawit.worker_id, "enrollment-confirmed.v1", confirm),
            ],
        )
        await publish_events(
            infra,
            p + contracts.ENROLLMENT_REJECTED.topic,
            [(karet.worker_id, "enrollment-rejected.v1", reject)],
        )
        await rec.wait_for(5, topic=p + contracts.ENROLLMENT_REQUESTED.topic)
        events = await rec.settle(1.5)

    completed = of(events, contracts.ENROLLMENT_COMPLETED.topic)
    assert len(completed) == 1
    assert completed[0]["kpj_number"] == "12345678901" and completed[0]["company_name"] == "PT hindoli"
    assert completed[0]["membership"] == "continued"
    assert completed[0]["nik_masked"] != sawit.nik and completed[0]["nik_masked"].startswith("160601")
    assert [f["reason_code"] for f in of(events, contracts.ENROLLMENT_FAILED.topic)] == ["NIK_NOT_FOUND"]
    last = of(events, contracts.ENROLLMENT_REQUESTED.topic)[-1]
    assert last["worker_id"] == late[1].worker_id and last["payer"]["commitment_id"] == "hindoli"
    assert last["nik_warnings"] == ["NIK_SEX_MISMATCH"]

    conn = await asyncpg.connect(infra.database_urls["sponsorship"])
    try:
        rows = {r["commitment_id"]: r for r in await conn.fetch("SELECT * FROM commitment")}
        assert rows["hindoli"]["slots_used"] == 2 and rows["medco"]["slots_used"] == 2
        assert rows["hindoli"]["budget_used_idr"] == 2 * 12 * 16_800
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM worker GROUP BY status"))
        assert statuses == {"enrolled": 1, "failed": 1, "matched": 3}
        memberships = dict(
            await conn.fetch("SELECT status, membership FROM enrollment WHERE status <> 'requested'")
        )
        assert memberships == {"confirmed": "continued", "rejected": None}
    finally:
        await conn.close()


async def test_new_commitment_drains_the_waitlist_in_registration_order(
    infra: Infra, sponsorship: str
) -> None:
    p = sponsorship
    kafka = infra.kafka
    waiting = [worker(10 + i, "09") for i in range(5)]
    async with record_events(
        kafka, p + contracts.WORKER_WAITLISTED.topic, p + contracts.ENROLLMENT_REQUESTED.topic
    ) as rec:
        await publish_events(
            infra,
            p + contracts.WORKER_REGISTERED.topic,
            [(w.worker_id, "worker-registered.v1", w) for w in waiting],
        )
        await rec.wait_for(5, topic=p + contracts.WORKER_WAITLISTED.topic)
        await publish_json(
            kafka,
            p + contracts.COMMITMENT_SUBMITTED.topic,
            [("c", commitment("phe-jambi-merang", ["Bayung Lencir"], 3))],
        )
        await rec.wait_for(3, topic=p + contracts.ENROLLMENT_REQUESTED.topic)
        events = await rec.settle(1.0)
    matched = [r["worker_id"] for r in of(events, contracts.ENROLLMENT_REQUESTED.topic)]
    assert sorted(matched) == sorted(w.worker_id for w in waiting[:3])


async def test_two_instances_never_give_one_slot_twice(
    infra: Infra, service_env: Callable[..., dict[str, Any]]
) -> None:
    env = service_env(SPONSORSHIP_DATABASE_URL=infra.database_urls["sponsorship"], CONSUMER_BATCH_SIZE=10)
    p = env["prefix"]
    await truncate_schema(infra, "sponsorship")
    kafka = infra.kafka
    workers = [worker(100 + i, f"{1 + i % 15:02d}") for i in range(120)]
    async with (
        running(create_app(SponsorshipSettings())),
        running(create_app(SponsorshipSettings())),
        record_events(
            kafka,
            p + contracts.ENROLLMENT_REQUESTED.topic,
            p + contracts.WORKER_WAITLISTED.topic,
            p + contracts.COMMITMENT_ACCEPTED.topic,
        ) as rec,
    ):
        await publish_json(
            kafka,
            p + contracts.COMMITMENT_SUBMITTED.topic,
            [(c, commitment(c, ["*"], 25)) for c in ("alpha", "beta")],
        )
        await rec.wait_for(2, topic=p + contracts.COMMITMENT_ACCEPTED.topic)
        headers_events = [(w.worker_id, "worker-registered.v1", w) for w in workers]
        await publish_events(infra, p + contracts.WORKER_REGISTERED.topic, headers_events)
        await rec.wait_for(122, timeout_s=60)
        events = await rec.settle(1.0)
    requested = of(events, contracts.ENROLLMENT_REQUESTED.topic)
    assert len(requested) == 50
    assert len({r["worker_id"] for r in requested}) == 50
    assert len(of(events, contracts.WORKER_WAITLISTED.topic)) == 70
    conn = await asyncpg.connect(infra.database_urls["sponsorship"])
    try:
        used = dict(await conn.fetch("SELECT commitment_id, slots_used FROM commitment"))
        assert used == {"alpha": 25, "beta": 25}
        assert await conn.fetchval("SELECT count(*) FROM enrollment") == 50
    finally:
        await conn.close()


async def test_the_waitlist_drains_in_the_registry_order_not_by_host_clocks(
    infra: Infra, sponsorship: str
) -> None:
    """The registry numbers each worker (registration_seq) from its own database. A registry host
    whose clock is an hour behind stamps later registrations earlier: that must not move them up.
    An announcement without a number (a registry from before the number existed) counts as
    registered before every numbered one."""
    p = sponsorship
    kafka = infra.kafka
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    # (registration_seq, registered_at): the list is the registry's order of registration.
    stamps: list[tuple[int | None, datetime]] = [
        (None, t0 + hour),  # announced before the registry numbered workers, by a host ahead
        (1, t0 + 30 * minute),
        (2, t0 + 40 * minute),
        (3, t0 - hour),  # registered after 1 and 2, by a host an hour behind
        (4, t0 - hour + minute),
        (5, t0 - hour + 2 * minute),
    ]
    workers = [worker(300 + i, "11") for i in range(len(stamps))]
    bodies = []
    for w, (number, at) in zip(workers, stamps, strict=True):
        body = dict(w.model_dump(mode="json"), registered_at=at.isoformat())
        if number is not None:
            body["registration_seq"] = number
        bodies.append((w.worker_id, body))
    in_registry_order = [w.worker_id for w in workers]
    async with record_events(
        kafka,
        p + contracts.WORKER_WAITLISTED.topic,
        p + contracts.SPONSOR_MATCHED.topic,
        p + contracts.COMMITMENT_ACCEPTED.topic,
    ) as rec:
        # Announced in an order that is neither (arrival must not matter either).
        for key, body in [bodies[i] for i in (4, 1, 5, 0, 3, 2)]:
            await publish_json(
                kafka,
                p + contracts.WORKER_REGISTERED.topic,
                [(key, body)],
                new_envelope(event_type("worker-registered.v1"), "/test").headers(),
            )
        await rec.wait_for(6, topic=p + contracts.WORKER_WAITLISTED.topic)
        # Fewer slots than waiting workers: the first three in registration order get them ...
        await publish_json(
            kafka, p + contracts.COMMITMENT_SUBMITTED.topic, [("m", commitment("muara", ["11"], 3))]
        )
        await rec.wait_for(3, topic=p + contracts.SPONSOR_MATCHED.topic)
        # ... and a later one-slot commitment goes to the next one, not to any other still waiting.
        await publish_json(
            kafka, p + contracts.COMMITMENT_SUBMITTED.topic, [("n", commitment("nibung", ["11"], 1))]
        )
        await rec.wait_for(4, topic=p + contracts.SPONSOR_MATCHED.topic)
        events = await rec.settle(1.0)
    rank = {worker_id: n for n, worker_id in enumerate(in_registry_order)}  # 0 = registered first
    matched: dict[str, list[int]] = {}
    for m in of(events, contracts.SPONSOR_MATCHED.topic):
        matched.setdefault(m["commitment_id"], []).append(rank[m["worker_id"]])
    assert {c: sorted(ranks) for c, ranks in matched.items()} == {"muara": [0, 1, 2], "nibung": [3]}
    conn = await asyncpg.connect(infra.database_urls["sponsorship"])
    try:
        waiting = await conn.fetch("SELECT worker_id FROM worker WHERE status = 'waitlisted'")
        assert {str(r["worker_id"]) for r in waiting} == set(in_registry_order[4:])
    finally:
        await conn.close()
