"""How every service consumes: batches in one transaction, an inbox check per message, bounded
retries for a message that fails, a dead-letter topic for one that never can succeed, and the
offset committed only after the transaction that holds the effects has committed.

    broker event -> inbox claim -> handler (domain + repository + outbox) -> COMMIT -> offset commit

Transient failures (database or broker away, deadlocks) roll back the whole batch, which is
retried with backoff and never skipped: a later message is never committed past an earlier one.
"""

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import BaseModel, ValidationError

from shared import clock, contracts, outbox, topics
from shared.backoff import Backoff
from shared.db import Conn
from shared.envelope import REPLAY_FOR_HEADER, REPLAY_HEADER, Envelope, parse_envelope
from shared.events import EventModel
from shared.topics import dead_letter_topic

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)
E = TypeVar("E", bound=EventModel)
S = TypeVar("S")

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
# SQLSTATE classes and codes that describe the database, not the message: connection (08),
# read-only (25006, a switchover or storage protection), idle-in-transaction timeout (25P03),
# credentials (28), rollbacks (40), privileges and missing objects (42501, 42P01, 42703, 42883),
# resources (53), operator intervention and timeouts (57), system errors (58), config (F0), internal (XX).
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "28", "40", "53", "57", "58", "F0", "XX"})
TRANSIENT_SQLSTATES = frozenset({"25006", "25P03", "42501", "42P01", "42703", "42883", "3D000", "3F000"})


