"""Dead letters: list what landed on `<topic>.dlq` and, after a fix, replay it to its topic.

    python -m shared.dlq list [--topic registry.registration-submitted.v1]
    python -m shared.dlq replay --topic registry.registration-submitted.v1

A replay sends each letter's original record back to the original topic as it arrived: the same
key bytes (so the partitioner puts it where the original was, behind the same worker's earlier
events), the same headers byte for byte and in order, the same body. Only the dlq_* headers go,
and `muba_replay_of` names the letter (its dlq_id). That header is part of the identity the inbox
knows a message by (shared.consumer.event_identity): the replay is new to the consumer that
dead-lettered the original, and the same letter replayed twice is one message.

The replay consumer group's position on `<topic>.dlq` is committed after each letter's send is
acknowledged. A replay stopped anywhere (crash, SIGKILL, broker away) sends at most the letter it
had in flight again, with the same `muba_replay_of`, so consumers process it once. Copies of one
letter (the outbox publishes at least once) are replayed once.
"""

import argparse
import asyncio
import heapq
import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError, for_code

from shared import topics
from shared.envelope import REPLAY_FOR_HEADER, REPLAY_HEADER
from shared.kafka_security import KafkaConnection, kafka_producer
from shared.masking import mask_nik, mask_text

REPLAY_GROUP = topics.REPLAY_GROUP
DLQ_HEADER_PREFIX = "dlq_"

RawHeaders = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class DeadLetter:
    """One record of a `.dlq` topic, exactly as it was read (key, headers and body are bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    raw_headers: RawHeaders
    body: bytes | None
    # Lenient text view of the headers: null values left out, bytes that are not UTF-8 replaced,
    # the last value of a repeated name (our dlq_* headers come after the original ones).
    headers: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        view = {
            name: value.decode("utf-8", "replace") for name, value in self.raw_headers if value is not None
        }
        object.__setattr__(self, "headers", view)

    @classmethod
    def from_record(cls, record: ConsumerRecord[Any, Any]) -> "DeadLetter":
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            tuple((name, value) for name, value in (record.headers or ())),
            record.value,
        )

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def letter_id(self) -> str:
        """What the letter is known by: its dlq_id, else an id derived from where it sits.

        Deterministic either way: the same letter always replays to the same identity."""
        given = self.headers.get("dlq_id", "").strip()
        if given:
            return given
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"muba-dlq-letter:{self.position}"))

    @property
    def original_topic(self) -> str:
        return self.headers.get("dlq_original_topic") or self.topic.removesuffix(topics.DEAD_LETTER_SUFFIX)

    @property
    def original_partition(self) -> int | None:
        return _int(self.headers.get("dlq_original_partition"))

    @property
    def original_offset(self) -> int | None:
        return _int(self.headers.get("dlq_original_offset"))

    def replay_order(self) -> tuple[str, int, int, int, int]:
        """Letters of one original partition go back in their original offsets' order."""
        partition, offset = self.original_partition, self.original_offset
        return (
            self.original_topic,
            -1 if partition is None else partition,
            -1 if offset is None else offset,
            self.partition,
            self.offset,
        )

    def replay_headers(self) -> list[tuple[str, bytes | None]]:
        """The original headers byte for byte and in order (null values and repeated names too),
        without dlq_* and an earlier replay's mark, then `muba_replay_of` = this letter."""
        kept = [
            (name, value)
            for name, value in self.raw_headers
            if not name.startswith(DLQ_HEADER_PREFIX) and name not in (REPLAY_HEADER, REPLAY_FOR_HEADER)
        ]
        replay = [(REPLAY_HEADER, self.letter_id.encode())]
        consumer = self.headers.get("dlq_consumer")
        if consumer:  # only the consumer that gave up on it sees a new message
            replay.append((REPLAY_FOR_HEADER, consumer.encode()))
        return [*kept, *replay]

    def summary(self, replayed: bool | None = None) -> dict[str, Any]:
        """What `list` shows: nothing in it can fail on the letter's bytes; personal data masked."""
        h = self.headers
        shown: dict[str, Any] = {
            "dead_letter": self.position,
            "id": escaped(self.letter_id)[:80],
            "from": escaped(
                f"{self.original_topic}/{_or_unknown(self.original_partition)}/"
                f"{_or_unknown(self.original_offset)}"
            ),
            "key": shown_bytes(self.key, 60),
            "original_event_id": shown_text(h.get("dlq_original_event_id"), 80),
            "reason": shown_text(h.get("dlq_reason"), 100),
            "error": shown_text(h.get("dlq_error"), 300),
            "consumer": shown_text(h.get("dlq_consumer"), 200),
            "failed_at": shown_text(h.get("dlq_failed_at"), 60),
            "bytes": len(self.body or b""),
        }
        if replayed is not None:
            shown["replayed"] = replayed
        return shown


