"""Transactional outbox: events are rows written in the same transaction as the state change;
one relay per schema (the holder of an advisory lock) publishes them to Kafka in insertion order.

A row published but not yet marked (crash in between) is published again: consumers dedupe by
event id through the inbox, so the effect happens once.
"""

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from shared.db import Conn, connect
from shared.envelope import Envelope, event_type, new_envelope

log = logging.getLogger(__name__)


RawHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    event_id: str
    topic: str
    key: bytes | None
    event_type: str
    body: bytes
    headers: dict[str, str]
    # Sent first, byte for byte (a dead letter's original headers); None for our own events.
    raw_headers: bytes | None = None


def jsonb_safe(value: str) -> str:
    """A header value PostgreSQL's jsonb can hold: a NUL becomes U+FFFD, a lone surrogate "?"."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def encode_raw_headers(headers: RawHeaders) -> bytes | None:
    if not headers:
        return None
    return json.dumps(
        [[name, None if value is None else base64.b64encode(value).decode()] for name, value in headers]
    ).encode()


def kafka_headers(raw_headers: bytes | None, headers: Mapping[str, Any]) -> list[tuple[str, bytes | None]]:
    """What the relay sends: the raw headers as they arrived, then ours."""
    sent: list[tuple[str, bytes | None]] = []
    if raw_headers:
        for name, value in json.loads(raw_headers):
            sent.append((name, None if value is None else base64.b64decode(value)))
    sent.extend((name, str(value).encode()) for name, value in headers.items())
    return sent


def encode_key(key: str | None) -> bytes | None:
    return None if key is None else key.encode("utf-8", "surrogateescape")


def event_row(
    *, topic: str, key: str | None, payload: BaseModel, name: str, source: str, correlation_id: str | None
) -> tuple[Envelope, OutboxRow]:
    """One CloudEvent for `topic`, ready to be written with `add_rows`."""
    envelope = new_envelope(event_type(name), source, correlation_id, subject=key)
    headers = {name: jsonb_safe(value) for name, value in envelope.headers().items()}
    row = OutboxRow(
        envelope.id, topic, encode_key(key), envelope.type, payload.model_dump_json().encode(), headers
    )
    return envelope, row


async def add_rows(conn: Conn, rows: Sequence[OutboxRow]) -> None:
    """Record events in one statement; call inside the transaction that makes the change."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, event_type, payload, headers, raw_headers)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::bytea[], $6::jsonb[],"
        " $7::bytea[]) ON CONFLICT (event_id) DO NOTHING",
        [uuid.UUID(r.event_id) for r in rows],
        [r.topic for r in rows],
        [r.key for r in rows],
        [r.event_type for r in rows],
        [r.body for r in rows],
        [r.headers for r in rows],
        [r.raw_headers for r in rows],
    )


async def add_raw(
    conn: Conn,
    *,
    topic: str,
    key: bytes | None,
    body: bytes,
    headers: Mapping[str, str],
    raw_headers: RawHeaders = (),
    event_id: str | None = None,
    type_: str = "raw",
) -> None:
    """Record a message whose body and headers are already made (dead letters): `raw_headers` and
    the key go out byte for byte, `headers` (ours) after them."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, event_type, payload, headers, raw_headers)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
        uuid.UUID(event_id) if event_id else uuid.uuid4(),
        topic,
        key,
        type_,
        body,
        {name: jsonb_safe(value) for name, value in headers.items()},
        encode_raw_headers(raw_headers),
    )


def kafka_producer(bootstrap_servers: str, **overrides: Any) -> AIOKafkaProducer:
    """Idempotent, acks=all: a retried send never writes a message twice or out of order."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        # A dead letter is the original record (up to the partner topics' 2 MiB) plus its dlq_* headers.
        "max_request_size": 5 * 1024 * 1024,
        "request_timeout_ms": 15000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        bootstrap_servers: str,
        batch_size: int = 500,
        idle_poll_s: float = 1.0,
        keep_published: timedelta = timedelta(days=7),
        keep_processed: timedelta = timedelta(days=14),
    ) -> None:
        self.keep_published = keep_published
        self.keep_processed = keep_processed
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.published = 0
        self.published_by_topic: Counter[str] = Counter()
        self.is_leader = False
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="outbox-relay")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Publish what is pending (up to the timeout), then stop."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), drain_timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _run_forever(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                await self._lead()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "outbox relay failed; retrying", extra={"error": repr(exc), "retry_in_s": backoff}
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.is_leader = False

    async def _lead(self) -> None:
        conn = await connect(self.dsn)
        producer: AIOKafkaProducer | None = None
        try:
            schema = await conn.fetchval("SELECT current_schema()")
            lock_key = f"outbox:{schema}"
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock_key):
                if self._stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 1.0)
            self.is_leader = True
            await conn.add_listener(f"outbox_{schema}", lambda *_: self._wake.set())
            producer = kafka_producer(self.bootstrap_servers)
            await producer.start()
            pruned_at = 0.0
            while True:
                self._wake.clear()
                sent = await self._publish_batch(conn, producer)
                if sent:
                    continue
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    await prune(conn, self.keep_published, self.keep_processed)
                    pruned_at = time.monotonic()
                if self._stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)
        finally:
            if producer is not None:
                with contextlib.suppress(Exception):
                    await producer.stop()
            with contextlib.suppress(Exception):
                await conn.close()

    async def _publish_batch(self, conn: Conn, producer: AIOKafkaProducer) -> int:
        rows = await conn.fetch(
            "SELECT id, topic, key, payload, headers, raw_headers FROM outbox WHERE published_at IS NULL"
            " ORDER BY id LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        futures = []
        for row in rows:
            headers = kafka_headers(row["raw_headers"], row["headers"])
            futures.append(
                await producer.send(row["topic"], value=row["payload"], key=row["key"], headers=headers)
            )
        results = await asyncio.gather(*futures, return_exceptions=True)
        # Mark what the broker acknowledged, so that a failed batch is not published twice in full.
        acknowledged = [
            row for row, result in zip(rows, results, strict=True) if not isinstance(result, BaseException)
        ]
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [row["id"] for row in acknowledged],
        )
        self.published += len(acknowledged)
        self.published_by_topic.update(row["topic"] for row in acknowledged)
        failed = [result for result in results if isinstance(result, BaseException)]
        if failed:
            raise failed[0]
        return len(rows)


PRUNE_EVERY_S = 600.0


async def prune(conn: Conn, keep_published: timedelta, keep_processed: timedelta) -> tuple[int, int]:
    """Forget published outbox rows and processed inbox ids once they are old enough.

    Inbox ids are kept longer than Kafka keeps messages (7 days here), so that a redelivery can
    never find its id gone. Returns how many rows of each were removed.
    """
    published = await conn.fetchval(
        "WITH gone AS (DELETE FROM outbox WHERE published_at < now() - $1::interval RETURNING 1) SELECT count(*) FROM gone",
        keep_published,
    )
    processed = await conn.fetchval(
        "WITH gone AS (DELETE FROM inbox WHERE processed_at < now() - $1::interval RETURNING 1) SELECT count(*) FROM gone",
        keep_processed,
    )
    return int(published), int(processed)


async def outbox_backlog(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