def is_transient(exc: BaseException) -> bool:
    """True when the failure says nothing about the message: the batch is retried, never skipped."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, asyncpg.PostgresError) and isinstance(sqlstate, str):
        return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate in TRANSIENT_SQLSTATES
    return False


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


# A partner's correlation id longer than this is not carried onward (it would grow every event).
MAX_CORRELATION_ID = 200


@dataclass(frozen=True, slots=True)
class Incoming:
    """One Kafka record as we read it: raw bytes kept for dead letters, a lenient view for handlers.

    Nothing here can fail on the content of a record: headers that are not UTF-8 are read with
    replacement characters (and kept verbatim in `raw_headers`), null header values are skipped in
    `headers`, and the event id is a fixed-size hash whatever the record carries.
    """

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str]
    body: bytes
    envelope: Envelope | None
    timestamp_ms: int
    raw_key: bytes | None = None
    raw_headers: tuple[tuple[str, bytes | None], ...] = ()
    event_id: str = ""  # computed from the envelope (or body) when not given
    # The partner whose intake topic this is (under whatever TOPIC_PREFIX), else None: read from
    # the topic once, for the event's identity and for the registry's handler (the source).
    partner: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        intake = topics.split_intake(self.topic)
        object.__setattr__(self, "partner", None if intake is None else intake[1])
        if not self.event_id:
            identity = event_identity(self.envelope, self.body, self.replay_of(), self.raw_key, self.partner)
            object.__setattr__(self, "event_id", identity)

    def replay_of(self, consumer: str | None = None) -> str | None:
        """The dead letter this message replays, when it replays one for `consumer` (any, if None)."""
        meant_for = self.headers.get(REPLAY_FOR_HEADER)
        if consumer is not None and meant_for is not None and meant_for != consumer:
            return None
        return self.headers.get(REPLAY_HEADER)

    def for_consumer(self, consumer: str) -> "Incoming":
        """This message as `consumer` knows it: a replay meant for another consumer is the original."""
        replay_of = self.replay_of(consumer)
        if replay_of == self.replay_of():
            return self
        identity = event_identity(self.envelope, self.body, replay_of, self.raw_key, self.partner)
        return dataclasses.replace(self, event_id=identity)

    @property
    def wire_id(self) -> str:
        """The id its sender gave the event (`ce_id`, for people tracing it), else `event_id`."""
        if self.envelope and len(self.envelope.id) <= MAX_CORRELATION_ID:
            return self.envelope.id.replace("\x00", "\ufffd")
        return self.event_id

    @property
    def correlation_id(self) -> str:
        given = self.envelope.correlation_id if self.envelope else ""
        if given and len(given) <= MAX_CORRELATION_ID and "\x00" not in given:
            return given
        return self.event_id

    def json_object(self) -> dict[str, Any]:
        try:
            # Decoded as UTF-8 ourselves: json.loads(bytes) would also take UTF-16/32 and a BOM,
            # which the contract (RFC 8259 between systems) does not.
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
            raise PoisonMessage("CONTRACT_VIOLATION", problems[:2000]) from None

    @classmethod
    def from_record(cls, record: ConsumerRecord[Any, Any]) -> "Incoming":
        raw_headers = tuple(
            (str(name), value if isinstance(value, bytes | None) else str(value).encode())
            for name, value in (record.headers or ())
        )
        headers = {name: value.decode(errors="replace") for name, value in raw_headers if value is not None}
        raw_key = record.key if isinstance(record.key, bytes | None) else str(record.key).encode()
        body = record.value if isinstance(record.value, bytes) else (record.value or b"")
        envelope = parse_envelope(headers)
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=raw_key.decode(errors="replace") if raw_key is not None else None,
            headers=headers,
            body=body,
            envelope=envelope,
            timestamp_ms=record.timestamp,
            raw_key=raw_key,
            raw_headers=raw_headers,
        )


def event_identity(
    envelope: Envelope | None,
    body: bytes,
    replay_of: str | None = None,
    key: bytes | None = None,
    partner: str | None = None,
) -> str:
    """What the inbox remembers a message by: 64 hex digits, whatever the message carries.

    A CloudEvent is unique by (source, id) — two partners may both number their events 1, 2, 3.
    A message without CloudEvents headers (a partner's plain JSON) is known by its content (key
    and body): a redelivery is byte-identical, and nothing ties it to a log position that a
    recreated topic would reuse. A replayed dead letter names the letter it replays, so it is new to the inbox
    that dead-lettered the original, and a replay sent twice is still one message.
    """
    digest = hashlib.sha256()
    if partner is not None:
        # On a partner's intake, the partner (its topic, which only it writes) is part of who a
        # message is: another partner cannot make its own message collide with this one's (and
        # so have it ignored) by copying its bytes or its CloudEvents source and id.
        digest.update(b"partner\x00" + partner.encode() + b"\x00")
    if envelope is not None:
        for part in ("cloudevent", envelope.source, envelope.id):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\x00")
    else:
        digest.update(b"content\x00" + hashlib.sha256(body).digest())
        digest.update(b"\x00" if key is None else b"\x01" + hashlib.sha256(key).digest())
    if replay_of:
        digest.update(b"\x00replay\x00" + replay_of.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def check_version(message: Incoming, contract: contracts.Contract[Any]) -> None:
    """An event whose CloudEvents type names another version than its contract is not ours to read."""
    if message.envelope is None:
        return
    of_event = _VERSION.search(message.envelope.type)
    if of_event and int(of_event.group(1)) != contract.version:
        raise PoisonMessage(
            "UNKNOWN_VERSION",
            f"event type {message.envelope.type[:200]} is version {of_event.group(1)}; "
            f"this topic carries version {contract.version}",
        )


_VERSION = re.compile(r"\.v(\d+)$")


@dataclass
class Publisher:
    """A publisher that knows the contracts: `publish(event)` finds the event's contract (topic,
    key, type) and makes the outbox row that the consumer writes before the transaction commits
    (one INSERT for a whole batch's events on the fast path). Holds no connection: the same
    object serves handlers' unit tests, where `events` is what they published."""

    service: str
    topic_prefix: str = ""
    rows: list[outbox.OutboxRow] = field(default_factory=list)
    events: list[EventModel] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)

    def publish(
        self, event: EventModel, *, correlation_id: str | None = None, event_id: str | None = None
    ) -> Envelope:
        contract = contracts.of(event)
        if contract.producer != self.service:
            raise TypeError(
                f"{self.service} does not publish {contract.event_name} ({contract.producer} does)"
            )
        envelope, row = outbox.event_row(
            contract, event, topic_prefix=self.topic_prefix, correlation_id=correlation_id, event_id=event_id
        )
        self.rows.append(row)
        self.events.append(event)
        self.envelopes.append(envelope)
        return envelope


