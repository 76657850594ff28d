"""Dead-letter replay, exactly once, against the real Kafka (and the registry in process).

A replay that is killed after some of its letters and run again puts every letter back on its
topic once per `muba_replay_of` (at most the letter in flight twice, under the same id, so the
inbox takes it once), with the original key, headers and body byte for byte, in the original
order per partition."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.registry.app import create_app
from services.registry.handlers import RegistryHandlers
from services.registry.settings import RegistrySettings
from shared import contracts, topics
from shared.consumer import Incoming, MessageContext, dead_letter_headers
from shared.dlq import list_dead_letters, replay
from shared.envelope import REPLAY_FOR_HEADER, REPLAY_HEADER, event_type, new_envelope
from shared.kafka_admin import ensure_topic
from shared.kafka_security import KafkaConnection
from shared.outbox import encode_raw_headers, kafka_headers
from testkit.infra import Infra, unique_prefix
from testkit.kafka import ensure_partner
from testkit.samples import sample_registration
from tests.support import provision_like_the_catalogue, running, truncate_schema

ROOT = Path(__file__).resolve().parents[2]
TOY = "registry.toy-event.v1"
Headers = list[tuple[str, bytes | None]]
Record: TypeAlias = ConsumerRecord[bytes | None, bytes | None]

# A replay run as `muba dlq replay` runs it (as admin), killed (SIGKILL: no finally, no flush) right after the
# broker acknowledged its k-th send ("after_send": that letter's position is not committed yet)
# or just before its (k+1)-th send ("before_send").
CRASHING_REPLAY = """
import asyncio, os, signal, sys
import shared.dlq as dlq
from shared.kafka_security import KafkaConnection
from shared.kafka_security import kafka_producer

principal, topic, k, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
kafka = KafkaConnection.from_env(principal)

