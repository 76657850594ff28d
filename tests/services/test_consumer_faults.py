"""What a careless partner and a degraded database do to the consume path (issue 9, C1 and C2).

Each test publishes raw records (bytes keys and headers, as any client may) next to valid
registrations and checks from outside: what the registry published, what landed on the dead-letter
topic byte for byte, and where the consumer group's committed offset stands.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from services.sponsorship.app import create_app as sponsorship_app
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts, topics
from shared.kafka_admin import ensure_topic
from shared.kafka_security import KafkaConnection
from testkit.infra import Infra
from testkit.kafka import ensure_partner, record_events
from testkit.samples import sample_registration
from tests.support import running, truncate_schema

Headers = list[tuple[str, bytes | None]]
Record = tuple[bytes | None, Headers, bytes]


async def publish_raw(kafka: KafkaConnection, topic: str, records: list[Record]) -> list[tuple[int, int]]:
    """Publish records exactly as given, in one producer batch; returns (partition, offset) of each."""
    producer = AIOKafkaProducer(**kafka.options(), enable_idempotence=True, acks="all", linger_ms=50)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=body, key=key, headers=headers, partition=0)
            for key, headers, body in records
        ]
        sent = await asyncio.gather(*futures)
        return [(m.partition, m.offset) for m in sent]
    finally:
        await producer.stop()


async def read_raw(kafka: KafkaConnection, topic: str, count: int, timeout_s: float = 30.0) -> list[Any]:
    """The first `count` records of `topic`, key and headers as bytes (never decoded)."""
    consumer = AIOKafkaConsumer(**kafka.options(), auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(await ensure_topic(kafka, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(found) < count and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def committed(kafka: KafkaConnection, group: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(TopicPartition(topic, 0))
    return meta.offset if meta is not None else None


async def until_committed(
    kafka: KafkaConnection, group: str, topic: str, offset: int, timeout_s: float = 30
) -> None:
    last = None
    for _ in range(int(timeout_s / 0.25)):
        last = await committed(kafka, group, topic)
        if last == offset:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"the group committed {last}, not {offset}")


def body(registration: dict[str, Any]) -> bytes:
    return json.dumps(registration).encode()


def ce(source: str, event_id: str) -> Headers:
    return [
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", b"id.go.desa-online.registration-submitted.v1"),
        ("ce_specversion", b"1.0"),
    ]


@pytest.fixture
async def registry(infra: Infra, service_env: Callable[..., dict[str, Any]]) -> AsyncIterator[str]:
    env = service_env(REGISTRY_DATABASE_URL=infra.database_urls["registry"], HANDLER_MAX_ATTEMPTS=2)
    await truncate_schema(infra, "registry")
    async with running(create_app(RegistrySettings())):
        yield env["prefix"]


async def test_valid_registrations_survive_odd_neighbours_in_their_batch(infra: Infra, registry: str) -> None:
    """C1: the odd records (headers FastStream could not decode, NULs, huge ids) used to take
    every valid registration of their batch with them, and the group's offset moved past them."""
    prefix, kafka = registry, infra.kafka
    topic = await ensure_partner(kafka, prefix, "odd-batch")
    valid = [sample_registration(i, source="odd-batch", run=91) for i in range(12)]
    records: list[Record] = [
        (None, [("x-trace", b"\xff\xfe not utf-8")], body(valid[0])),
        (None, [("x-trace", None)], body(valid[1])),
        (b"k\x00ey", [("x-nul", b"a\x00b")], body(valid[2])),
        (None, ce("/partner/a", "id-with-\x00-nul"), body(valid[3])),
        (None, ce("/partner/a", "x" * 3000), body(valid[4])),
        (b"\x00\xff", [("bad", b"\xc3\x28"), ("bad", None)], b"\x00\xff not json"),  # poison
        (None, [("ce_correlationid", b"c" * 5000)], body(valid[5])),
        *[(None, [], body(v)) for v in valid[6:]],
    ]
    async with record_events(kafka, prefix + contracts.WORKER_REGISTERED.topic) as recorder:
        positions = await publish_raw(kafka, topic, records)
        events = await recorder.wait_for(len(valid), timeout_s=30)
        events = await recorder.settle(1.0)
    assert sorted(e.payload["submission_id"] for e in events) == sorted(v["submission_id"] for v in valid)

    letters = await read_raw(kafka, topics.dead_letter_topic(topic), 1)
    assert len(letters) == 1
    letter = letters[0]
    assert letter.key == b"\x00\xff" and letter.value == b"\x00\xff not json"
    assert letter.headers[:2] == (("bad", b"\xc3\x28"), ("bad", None))  # verbatim, then ours
    ours = {k: v.decode() for k, v in letter.headers[2:]}
    assert ours["dlq_reason"] == "NOT_JSON"
    assert ours["dlq_original_offset"] == str(positions[5][1])
    group = f"{prefix}registry.{contracts.REGISTRATION_SUBMITTED.topic}"
    await until_committed(kafka, group, topic, positions[-1][1] + 1)


