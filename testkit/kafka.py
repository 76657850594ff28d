"""Kafka as a partner system and an observer see it: publish plain JSON to a topic (creating the
topic and a test partner's ACLs first) and record what a service publishes (the GHGA
`record_events` pattern)."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared import access
from shared import topics as catalogue
from shared.envelope import parse_envelope
from shared.kafka_admin import create_acls, ensure_topic
from shared.kafka_security import KafkaConnection


@dataclass
class RecordedEvent:
    topic: str
    key: str | None
    headers: dict[str, str]
    body: bytes
    partition: int
    offset: int

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def event_type(self) -> str | None:
        envelope = parse_envelope(self.headers)
        return envelope.type if envelope else None


@dataclass
class EventRecorder:
    consumer: AIOKafkaConsumer
    topics: tuple[str, ...]
    events: list[RecordedEvent] = field(default_factory=list)

    async def _drain(self, timeout_ms: int) -> None:
        batches = await self.consumer.getmany(timeout_ms=timeout_ms)
        for records in batches.values():
            for r in records:
                headers = {k: v.decode(errors="replace") for k, v in (r.headers or ())}
                key = r.key.decode() if r.key is not None else None
                self.events.append(
                    RecordedEvent(r.topic, key, headers, r.value or b"", r.partition, r.offset)
                )

    async def poll(self, timeout_s: float) -> list[RecordedEvent]:
        """What arrives within `timeout_s` (maybe nothing); every event stays in `events`."""
        before = len(self.events)
        await self._drain(int(timeout_s * 1000))
        return self.events[before:]

    async def wait_for(
        self, count: int, timeout_s: float = 20.0, topic: str | None = None
    ) -> list[RecordedEvent]:
        """Wait until at least `count` events (on `topic`, if given) have arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            matching = [e for e in self.events if topic is None or e.topic == topic]
            if len(matching) >= count:
                return matching
            if loop.time() > deadline:
                raise AssertionError(
                    f"expected {count} events on {topic or self.topics}, got {len(matching)}"
                )
            await self._drain(200)

    async def settle(self, quiet_s: float = 1.0) -> list[RecordedEvent]:
        """Collect until nothing new has arrived for `quiet_s` seconds."""
        while True:
            before = len(self.events)
            await self._drain(int(quiet_s * 1000))
            if len(self.events) == before:
                return self.events


@asynccontextmanager
async def record_events(kafka: KafkaConnection, *topics: str) -> AsyncIterator[EventRecorder]:
    """Record what arrives on `topics` from now on (the end offsets are taken on entry)."""
    consumer = AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            count = await ensure_topic(kafka.as_principal("admin"), topic)
            partitions += [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp, offset in ends.items():
            consumer.seek(tp, offset)
        yield EventRecorder(consumer, topics)
    finally:
        await consumer.stop()


_known_topics: set[str] = set()


async def ensure_partner(kafka: KafkaConnection, prefix: str, partner: str) -> str:
    """A partner of the test's own under `prefix`, as provisioning makes one (without a password:
    tests publish as `admin`): its intake and dead-letter topics, and its ACLs (it writes the
    intake; the registry reads it and dead-letters it; operators replay it). Returns the intake.

    For tests that write an intake with a client of their own; publish_json does it by itself."""
    admin = kafka.as_principal(access.ADMIN)
    intake = prefix + catalogue.intake_topic(partner)
    await ensure_topic(admin, intake)
    await ensure_topic(admin, catalogue.dead_letter_topic(intake))
    await create_acls(admin, [g.with_prefix(prefix) for g in access.partner_grants(partner)])
    _known_topics.add(intake)
    return intake


async def publish_json(
    kafka: KafkaConnection,
    topic: str,
    messages: list[tuple[str | None, Any]],
    headers: dict[str, str] | None = None,
) -> None:
    """Publish plain JSON bodies (as partner systems do) or raw bytes when a body is bytes, as
    `kafka`'s principal.

    The topic is created first (by `admin`) if need be: brokers never auto-create one."""
    if topic not in _known_topics:
        intake = catalogue.split_intake(topic)
        if intake is not None:  # a partner of the test's own: its topics and ACLs
            await ensure_partner(kafka, *intake)
        else:
            await ensure_topic(kafka.as_principal(access.ADMIN), topic)
        _known_topics.add(topic)
    producer = AIOKafkaProducer(
        **kafka.options(),
        enable_idempotence=True,
        acks="all",
        max_request_size=4 * 1024 * 1024,
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    try:
        hdrs = [(k, v.encode()) for k, v in (headers or {}).items()]
        futures = []
        for key, body in messages:
            value = body if isinstance(body, bytes) else json.dumps(body).encode()
            futures.append(
                await producer.send(topic, value=value, key=key.encode() if key else None, headers=hdrs)
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def submit_registrations(
    kafka: KafkaConnection, prefix: str, bodies: list[Any], partner: str | None = None
) -> None:
    """Publish registrations to the intake of `partner`, else of each body's own `source` (as
    that partner would: keyed by submission id)."""
    by_intake: dict[str, list[tuple[str | None, Any]]] = {}
    for body in bodies:
        name = partner or (body.get("source") if isinstance(body, dict) else None)
        if not isinstance(name, str):
            raise ValueError("submit_registrations: name the partner (the body has no usable source)")
        key = body.get("submission_id") if isinstance(body, dict) else None
        by_intake.setdefault(prefix + catalogue.intake_topic(name), []).append(
            (key if isinstance(key, str) else None, body)
        )
    for topic, messages in by_intake.items():
        await publish_json(kafka, topic, messages)