@dataclass
class MessageContext(Generic[E, S]):
    """What a handler gets for one message: the message and its contract, the service's store
    (in the transaction that also claims the message in the inbox) and the publisher.

    `event` parses the body with the contract's model (a body that breaks it is a PoisonMessage:
    dead-lettered). Partner-facing handlers that must name every problem read `json_object()`."""

    incoming: Incoming
    contract: contracts.Contract[E]
    store: S
    publisher: Publisher
    _event: E | None = None

    @property
    def event(self) -> E:
        if self._event is None:
            self._event = self.incoming.parse(self.contract.model)
        return self._event

    def json_object(self) -> dict[str, Any]:
        return self.incoming.json_object()

    def publish(self, event: EventModel, *, event_id: str | None = None) -> Envelope:
        """Record `event` in this transaction's outbox; its contract gives topic, key and type."""
        return self.publisher.publish(event, correlation_id=self.incoming.correlation_id, event_id=event_id)


Handler = Callable[[MessageContext[Any, Any]], Awaitable[None]]
StoreFactory = Callable[[Conn], Any]


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0
    handler_seconds: float = 0.0
    # Since when the batch in hand has been failing (monotonic seconds), and why; None while healthy.
    failing_since: float | None = None
    last_error: str | None = None


class BatchNotProcessed(Exception):
    """Processing could not tell what to do with the batch: it is not committed and is read again."""


