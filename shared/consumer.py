"""How every service consumes: batches in one transaction, an inbox check per message, bounded
retries for a message that fails, a dead-letter topic for one that never can succeed, and the
offset committed only after the transaction that holds the effects has committed.

    broker event -> inbox claim -> handler (domain + repository + outbox) -> COMMIT -> offset commit

Transient failures (database or broker away, deadlocks) roll back the whole batch, which is
retried with backoff and never skipped: a later message is never committed past an earlier one.
"""

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import BaseModel, ValidationError

from shared import outbox
from shared.db import Conn
from shared.envelope import Envelope, log_position_id, parse_envelope
from shared.topics import dead_letter_topic

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)

# Failures that say nothing about the message: retry the batch, never dead-letter for them.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
)


def parse_uuid(value: str, reason: str, detail: str) -> uuid.UUID:
    """An id field as a UUID; a value that is none can never be processed (dead letter)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PoisonMessage(reason, detail) from None


class _IsolateMessages(Exception):
    """A handler failed on the fast path: run the batch again, one savepoint per message."""


class PoisonMessage(Exception):
    """The message can never be processed (not JSON, breaks the contract): dead-letter it now."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str]
    body: bytes
    envelope: Envelope | None
    timestamp_ms: int

    @property
    def event_id(self) -> str:
        return self.envelope.id if self.envelope else log_position_id(self.topic, self.partition, self.offset)

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id if self.envelope else self.event_id

    def json_object(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PoisonMessage("NOT_JSON", f"the body is not UTF-8 JSON ({exc})") from None
        if not isinstance(value, dict):
            raise PoisonMessage(
                "NOT_A_JSON_OBJECT", f"the body is a JSON {type(value).__name__}, not an object"
            )
        return value

    def parse(self, model: type[ModelT]) -> ModelT:
        try:
            return model.model_validate_json(self.body)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in exc.errors()[:10]
            )
            raise PoisonMessage("CONTRACT_VIOLATION", problems) from None

    @classmethod
    def from_record(cls, record: ConsumerRecord[Any, Any]) -> "Incoming":
        headers: dict[str, str] = {}
        for name, value in record.headers or ():
            with contextlib.suppress(UnicodeDecodeError, AttributeError):
                headers[name] = value.decode() if isinstance(value, bytes) else str(value)
        key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else record.key
        body = record.value if isinstance(record.value, bytes) else (record.value or b"")
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            headers=headers,
            body=body,
            envelope=parse_envelope(headers),
            timestamp_ms=record.timestamp,
        )


_VERSION = re.compile(r"\.v(\d+)$")


def check_version(message: Incoming) -> None:
    """An event whose CloudEvents type names another version than its topic is not ours to read."""
    if message.envelope is None:
        return
    on_topic, of_event = _VERSION.search(message.topic), _VERSION.search(message.envelope.type)
    if on_topic and of_event and on_topic.group(1) != of_event.group(1):
        raise PoisonMessage(
            "UNKNOWN_VERSION",
            f"event type {message.envelope.type[:200]} is version {of_event.group(1)}; "
            f"this topic carries version {on_topic.group(1)}",
        )


@dataclass
class UnitOfWork:
    """What a handler gets: the open transaction and a way to record the events it causes."""

    conn: Conn
    service: str
    incoming: Incoming
    topic_prefix: str = ""
    published: list[Envelope] = field(default_factory=list)
    pending: list[outbox.OutboxRow] = field(default_factory=list)
    # What handlers may keep for the rest of the batch's transaction (locks held, rows read);
    # a message processed alone (after a failure) gets an empty one.
    batch: dict[str, Any] = field(default_factory=dict)

    async def publish(self, topic: str, key: str | None, name: str, payload: BaseModel) -> Envelope:
        """Record an event for `topic` (a name from shared.topics) in this transaction's outbox.

        The row is written by `flush`, which the consumer calls before the transaction commits
        (once per batch on the fast path: one INSERT for all the batch's events)."""
        envelope, row = outbox.event_row(
            topic=self.topic_prefix + topic,
            key=key,
            payload=payload,
            name=name,
            source=f"/muba/{self.service}",
            correlation_id=self.incoming.correlation_id,
        )
        self.pending.append(row)
        self.published.append(envelope)
        return envelope

    async def flush(self) -> None:
        await outbox.add_rows(self.conn, self.pending)
        self.pending.clear()


Handler = Callable[[UnitOfWork], Awaitable[None]]


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0
    handler_seconds: float = 0.0