def _or_unknown(value: int | None) -> str:
    return "?" if value is None else str(value)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Beyond what logs mask: a long run of digits standing alone in an id or key ("reg-1606...",
# "1606....x"), which the log masks leave when a dash or dot touches it; not the digits of a hex hash.
_LONG_DIGITS = re.compile(r"(?<![A-Za-z\d])\d{9,}(?![A-Za-z\d])")


def escaped(text: str) -> str:
    """Control characters (a NUL, an escape sequence) as visible `\\xNN`, never sent to a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def shown_text(value: str | None, limit: int) -> str | None:
    """Text fit for a terminal and a log: NIKs, phone numbers and long digit runs masked, control
    characters escaped, at most `limit` characters (masked before the cut: no digits leak there)."""
    if value is None:
        return None
    text = escaped(_LONG_DIGITS.sub(lambda m: mask_nik(m.group(0)), mask_text(value)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_bytes(value: bytes | None, limit: int) -> str | None:
    return None if value is None else shown_text(value.decode("utf-8", "replace"), limit)


# --- reading ----------------------------------------------------------------------------------


@dataclass
class DeadLetterTopic:
    """A `.dlq` topic read from its beginning, split at the replay group's committed positions."""

    letters: dict[TopicPartition, list[DeadLetter]]  # not replayed yet, in offset order
    replayed_ids: set[str]  # letters before the committed positions


async def dead_letter_topics(kafka: KafkaConnection, prefix: str = "") -> list[str]:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        return sorted(
            t
            for t in await admin.list_topics()
            if t.endswith(topics.DEAD_LETTER_SUFFIX) and t.startswith(prefix)
        )
    finally:
        await admin.close()


async def _partitions(kafka: KafkaConnection, topic: str) -> list[TopicPartition]:
    """The topic's partitions, from its metadata (the operator reading dead letters may create no
    topic); a topic that does not exist, or that this principal may not read, is an error that
    says so (not an empty list: a replay would report 0 and hide it)."""
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        described = {d["topic"]: d for d in await admin.describe_topics([topic])}
    finally:
        await admin.close()
    found = described.get(topic) or {"error_code": UnknownTopicOrPartitionError.errno, "partitions": []}
    if found["error_code"]:
        error = for_code(found["error_code"])
        raise error(f"{topic}: no such topic, or {kafka.username!r} may not read it ({error.__name__})")
    return [
        TopicPartition(topic, p["partition"])
        for p in sorted(found["partitions"], key=lambda p: p["partition"])
    ]


async def _open(
    kafka: KafkaConnection, topic: str, group_id: str | None
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    partitions = await _partitions(kafka, topic)
    consumer = AIOKafkaConsumer(
        **kafka.options(),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # A letter is an original record (up to 2 MiB) and its headers: fetch whole ones.
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    consumer.assign(partitions)
    return consumer, partitions


async def _read_all(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> AsyncIterator[DeadLetter]:
    """Every letter from the beginning to the end offsets as they were when reading started."""
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield DeadLetter.from_record(record)
        remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}


async def _committed(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    return {tp: (await consumer.committed(tp)) or 0 for tp in partitions}


async def read_topic(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> DeadLetterTopic:
    committed = await _committed(consumer, partitions)
    pending: dict[TopicPartition, list[DeadLetter]] = {tp: [] for tp in partitions}
    replayed: set[str] = set()
    async for letter in _read_all(consumer, partitions):
        tp = TopicPartition(letter.topic, letter.partition)
        if letter.offset < committed[tp]:
            replayed.add(letter.letter_id)  # its id is all a replay needs of it
        else:
            pending[tp].append(letter)
    return DeadLetterTopic(pending, replayed)


async def list_dead_letters(kafka: KafkaConnection, topic: str | None, prefix: str = "") -> list[DeadLetter]:
    """One of each dead letter of `topic` (every `.dlq` topic under `prefix` when None)."""
    return [letter for letter, _ in await list_with_status(kafka, topic, prefix)]


async def list_with_status(
    kafka: KafkaConnection, topic: str | None, prefix: str = ""
) -> list[tuple[DeadLetter, bool]]:
    """Each distinct dead letter and whether a replay has sent it back already."""
    found: list[tuple[DeadLetter, bool]] = []
    for dlq in [topics.dead_letter_topic(topic)] if topic else await dead_letter_topics(kafka, prefix):
        consumer, partitions = await _open(kafka, dlq, REPLAY_GROUP)
        try:
            committed = await _committed(consumer, partitions)
            letters = [letter async for letter in _read_all(consumer, partitions)]
        finally:
            await consumer.stop()
        replayed = {
            letter.letter_id
            for letter in letters
            if letter.offset < committed[TopicPartition(letter.topic, letter.partition)]
        }
        found += [(letter, letter.letter_id in replayed) for letter in distinct(letters)]
    return found


def distinct(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """One of each dead letter: the outbox publishes at least once, so copies may sit on the topic."""
    seen: set[str] = set()
    kept = []
    for letter in letters:
        if letter.letter_id not in seen:
            seen.add(letter.letter_id)
            kept.append(letter)
    return kept


# --- replaying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    letter: DeadLetter
    send: bool  # False: a copy of a letter already replayed; only its position is committed


def replay_plan(
    pending: Mapping[TopicPartition, Sequence[DeadLetter]], replayed_ids: Iterable[str]
) -> list[Step]:
    """The order to replay in, and which letters are copies.

    Each `.dlq` partition is taken in its own offset order (so that committing a letter's offset
    + 1 never passes one that was not sent), and the partitions are merged by the letters'
    original positions: the letters of one original partition go back in offset order."""
    seen = set(replayed_ids)
    queues = [iter(letters) for letters in pending.values()]
    heads: list[tuple[tuple[str, int, int, int, int], int, DeadLetter]] = []
    for index, queue in enumerate(queues):
        first = next(queue, None)
        if first is not None:
            heads.append((first.replay_order(), index, first))
    heapq.heapify(heads)
    steps = []
    while heads:
        _, index, letter = heapq.heappop(heads)
        steps.append(Step(letter, letter.letter_id not in seen))
        seen.add(letter.letter_id)
        following = next(queues[index], None)
        if following is not None:
            heapq.heappush(heads, (following.replay_order(), index, following))
    return steps


async def replay(kafka: KafkaConnection, topic: str) -> int:
    """Send what was not replayed yet from `<topic>.dlq` back to `topic`; returns how many.

    Each letter: send, wait for the broker's acknowledgement (idempotent producer, acks=all),
    then commit that letter's offset + 1. Stopped anywhere, a replay run again sends at most the
    letter that was in flight a second time, under the same `muba_replay_of`."""
    consumer, partitions = await _open(kafka, topics.dead_letter_topic(topic), REPLAY_GROUP)
    producer = kafka_producer(kafka)
    sent = 0
    try:
        await producer.start()
        found = await read_topic(consumer, partitions)
        partitions_of_topic: int | None = None
        for step in replay_plan(found.letters, found.replayed_ids):
            letter = step.letter
            if step.send:
                if partitions_of_topic is None:
                    partitions_of_topic = len(await producer.partitions_for(topic))
                await producer.send_and_wait(
                    topic,
                    letter.body,
                    key=letter.key,
                    headers=letter.replay_headers(),
                    partition=_keyless_partition(letter, partitions_of_topic),
                )
                sent += 1
            await consumer.commit({TopicPartition(letter.topic, letter.partition): letter.offset + 1})
    finally:
        await producer.stop()
        await consumer.stop()
    return sent


def _keyless_partition(letter: DeadLetter, partitions: int) -> int | None:
    """A keyed letter goes where its key puts it (the partitioner decides, as for the original);
    a keyless one back to its original partition, while the topic still has it."""
    if letter.key is not None:
        return None
    original = letter.original_partition
    return original if original is not None and 0 <= original < partitions else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--topic", help="the original topic (default for list: every .dlq topic)")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    args = parser.parse_args(argv)
    # Listing is the office's (operator); writing into a consumed topic is admin's.
    principal = "operator" if args.command == "list" else "admin"
    kafka = KafkaConnection.from_env(principal, bootstrap_servers=args.bootstrap)
    if args.command == "list":
        for letter, replayed in asyncio.run(list_with_status(kafka, args.topic)):
            print(json.dumps(letter.summary(replayed), ensure_ascii=False))
        return 0
    if not args.topic:
        parser.error("replay needs --topic")
    print(f"replayed {asyncio.run(replay(kafka, args.topic))} dead letter(s) to {args.topic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