async def test_one_id_from_two_partners_is_two_events(infra: Infra, registry: str) -> None:
    """C2: CloudEvents makes only (source, id) unique; both partners number their events 1, 2, 3
    (each on its own intake topic)."""
    prefix, kafka = registry, infra.kafka
    a = [sample_registration(i, source="kud-sekayu", run=92) for i in range(3)]
    b = [sample_registration(i + 50, source="desa-online", run=92) for i in range(3)]
    async with record_events(kafka, prefix + contracts.WORKER_REGISTERED.topic) as recorder:
        for partner, bodies in (("kud-sekayu", a), ("desa-online", b)):
            intake = await ensure_partner(kafka, prefix, partner)
            records = [(None, ce(f"/partner/{partner}", str(n)), body(r)) for n, r in enumerate(bodies, 1)]
            await publish_raw(kafka, intake, records)
        events = await recorder.wait_for(6, timeout_s=30)
        events = await recorder.settle(1.0)
    assert sorted(e.payload["source"] for e in events) == ["desa-online"] * 3 + ["kud-sekayu"] * 3


async def test_a_partner_cannot_make_another_partners_events_look_old(infra: Infra, registry: str) -> None:
    """The intake proves who sent a record, its headers do not: kud-sekayu writes CloudEvents that
    claim desa-online's source and ids on its own intake. They are rejected (SOURCE_MISMATCH) and
    must not use up desa-online's ids: desa-online's own events, sent next, are registered."""
    prefix, kafka = registry, infra.kafka
    genuine = [sample_registration(i, source="desa-online", run=96) for i in range(3)]
    forged = [sample_registration(i + 50, source="desa-online", run=96) for i in range(3)]
    async with record_events(
        kafka, prefix + contracts.WORKER_REGISTERED.topic, prefix + contracts.REGISTRATION_REJECTED.topic
    ) as recorder:
        intruder = await ensure_partner(kafka, prefix, "kud-sekayu")
        await publish_raw(
            kafka,
            intruder,
            [(None, ce("/partner/desa-online", str(n)), body(r)) for n, r in enumerate(forged, 1)],
        )
        await recorder.wait_for(3, timeout_s=30, topic=prefix + contracts.REGISTRATION_REJECTED.topic)
        intake = await ensure_partner(kafka, prefix, "desa-online")
        await publish_raw(
            kafka,
            intake,
            [(None, ce("/partner/desa-online", str(n)), body(r)) for n, r in enumerate(genuine, 1)],
        )
        await recorder.wait_for(3, timeout_s=30, topic=prefix + contracts.WORKER_REGISTERED.topic)
        events = await recorder.settle(1.0)
    rejected = [e.payload for e in events if e.topic.endswith(contracts.REGISTRATION_REJECTED.topic)]
    assert {r["source"] for r in rejected} == {"kud-sekayu"}
    assert all([x["code"] for x in r["reasons"]] == ["SOURCE_MISMATCH"] for r in rejected)
    registered = sorted(
        e.payload["submission_id"] for e in events if e.topic.endswith(contracts.WORKER_REGISTERED.topic)
    )
    assert registered == sorted(r["submission_id"] for r in genuine)


