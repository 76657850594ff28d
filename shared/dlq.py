"""Dead letters: list what landed on `<topic>.dlq` and, after a fix, replay it to its topic.

    python -m shared.dlq list [--topic registry.registration-submitted.v1]
    python -m shared.dlq replay --topic registry.registration-submitted.v1

A replay publishes the original body and headers (without the dlq_* ones) to the original topic
with a fresh event id, so the inbox that recorded the failure does not drop it. The replay
consumer group remembers what was replayed: each dead letter is replayed once.
"""

import argparse
import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import topics
from shared.envelope import H_ID
from shared.kafka_admin import ensure_topic
from shared.logging import mask_text
from shared.outbox import kafka_producer

REPLAY_GROUP = "muba-dlq-replay"


@dataclass
class DeadLetter:
    topic: str
    partition: int
    offset: int
    headers: dict[str, str]
    body: bytes

    @property
    def original_topic(self) -> str:
        return self.headers.get("dlq_original_topic") or self.topic.removesuffix(topics.DEAD_LETTER_SUFFIX)

    def summary(self) -> dict[str, Any]:
        return {
            "dead_letter": f"{self.topic}/{self.partition}/{self.offset}",
            "from": f"{self.original_topic}/{self.headers.get('dlq_original_partition')}/"
            f"{self.headers.get('dlq_original_offset')}",
            "reason": self.headers.get("dlq_reason"),
            "error": mask_text(self.headers.get("dlq_error", ""))[:300],
            "consumer": self.headers.get("dlq_consumer"),
            "failed_at": self.headers.get("dlq_failed_at"),
            "bytes": len(self.body),
        }


async def dead_letter_topics(bootstrap: str, prefix: str = "") -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(
            t
            for t in await admin.list_topics()
            if t.endswith(topics.DEAD_LETTER_SUFFIX) and t.startswith(prefix)
        )
    finally:
        await admin.close()


async def read(
    bootstrap: str, topic: str, group_id: str | None = None
) -> tuple[list[DeadLetter], AIOKafkaConsumer]:
    """Every dead letter on `topic` (from the group's committed position, if a group is given)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        await consumer.start()
        partitions = [TopicPartition(topic, p) for p in range(await ensure_topic(bootstrap, topic))]
    except BaseException:
        await consumer.stop()
        raise
    consumer.assign(partitions)
    if group_id is None:
        await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    letters: list[DeadLetter] = []

    async def behind() -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return True
        return False

    while await behind():
        batch = await consumer.getmany(timeout_ms=1000)
        for records in batch.values():
            for r in records:
                headers = {k: v.decode(errors="replace") for k, v in (r.headers or ())}
                letters.append(DeadLetter(r.topic, r.partition, r.offset, headers, r.value or b""))
    return letters, consumer


async def list_dead_letters(bootstrap: str, topic: str | None, prefix: str = "") -> list[DeadLetter]:
    found: list[DeadLetter] = []
    for dlq in [topics.dead_letter_topic(topic)] if topic else await dead_letter_topics(bootstrap, prefix):
        letters, consumer = await read(bootstrap, dlq)
        await consumer.stop()
        found += letters
    return _distinct(found)


def _distinct(letters: list[DeadLetter]) -> list[DeadLetter]:
    """One of each dead letter: the outbox publishes at least once, so copies may sit on the topic."""
    seen: set[str] = set()
    distinct = []
    for letter in letters:
        key = letter.headers.get("dlq_id") or f"{letter.topic}/{letter.partition}/{letter.offset}"
        if key not in seen:
            seen.add(key)
            distinct.append(letter)
    return distinct


async def replay(bootstrap: str, topic: str) -> int:
    """Republish what was not replayed yet from `<topic>.dlq` to `topic`; returns how many."""
    letters, consumer = await read(bootstrap, topics.dead_letter_topic(topic), group_id=REPLAY_GROUP)
    letters = _distinct(letters)
    producer = kafka_producer(bootstrap)
    await producer.start()
    try:
        for letter in letters:
            headers = {k: v for k, v in letter.headers.items() if not k.startswith("dlq_")}
            if H_ID in headers:
                headers["ce_replay_of"] = headers[H_ID]
                headers[H_ID] = str(uuid.uuid4())
            await producer.send_and_wait(
                letter.original_topic, letter.body, headers=[(k, v.encode()) for k, v in headers.items()]
            )
        await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return len(letters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--topic", help="the original topic (default for list: every .dlq topic)")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    args = parser.parse_args(argv)
    if args.command == "list":
        for letter in asyncio.run(list_dead_letters(args.bootstrap, args.topic)):
            print(json.dumps(letter.summary(), ensure_ascii=False))
        return 0
    if not args.topic:
        parser.error("replay needs --topic")
    print(f"replayed {asyncio.run(replay(args.bootstrap, args.topic))} dead letter(s) to {args.topic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