def crashing_producer(*args, **kwargs):
    producer = kafka_producer(*args, **kwargs)
    send_and_wait, sent = producer.send_and_wait, [0]

    async def crash_at_k(*a, **kw):
        if mode == "before_send" and sent[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)
        result = await send_and_wait(*a, **kw)
        sent[0] += 1
        if mode == "after_send" and sent[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    producer.send_and_wait = crash_at_k
    return producer

dlq.kafka_producer = crashing_producer
asyncio.run(dlq.replay(kafka, topic))
"""


def crashing_replay(
    kafka: KafkaConnection, topic: str, k: int, mode: str
) -> subprocess.CompletedProcess[str]:
    """As `muba dlq replay` runs it (as admin, its password from the secrets dir)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    return subprocess.run(
        [sys.executable, "-c", CRASHING_REPLAY, kafka.username, topic, str(k), mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def send_raw(
    kafka: KafkaConnection, topic: str, messages: Sequence[tuple[bytes | None, Headers, bytes]]
) -> None:
    producer = AIOKafkaProducer(**kafka.options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, headers, body in messages:
            await producer.send_and_wait(topic, body, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_raw(kafka: KafkaConnection, topic: str, since: dict[int, int] | None = None) -> list[Record]:
    """Every record of `topic` (from the offsets in `since`, per partition), in partition/offset order."""
    count = await ensure_topic(kafka, topic)
    partitions = [TopicPartition(topic, p) for p in range(count)]
    consumer = AIOKafkaConsumer(**kafka.options(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, (since or {}).get(tp.partition, 0))
        records: list[Record] = []
        remaining = {tp for tp in partitions if (since or {}).get(tp.partition, 0) < ends[tp]}
        while remaining:
            for tp, batch in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                records += [r for r in batch if r.offset < ends[tp]]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def end_offsets(kafka: KafkaConnection, topic: str) -> dict[int, int]:
    count = await ensure_topic(kafka, topic)
    consumer = AIOKafkaConsumer(**kafka.options())
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(count)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def dead_letter(
    kafka: KafkaConnection,
    originals: Sequence[Record],
    consumer: str,
    detail: Callable[[int], str],
    copies: set[int],
) -> None:
    """Put each original on `<topic>.dlq` as the consumer and its outbox relay do: the original
    key and headers byte for byte, our dlq_* headers after them; `copies` are published twice."""
    letters = []
    for i, record in enumerate(originals):
        message = Incoming.from_record(record)
        ours = dead_letter_headers(message, consumer, "HANDLER_FAILED", detail(i), 3)
        wire = kafka_headers(encode_raw_headers(message.raw_headers), ours)
        letters.append((message.raw_key, wire, message.body))
        if i in copies:
            letters.append((message.raw_key, wire, message.body))
    await send_raw(kafka, topics.dead_letter_topic(originals[0].topic), letters)


def replay_of(record: Record) -> str:
    values: list[bytes | None] = [value for name, value in record.headers if name == REPLAY_HEADER]
    assert len(values) == 1, record.headers
    value = values[0]
    assert value is not None
    return value.decode()


def muba_cli(prefix: str, kafka: KafkaConnection, *args: str) -> subprocess.CompletedProcess[str]:
    # The CLI lists as the operator principal and replays as admin (passwords from MUBA_SECRETS_DIR).
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "TOPIC_PREFIX": prefix}
    env["COLUMNS"] = "200"
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "muba", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


NIK = "1606014501900001"


def toy_originals() -> list[tuple[bytes | None, Headers, bytes]]:
    """Records as partners send them: CloudEvents or none, keys with a NUL or not UTF-8 or none,
    header values that are not UTF-8 or null, a header name twice, an earlier replay's mark."""
    originals: list[tuple[bytes | None, Headers, bytes]] = []
    for i in range(4):
        envelope = new_envelope(event_type("toy-event.v1"), "/partner/a")
        ce = [(name, value.encode()) for name, value in envelope.headers().items()]
        odd: Headers = [("trace", b"\xff\xfe\x00bin"), ("nullable", None), ("hop", b"1"), ("hop", b"2")]
        originals.append((b"worker-a", ce + odd, json.dumps({"n": i}).encode()))
    for i in range(4, 7):
        marks: Headers = [(REPLAY_HEADER, b"an-earlier-letter")] if i == 5 else []
        originals.append(
            (b"worker\x00b", [("x-partner", b"\xc3\x28"), *marks], json.dumps({"n": i}).encode())
        )
    originals.append((None, [], json.dumps({"n": 7}).encode()))
    originals.append((None, [("empty", b"")], b"\xff not json"))
    originals.append((b"\xff\xfe-key", [("k", None)], json.dumps({"n": 9}).encode()))
    return originals


@dataclass
class ToyLetters:
    prefix: str
    topic: str
    originals: list[Record]  # as they were first published
    letters: list[Record]  # on the .dlq topic, copies included
    before_replay: dict[int, int]  # the original topic's end offsets before any replay


async def toy_letters(infra: Infra) -> ToyLetters:
    kafka = infra.kafka
    prefix = unique_prefix()
    topic = prefix + TOY
    # The registry's toy topic as if it were in the catalogue: its .dlq, and the operator's ACLs.
    await provision_like_the_catalogue(infra, prefix, TOY, "registry")
    await send_raw(kafka, topic, toy_originals())
    originals = await read_raw(kafka, topic)
    assert len(originals) == 10
    before_replay = await end_offsets(kafka, topic)
    await dead_letter(
        kafka,
        originals,
        f"{prefix}toy:{TOY}",
        lambda i: f"RuntimeError: a bug [/bold] [link=x] for {NIK}" if i == 0 else "RuntimeError: a bug",
        copies={1, 5, 8},
    )
    letters = await read_raw(kafka, topics.dead_letter_topic(topic))
    assert len(letters) == 13  # 10 letters, 3 of them published twice
    return ToyLetters(prefix, topic, originals, letters, before_replay)


async def test_list_shows_each_letter_once_whatever_its_bytes_with_personal_data_masked(infra: Infra) -> None:
    kafka = infra.kafka
    toy = await toy_letters(infra)
    listed = muba_cli(toy.prefix, kafka, "dlq", "list", "--topic", TOY, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert len(shown) == 10 and not any(s["replayed"] for s in shown)
    assert NIK not in listed.stdout
    assert [s["key"] for s in shown].count("worker\\x00b") == 3
    from shared.dlq import shown_text  # imported here: the other tests run on code without it

    assert {s["original_event_id"] for s in shown} == {
        shown_text(Incoming.from_record(o).wire_id, 80) for o in toy.originals
    }
    table = muba_cli(toy.prefix, kafka, "dlq", "list", "--topic", TOY)
    assert table.returncode == 0, table.stderr
    assert "[/bold] [link=x]" in table.stdout and NIK not in table.stdout  # shown, not read as markup
    assert table.stdout.count("belum (not yet)") == 10

    assert await replay(infra.kafka, toy.topic) == 10  # as admin, as `muba dlq replay`
    listed = muba_cli(toy.prefix, kafka, "dlq", "list", "--topic", TOY, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [s["replayed"] for s in json.loads(listed.stdout)] == [True] * 10


@pytest.mark.parametrize("mode", ["after_send", "before_send"])
async def test_a_replay_killed_half_way_and_run_again_sends_each_letter_once(infra: Infra, mode: str) -> None:
    kafka = operator = infra.kafka  # `muba dlq replay` connects as admin
    toy = await toy_letters(infra)
    topic, originals, letters, before_replay = toy.topic, toy.originals, toy.letters, toy.before_replay
    k = 4
    crashed = crashing_replay(operator, topic, k, mode)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    first_run = await read_raw(kafka, topic, since=before_replay)
    assert len(first_run) == k
    again = await replay(operator, topic)
    assert await replay(operator, topic) == 0  # nothing left

    replayed = await read_raw(kafka, topic, since=before_replay)
    assert len(replayed) == k + again
    by_letter: dict[str, list[Record]] = defaultdict(list)
    for record in replayed:
        by_letter[replay_of(record)].append(record)
    letter_ids = {Incoming.from_record(r).headers["dlq_id"] for r in letters}
    assert set(by_letter) == letter_ids  # every letter came back
    twice = [rid for rid, records in by_letter.items() if len(records) > 1]
    assert len(twice) == (1 if mode == "after_send" else 0), twice  # at most the one in flight
    assert all(len(records) <= 2 for records in by_letter.values())

    at = {(o.partition, o.offset): o for o in originals}
    original_of = {}
    for letter in letters:
        h = Incoming.from_record(letter).headers
        original_of[h["dlq_id"]] = at[(int(h["dlq_original_partition"]), int(h["dlq_original_offset"]))]
    identities: dict[str, set[str]] = defaultdict(set)
    for rid, records in by_letter.items():
        original = original_of[rid]
        kept = [(name, value) for name, value in original.headers if name != REPLAY_HEADER]
        for record in records:
            assert record.key == original.key
            assert record.value == original.value
            assert list(record.headers)[: len(kept) + 1] == [*kept, (REPLAY_HEADER, rid.encode())]
            assert list(record.headers)[len(kept) + 1][0] == REPLAY_FOR_HEADER
            assert record.partition == original.partition  # the key decides, as for the original
            identities[rid].add(Incoming.from_record(record).event_id)
    # What the consumers know them by: one identity per letter, new to the inbox of the original.
    assert all(len(ids) == 1 for ids in identities.values())
    assert (
        len(
            {i for ids in identities.values() for i in ids}
            | {Incoming.from_record(o).event_id for o in originals}
        )
        == 20
    )

    # Per partition, the letters came back in their original order (a worker's events stay in order).
    for partition in {o.partition for o in originals}:
        arrived: list[int] = []
        for record in (r for r in replayed if r.partition == partition):
            offset = original_of[replay_of(record)].offset
            if offset not in arrived:
                arrived.append(offset)
        assert arrived == sorted(arrived), (partition, arrived)


# --- end to end: the registry ---------------------------------------------------------------


async def test_a_registration_dead_lettered_by_a_bug_is_registered_once_after_the_fix_and_replays(
    infra: Infra, service_env: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = infra.kafka
    prefix = service_env(REGISTRY_DATABASE_URL=infra.database_urls["registry"], HANDLER_MAX_ATTEMPTS=2)[
        "prefix"
    ]
    await truncate_schema(infra, "registry")
    run = uuid.uuid4().int % 1000
    plain, cloud, fine = (sample_registration(i, run=run) for i in (1, 2, 3))
    buggy = {plain["submission_id"], cloud["submission_id"]}
    bug = {"present": True}
    ran_after_fix: list[str] = []  # registrations that got past the inbox once the bug was fixed
    original_handler = RegistryHandlers.on_registration_submitted

    async def with_a_bug(self: RegistryHandlers, uow: MessageContext[Any, Any]) -> None:
        submission = uow.incoming.json_object().get("submission_id")
        if bug["present"] and submission in buggy:
            raise RuntimeError("a bug in the registration handler")
        if not bug["present"]:
            ran_after_fix.append(str(submission))
        await original_handler(self, uow)

    monkeypatch.setattr(RegistryHandlers, "on_registration_submitted", with_a_bug)
    operator = infra.kafka  # who replays: admin, as `muba dlq replay` does
    topic = await ensure_partner(kafka, prefix, "desa-online")  # the intake, its .dlq, its ACLs
    await ensure_topic(kafka, prefix + contracts.WORKER_REGISTERED.topic)
    partner: Headers = [
        (name, value.encode())
        for name, value in new_envelope(contracts.REGISTRATION_SUBMITTED.event_type, "/partner/desa-online")
        .headers()
        .items()
    ]
    sent: list[tuple[bytes | None, Headers, bytes]] = [
        (plain["submission_id"].encode(), [], json.dumps(plain).encode()),  # a partner's plain JSON
        (b"desa-online\x00cloud", [*partner, ("x-trace", b"\xfe\xff")], json.dumps(cloud).encode()),
        (None, [], json.dumps(fine).encode()),
    ]
    registry = await asyncpg.connect(infra.database_urls["registry"])
    try:
        async with running(create_app(RegistrySettings())):
            await send_raw(kafka, topic, sent)
            await _until(lambda: _registered(registry, {fine["submission_id"]}))
            await _until(lambda: _count_letters(operator, topic, 2))
            before_replay = await end_offsets(kafka, topic)

            bug["present"] = False
            crashed = crashing_replay(operator, topic, 1, "after_send")
            assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
            assert await replay(operator, topic) == 2  # the one in flight again, and the other
            assert await replay(operator, topic) == 0

            await _until(lambda: _registered(registry, buggy))
            group = f"{prefix}registry.{contracts.REGISTRATION_SUBMITTED.topic}"
            await _until(lambda: _caught_up(kafka, group, topic))
        workers = await registry.fetch(
            "SELECT submission_id, count(*) AS n FROM worker WHERE submission_id = ANY($1::text[]) GROUP BY 1",
            [*buggy, fine["submission_id"]],
        )
    finally:
        await registry.close()

    assert {r["submission_id"]: r["n"] for r in workers} == {s: 1 for s in [*buggy, fine["submission_id"]]}
    # The replay put one registration on the topic twice (killed before it could commit); the
    # registry's inbox knew the second copy: its handler ran once per registration.
    assert sorted(ran_after_fix) == sorted(buggy)
    replayed = await read_raw(kafka, topic, since=before_replay)
    assert len(replayed) == 3 and len({replay_of(r) for r in replayed}) == 2
    originals = {json.loads(body)["submission_id"]: (key, headers) for key, headers, body in sent}
    for record in replayed:
        key, headers = originals[json.loads(record.value or b"")["submission_id"]]
        assert record.key == key
        assert list(record.headers) == [
            *headers,
            (REPLAY_HEADER, replay_of(record).encode()),
            (REPLAY_FOR_HEADER, f"{prefix}registry.{contracts.REGISTRATION_SUBMITTED.topic}".encode()),
        ]
    registered = await read_raw(kafka, prefix + contracts.WORKER_REGISTERED.topic)
    per_submission: dict[str, int] = defaultdict(int)
    for record in registered:
        per_submission[json.loads(record.value or b"")["submission_id"]] += 1
    assert per_submission == {s: 1 for s in [*buggy, fine["submission_id"]]}


async def _registered(conn: asyncpg.Connection, submissions: set[str]) -> bool:
    found = await conn.fetchval(
        "SELECT count(*) FROM submission WHERE outcome = 'registered' AND submission_id = ANY($1::text[])",
        list(submissions),
    )
    return bool(found == len(submissions))


async def _count_letters(kafka: KafkaConnection, topic: str, count: int) -> bool:
    return len(await list_dead_letters(kafka, topic)) >= count


async def _caught_up(kafka: KafkaConnection, group: str, topic: str) -> bool:
    """The consumer group has committed everything on `topic`: it processed every copy."""
    ends = await end_offsets(kafka, topic)
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    done = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == topic}
    return all(done.get(p, 0) >= end for p, end in ends.items())


async def _until(condition: Callable[[], Any], timeout_s: float = 60.0) -> None:
    for _ in range(int(timeout_s / 0.25)):
        if await condition():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("timed out")