async def test_a_recreated_topic_does_not_make_new_submissions_look_old(
    infra: Infra, service_env: Callable[..., dict[str, Any]]
) -> None:
    """C2: headerless submissions were known by (topic, partition, offset); after the topic is
    recreated, new ones at the same offsets were dropped as already processed."""
    env = service_env(REGISTRY_DATABASE_URL=infra.database_urls["registry"])
    prefix, kafka = env["prefix"], infra.kafka
    await truncate_schema(infra, "registry")
    topic = prefix + topics.intake_topic("desa-online")
    await ensure_topic(kafka, topic, partitions=1)  # one partition: the second batch reuses offsets
    topic = await ensure_partner(kafka, prefix, "desa-online")
    first = [sample_registration(i, source="desa-online", run=93) for i in range(3)]
    second = [sample_registration(i + 10, source="desa-online", run=93) for i in range(3)]
    async with record_events(kafka, prefix + contracts.WORKER_REGISTERED.topic) as recorder:
        async with running(create_app(RegistrySettings())):
            await publish_raw(kafka, topic, [(None, [], body(r)) for r in first])
            await recorder.wait_for(3, timeout_s=30)
        admin = AIOKafkaAdminClient(**kafka.options())
        await admin.start()
        try:
            await admin.delete_topics([topic])
            for _ in range(100):
                if topic not in await admin.list_topics():
                    break
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        for _ in range(50):  # the broker may still be finishing the deletion
            try:
                await ensure_topic(kafka, topic, partitions=1)
                break
            except Exception:
                await asyncio.sleep(0.2)
        async with running(create_app(RegistrySettings())):
            positions = await publish_raw(kafka, topic, [(None, [], body(r)) for r in second])
            assert [offset for _, offset in positions] == [0, 1, 2]  # the offsets of `first`
            events = await recorder.wait_for(6, timeout_s=30)
            events = await recorder.settle(1.0)
    assert sorted(e.payload["submission_id"] for e in events) == sorted(
        r["submission_id"] for r in [*first, *second]
    )


async def test_a_read_only_database_holds_the_batch_until_it_is_writable(
    infra: Infra, registry: str, admin_db: asyncpg.Connection
) -> None:
    """C1: read-only (a switchover, storage protection) is the database's state, not the message's:
    the batch waits, visibly, and nothing is dead-lettered or skipped."""
    prefix, kafka = registry, infra.kafka
    topic = await ensure_partner(kafka, prefix, "read-only")
    database = await admin_db.fetchval("SELECT current_database()")

    async def read_only(on: bool) -> None:
        value = "on" if on else "off"
        await admin_db.execute(
            f'ALTER ROLE registry IN DATABASE "{database}" SET default_transaction_read_only = {value}'
        )
        # The pool's sessions took their defaults when they connected: make them connect again.
        await admin_db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = 'registry' AND datname = current_database()"
        )

    valid = [sample_registration(i, source="read-only", run=94) for i in range(8)]
    async with record_events(kafka, prefix + contracts.WORKER_REGISTERED.topic) as recorder:
        await read_only(True)
        try:
            positions = await publish_raw(kafka, topic, [(None, [], body(r)) for r in valid])
            await asyncio.sleep(4.0)  # several retries' worth of a read-only database
            assert recorder.events == [] and await recorder.settle(0.5) == []
            group = f"{prefix}registry.{contracts.REGISTRATION_SUBMITTED.topic}"
            assert (await committed(kafka, group, topic) or 0) <= positions[0][1]
        finally:
            await read_only(False)
        events = await recorder.wait_for(len(valid), timeout_s=40)
        events = await recorder.settle(1.0)
    assert sorted(e.payload["submission_id"] for e in events) == sorted(v["submission_id"] for v in valid)
    assert await read_raw(kafka, topics.dead_letter_topic(topic), 1, timeout_s=1.0) == []
    await until_committed(kafka, group, topic, positions[-1][1] + 1)