class MessageProcessor:
    """Runs one handler over batches of records for one consumer (service + topic)."""

    def __init__(
        self,
        *,
        service: str,
        consumer: str,
        contract: contracts.Contract[Any],
        handler: Handler,
        store_factory: StoreFactory,
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
        self.contract = contract
        self.handler = handler
        self.store_factory = store_factory
        self.pool_getter = pool_getter
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.stats = ConsumerStats()

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Process the batch until its transaction commits; never returns having skipped a record.

        Fast path: the whole batch in one transaction, no savepoints. If anything fails that is
        not the database's or the broker's state, the batch is rolled back and run again with a
        savepoint per message (its inbox claim, handler and outbox rows together), so a failing
        message is retried or dead-lettered alone and leaves no half-written effects. Transient
        failures (database away, read-only, credentials, privileges, timeouts, deadlocks) retry
        the batch with jittered backoff for as long as they last. Raises BatchNotProcessed only
        when even the isolated run fails on something that is not transient: the caller must then
        read the batch again rather than commit past it.
        """
        incoming = [Incoming.from_record(r).for_consumer(self.consumer) for r in records]
        backoff = Backoff(base=0.1, cap=5.0)
        isolate = False
        while True:
            started = time.perf_counter()
            try:
                async with self.pool_getter().acquire() as conn, conn.transaction():
                    outcomes = await self._process_batch(conn, incoming, isolate)
                break
            except _IsolateMessages:
                isolate = True
            except Exception as exc:
                if not is_transient(exc) and not isolate:
                    isolate = True  # e.g. the batch's inbox claim or outbox rows failed on content
                    continue
                self._failing(exc)
                if not is_transient(exc):
                    log.error(
                        "batch failed outside any one message; it will be read again",
                        extra={"consumer": self.consumer, "error": repr(exc)[:500]},
                    )
                    raise BatchNotProcessed(repr(exc)[:500]) from exc
                self.stats.retries += 1
                delay = backoff.next()
                log.warning(
                    "batch failed on a transient error; retrying",
                    extra={"consumer": self.consumer, "error": repr(exc)[:500], "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
        self.stats.failing_since = None
        self.stats.last_error = None
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

    def _failing(self, exc: BaseException) -> None:
        if self.stats.failing_since is None:
            self.stats.failing_since = time.monotonic()
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]

    async def _process_batch(self, conn: Conn, batch: list[Incoming], isolate: bool) -> list[str]:
        if isolate:
            outcomes = []
            seen: set[str] = set()
            for message in batch:
                if message.event_id in seen:  # a second copy in the same batch
                    outcomes.append("duplicate")
                    continue
                seen.add(message.event_id)
                outcomes.append(await self._process_isolated(conn, message))
            return outcomes
        claimed = await self._claim(conn, batch)
        outcomes = []
        # One store and one publisher for the batch's transaction: what the store keeps (locks
        # held, rows read) lasts the batch; a message run alone (after a failure) gets fresh ones.
        store, publisher = self.store_factory(conn), Publisher(self.service, self.topic_prefix)
        for message in batch:
            if message.event_id not in claimed:
                outcomes.append("duplicate")
                continue
            claimed.discard(message.event_id)  # a second copy in the same batch is a duplicate
            try:
                check_version(message, self.contract)
                await self.handler(MessageContext(message, self.contract, store, publisher))
            except Exception as exc:
                if is_transient(exc) or conn.is_closed():
                    raise
                raise _IsolateMessages from exc
            outcomes.append("processed")
        await outbox.add_rows(conn, publisher.rows)
        return outcomes

    async def _claim(self, conn: Conn, batch: Sequence[Incoming]) -> set[str]:
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
        """One message in savepoints of its own: processed, a duplicate, or dead-lettered."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with conn.transaction():
                    if not await self._claim(conn, [message]):
                        return "duplicate"
                    check_version(message, self.contract)
                    publisher = Publisher(self.service, self.topic_prefix)
                    await self.handler(
                        MessageContext(message, self.contract, self.store_factory(conn), publisher)
                    )
                    await outbox.add_rows(conn, publisher.rows)
                return "processed"
            except PoisonMessage as exc:
                await self._dead_letter(conn, message, exc.reason, exc.detail, attempt)
                return "dead_lettered"
            except Exception as exc:
                if is_transient(exc) or conn.is_closed():
                    raise
                if attempt >= self.max_attempts:
                    log.error(
                        "handler failed; dead-lettering",
                        extra={**self._where(message, attempt), "error": repr(exc)[:500]},
                    )
                    await self._dead_letter(
                        conn, message, "HANDLER_FAILED", f"{type(exc).__name__}: {exc}", attempt
                    )
                    return "dead_lettered"
                log.warning(
                    "handler failed; retrying",
                    extra={**self._where(message, attempt), "error": repr(exc)[:500]},
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
        """Record the message for `<topic>.dlq`, byte for byte, with why, and mark it processed.

        Key, headers and body go out as they arrived (bytes: nothing in them can make this fail);
        our dlq_* headers follow. The inbox claim is in the same savepoint: dead-lettered once."""
        async with conn.transaction():
            await self._claim(conn, [message])
            await outbox.add_raw(
                conn,
                topic=dead_letter_topic(message.topic),
                key=message.raw_key,
                body=message.body,
                raw_headers=message.raw_headers,
                headers=dead_letter_headers(message, self.consumer, reason, detail, attempts),
                event_id=dead_letter_id(self.consumer, message),
                type_="dead-letter",
            )
        log.warning("message dead-lettered", extra={**self._where(message, attempts), "reason": reason})


def dead_letter_id(consumer: str, message: Incoming) -> str:
    """Published at least once, like every outbox row: `dlq_id` tells copies apart from letters."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dlq:{consumer}:{message.event_id}"))


def dead_letter_headers(
    message: Incoming, consumer: str, reason: str, detail: str, attempts: int
) -> dict[str, str]:
    """The dlq_* headers of a dead letter (the original headers travel before them, unchanged)."""
    return {
        "dlq_id": dead_letter_id(consumer, message),
        "dlq_reason": reason,
        "dlq_error": detail[:2000],
        "dlq_original_topic": message.topic,
        "dlq_original_partition": str(message.partition),
        "dlq_original_offset": str(message.offset),
        "dlq_original_event_id": message.wire_id,
        "dlq_original_identity": message.event_id,
        "dlq_consumer": consumer,
        "dlq_attempts": str(attempts),
        "dlq_failed_at": clock.real_now().isoformat(),  # for operators: real time
    }