class MessageProcessor:
    """Runs one handler over batches of records for one consumer (service + topic)."""

    def __init__(
        self,
        *,
        service: str,
        consumer: str,
        handler: Handler,
        pool_getter: Callable[[], asyncpg.Pool],
        max_attempts: int = 3,
        retry_delay_s: float = 0.05,
        topic_prefix: str = "",
        topic: str = "",
        on_batch: Callable[[str, float, int], None] | None = None,
    ) -> None:
        self.topic_prefix = topic_prefix
        self.topic = topic
        self.on_batch = on_batch
        self.service = service
        self.consumer = consumer
        self.handler = handler
        self.pool_getter = pool_getter
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.stats = ConsumerStats()

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Process the batch until its transaction commits; retries transient failures forever.

        Fast path: the whole batch in one transaction, no savepoints. If any handler fails, the
        batch is rolled back and run again with a savepoint per message, so that a failing
        message is retried or dead-lettered alone and leaves no half-written effects.
        """
        incoming = [Incoming.from_record(r) for r in records]
        backoff = 0.1
        isolate = False
        while True:
            started = time.perf_counter()
            try:
                async with self.pool_getter().acquire() as conn, conn.transaction():
                    outcomes = await self._process_batch(conn, incoming, isolate)
                break
            except _IsolateMessages:
                isolate = True
            except TRANSIENT_ERRORS as exc:
                self.stats.retries += 1
                log.warning(
                    "batch failed on a transient error; retrying",
                    extra={"consumer": self.consumer, "error": repr(exc), "retry_in_s": backoff},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.handler_seconds += elapsed
        if self.on_batch is not None:
            self.on_batch(self.consumer, elapsed, len(incoming))
        if log.isEnabledFor(logging.DEBUG):
            for message, outcome in zip(incoming, outcomes, strict=True):
                log.debug("message %s", outcome, extra=self._where(message, 1))
        for outcome in outcomes:
            if outcome == "processed":
                self.stats.processed += 1
            elif outcome == "duplicate":
                self.stats.duplicates += 1
            else:
                self.stats.dead_lettered += 1

    async def _process_batch(self, conn: Conn, batch: list[Incoming], isolate: bool) -> list[str]:
        claimed = await self._claim(conn, batch)
        outcomes: list[str] = []
        pending: list[outbox.OutboxRow] = []
        batch_state: dict[str, Any] = {}
        for message in batch:
            if message.event_id not in claimed:
                outcomes.append("duplicate")
                continue
            claimed.discard(message.event_id)  # a second copy in the same batch is a duplicate
            if isolate:
                outcomes.append(await self._process_isolated(conn, message))
                continue
            try:
                check_version(message)
                await self.handler(
                    UnitOfWork(
                        conn, self.service, message, self.topic_prefix, pending=pending, batch=batch_state
                    )
                )
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                if conn.is_closed():
                    raise
                raise _IsolateMessages from exc
            outcomes.append("processed")
        await outbox.add_rows(conn, pending)
        return outcomes

    async def _claim(self, conn: Conn, batch: list[Incoming]) -> set[str]:
        """Inbox: the event ids of this batch that this consumer has not processed before."""
        rows = await conn.fetch(
            "INSERT INTO inbox (consumer, event_id, topic)"
            " SELECT $1, event_id, topic FROM unnest($2::text[], $3::text[]) AS m(event_id, topic)"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            self.consumer,
            [m.event_id for m in batch],
            [m.topic for m in batch],
        )
        return {r["event_id"] for r in rows}

    async def _process_isolated(self, conn: Conn, message: Incoming) -> str:
        attempt = 0
        while True:
            attempt += 1
            try:
                check_version(message)
                async with conn.transaction():
                    uow = UnitOfWork(conn, self.service, message, self.topic_prefix)
                    await self.handler(uow)
                    await uow.flush()
                return "processed"
            except PoisonMessage as exc:
                await self._dead_letter(conn, message, exc.reason, exc.detail, attempt)
                return "dead_lettered"
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                if conn.is_closed():
                    raise
                if attempt >= self.max_attempts:
                    log.exception("handler failed; dead-lettering", extra=self._where(message, attempt))
                    await self._dead_letter(
                        conn, message, "HANDLER_FAILED", f"{type(exc).__name__}: {exc}", attempt
                    )
                    return "dead_lettered"
                log.warning(
                    "handler failed; retrying", extra={**self._where(message, attempt), "error": repr(exc)}
                )
                await asyncio.sleep(self.retry_delay_s * attempt)

    def _where(self, message: Incoming, attempt: int) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "event_id": message.event_id,
            "correlation_id": message.correlation_id,
            "attempt": attempt,
        }

    async def _dead_letter(
        self, conn: Conn, message: Incoming, reason: str, detail: str, attempts: int
    ) -> None:
        headers = dict(message.headers)
        headers.update(
            {
                "dlq_reason": reason,
                "dlq_error": detail[:2000],
                "dlq_original_topic": message.topic,
                "dlq_original_partition": str(message.partition),
                "dlq_original_offset": str(message.offset),
                "dlq_original_event_id": message.event_id,
                "dlq_consumer": self.consumer,
                "dlq_attempts": str(attempts),
                "dlq_failed_at": datetime.now(UTC).isoformat(),
            }
        )
        # Published at least once, like every outbox row: `dlq_id` tells copies apart from letters.
        dlq_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dlq:{self.consumer}:{message.event_id}"))
        headers["dlq_id"] = dlq_id
        await outbox.add_raw(
            conn,
            topic=dead_letter_topic(message.topic),
            key=message.key,
            body=message.body,
            headers=headers,
            event_id=dlq_id,
            type_="dead-letter",
        )
        log.warning("message dead-lettered", extra={**self._where(message, attempts), "reason": reason})