async def test_a_commitment_id_with_a_nul_is_rejected_and_its_neighbours_accepted(
    infra: Infra, service_env: Callable[..., dict[str, Any]]
) -> None:
    """C1: the rejection of a commitment whose id holds U+0000 failed at the outbox flush, outside
    the handler's isolation, and the whole batch vanished."""
    env = service_env(SPONSORSHIP_DATABASE_URL=infra.database_urls["sponsorship"])
    prefix, kafka = env["prefix"], infra.kafka
    await truncate_schema(infra, "sponsorship")
    topic = prefix + contracts.COMMITMENT_SUBMITTED.topic
    await ensure_topic(kafka, topic)

    def commitment(commitment_id: str, slots: int = 5) -> bytes:
        return json.dumps(
            {
                "commitment_id": commitment_id,
                "company_id": "medco",
                "company_name": "Medco E&P Grissik",
                "kecamatan": ["04"],
                "slots": slots,
                "months": 12,
                "package": "JKK_JKM",
                "email": "csr@medco.example",
            }
        ).encode()

    records: list[Record] = [
        (b"ok-1", [], commitment("ok-1")),
        (b"bad\x00id", [], commitment("bad\x00id")),  # valid but for the NUL
        (b"also-bad", [], commitment("also-bad", slots=0)),
        (b"ok-2", [], commitment("ok-2")),
    ]
    async with (
        record_events(
            kafka, prefix + contracts.COMMITMENT_ACCEPTED.topic, prefix + contracts.COMMITMENT_REJECTED.topic
        ) as recorder,
        running(sponsorship_app(SponsorshipSettings())),
    ):
        await publish_raw(kafka, topic, records)
        events = await recorder.wait_for(4, timeout_s=30)
        events = await recorder.settle(1.0)
    accepted = sorted(e.payload["commitment_id"] for e in events if e.topic.endswith("accepted.v1"))
    rejected = [e.payload for e in events if e.topic.endswith("rejected.v1")]
    assert accepted == ["ok-1", "ok-2"]
    assert sorted(r["commitment_id"] for r in rejected) == ["also-bad", "bad\x00id"]
    nul = next(r for r in rejected if r["commitment_id"] == "bad\x00id")
    assert [(x["field"], x["code"]) for x in nul["reasons"]] == [("commitment_id", "INVALID_CHARACTERS")]


async def test_nuls_inside_json_strings_are_rejected_with_a_reason(infra: Infra, registry: str) -> None:
    """A U+0000 in a partner's field is bad input: a rejection naming the field, not a dead letter
    (PostgreSQL's text cannot hold it, so it used to fail the handler until it was dead-lettered)."""
    prefix, kafka = registry, infra.kafka
    fine = sample_registration(1, source="nul-fields", run=95)
    bad_id = dict(sample_registration(2, source="nul-fields", run=95), submission_id="s\x00-2")
    bad_name = dict(sample_registration(3, source="nul\x00fields", run=95), full_name="Siti\x00Aminah")
    async with record_events(
        kafka, prefix + contracts.WORKER_REGISTERED.topic, prefix + contracts.REGISTRATION_REJECTED.topic
    ) as recorder:
        await publish_raw(
            kafka,
            await ensure_partner(kafka, prefix, "nul-fields"),
            [(None, [], body(r)) for r in (fine, bad_id, bad_name)],
        )
        events = await recorder.wait_for(3, timeout_s=30)
        events = await recorder.settle(1.0)
    registered = [e.payload for e in events if e.topic.endswith(contracts.WORKER_REGISTERED.topic)]
    rejected = [e.payload for e in events if e.topic.endswith(contracts.REGISTRATION_REJECTED.topic)]
    assert [r["submission_id"] for r in registered] == [fine["submission_id"]]
    fields = sorted(reason["field"] for r in rejected for reason in r["reasons"])
    assert "submission_id" in fields and "source" in fields and "full_name" in fields
    # A source with a NUL names no partner: not the intake's, so a mismatch, and not echoed.
    assert ("source", "SOURCE_MISMATCH") in {(x["field"], x["code"]) for r in rejected for x in r["reasons"]}
    assert all(r["source"] == "nul-fields" for r in rejected)
    assert all(r["submission_id"] is None or "\x00" not in r["submission_id"] for r in rejected)
    topic = prefix + topics.intake_topic("nul-fields")
    assert await read_raw(kafka, topics.dead_letter_topic(topic), 1, timeout_s=1.0) == []
