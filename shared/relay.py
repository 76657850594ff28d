"""The outbox relay: one per schema (the holder of a lease) publishes the outbox's rows to Kafka
in insertion order.

What the relay promises (issue 9, C3 and C4):
- Each row has its own outcome. Acknowledged rows are marked at once. A row that can never be
  sent as it is (larger than the producer or the topic allows, a topic that does not exist or has
  an invalid name, no write permission, refused by the broker on its own) is *parked* with its
  reason: kept, skipped, counted in `/readyz` and `muba_outbox_parked`, listed by
  `muba outbox parked`, sent again once un-parked (README). Every other row flows.
- Per-key order: later rows of a parked row's topic and key are parked too ("held behind" it),
  so nothing of that key overtakes it; un-parking them together sends them in their order.
  Rows without a key carry no order in Kafka and are never held.
- A refused send breaks the idempotent producer's sequence for its partition (every later send
  there fails with OutOfOrderSequenceNumber): after any failed send the producer is replaced.
  Failures retry with jittered backoff, which starts again from the base after progress.
- The leader proves it is alive: it holds a lease (table outbox_lease, on the database's clock)
  that it renews at the start of every cycle, while it waits on Kafka (a heartbeat) and before
  sending when its last renewal is older than a third of the lease. A killed leader is replaced
  at once (its session is gone); a frozen one (SIGSTOP, a lost host) about `lease_s` after its
  last renewal; when it wakes, its renewal fails
  and it becomes a standby. What it had already handed to its producer may go out once more
  (at least once, as always). Its session, idle meanwhile, is ended by the server
  (idle_session_timeout).
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidProducerEpoch,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    PolicyViolationError,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    UnknownTopicOrPartitionError,
    UnsupportedForMessageFormatError,
)

from shared.backoff import Backoff
from shared.db import Conn, connect
from shared.kafka_security import KafkaConnection, kafka_producer
from shared.outbox import kafka_headers

log = logging.getLogger(__name__)


# The broker refused the record itself: sending it again as it is cannot succeed.
REFUSED_FOR_GOOD: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    CorruptRecordException,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
    PolicyViolationError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
# Failed only because an earlier batch of the same producer failed (its sequence is broken) or
# the producer was replaced: the row itself is fine and goes again with a new producer.
COLLATERAL: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)
# Session errors: this relay cannot renew its lease now.
SESSION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)

PRUNE_EVERY_S = 600.0
# (asyncio.timeout, not wait_for, inside the relay: on Python 3.11 wait_for may swallow a
# cancellation that arrives as its awaitable finishes, and the relay would then never stop.)
UNKNOWN_TOPIC_MEMORY_S = 60.0
PRODUCER_STOP_S = 5.0

# Take or renew the lease: granted when it is ours already, expired, not there at all, or held by
# a session that is gone (a killed leader: no need to wait for the expiry).
_TAKE_LEASE = (
    "INSERT INTO outbox_lease AS l (holder, pid, taken_at, expires_at)"
    " VALUES ($1, pg_backend_pid(), now(), now() + $2 * interval '1 second')"
    " ON CONFLICT (singleton) DO UPDATE SET holder = excluded.holder, pid = excluded.pid,"
    " expires_at = excluded.expires_at,"
    " taken_at = CASE WHEN l.holder = excluded.holder THEN l.taken_at ELSE now() END"
    " WHERE l.holder = excluded.holder OR l.expires_at < now()"
    " OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.pid)"
    " RETURNING true"
)

_PENDING = """
WITH head AS (
    SELECT id, octet_length(payload) + coalesce(octet_length(raw_headers), 0) AS size
    FROM outbox WHERE published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1
), within AS (
    SELECT id FROM (SELECT id, sum(size) OVER (ORDER BY id) - size AS before FROM head) s
    WHERE before < $2
)
SELECT o.id, o.topic, o.key, o.payload, o.headers, o.raw_headers, o.attempts,
       (SELECT p.id FROM outbox p
        WHERE p.parked_at IS NOT NULL AND p.published_at IS NULL AND p.topic = o.topic
          AND sha256(p.key) = sha256(o.key) AND p.key = o.key AND p.id < o.id
        ORDER BY p.id LIMIT 1) AS held_by
FROM outbox o JOIN within USING (id) ORDER BY o.id
"""


class LostLead(Exception):
    """This relay's lease could not be renewed: another relay may lead now."""


class _BrokerAway(Exception):
    """The cluster did not answer metadata: nothing can be decided about a topic now."""


@dataclass(frozen=True, slots=True)
class PendingRow:
    id: int
    topic: str
    key: bytes | None
    payload: bytes
    headers: dict[str, str]
    raw_headers: bytes | None
    attempts: int = 0
    # A parked row of the same topic and key that came first: this one waits behind it.
    held_by: int | None = None

    @property
    def order_key(self) -> tuple[str, bytes] | None:
        """Kafka keeps order per key (one partition); rows without a key have no order to keep."""
        return None if self.key is None else (self.topic, self.key)

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.key or b"") + len(self.raw_headers or b"")


@dataclass
class RelayStats:
    """What this process's relay did, for /stats and /metrics."""

    published: int = 0
    parked: int = 0
    send_failures: int = 0
    producer_restarts: int = 0
    leads_taken: int = 0
    leads_lost: int = 0
    last_error: str | None = None
    published_by_topic: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "parked": self.parked,
            "send_failures": self.send_failures,
            "producer_restarts": self.producer_restarts,
            "leads_taken": self.leads_taken,
            "leads_lost": self.leads_lost,
            "last_error": self.last_error,
        }


def _text(value: str, limit: int = 500) -> str:
    """What a text column can hold (no NUL), short enough for a list."""
    return value.replace("\x00", "\ufffd")[:limit]


def _error(exc: BaseException) -> str:
    return _text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


class LeaderSession:
    """The relay's one connection, shared by its publishing loop and its heartbeat: asyncpg runs
    one statement at a time per connection, so every use takes `_turn`."""

    def __init__(self, conn: asyncpg.Connection, lease_s: float) -> None:
        self.conn = conn
        self.lease_s = lease_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.renewed_at = float("-inf")  # time.monotonic() of the last renewal granted
        self._turn = asyncio.Lock()

    async def open(self) -> str:
        return str(await self.conn.fetchval("SELECT current_schema()"))

    async def try_lead(self) -> bool:
        """Take the lease if it is free (expired) or ours; renew it if ours."""
        asked = time.monotonic()
        async with self._turn:
            granted = bool(await self.conn.fetchval(_TAKE_LEASE, self.holder, self.lease_s))
        if granted:
            self.renewed_at = asked
        return granted

    def renewed_within(self, seconds: float) -> bool:
        """The lease was renewed that recently (a process that was frozen finds its last
        renewal old: monotonic time runs on while it is stopped)."""
        return time.monotonic() - self.renewed_at < seconds

    @property
    def fresh(self) -> bool:
        """Renewed lately enough to send under it."""
        return self.renewed_within(self.lease_s / 3)

    async def release(self) -> None:
        """Give the lease up (a clean stop): a standby need not wait for it to expire."""
        async with self._turn:
            await self.conn.execute("DELETE FROM outbox_lease WHERE holder = $1", self.holder)

    async def listen(self, channel: str, callback: Callable[..., Any]) -> None:
        async with self._turn:
            await self.conn.add_listener(channel, callback)

    async def prove(self) -> None:
        """Renew the lease or raise LostLead."""
        try:
            granted = await self.try_lead()
        except SESSION_ERRORS as exc:
            raise LostLead(_error(exc)) from exc
        if not granted:
            raise LostLead("another relay holds the outbox lease")

    async def pending(self, limit: int, budget_bytes: int) -> list[PendingRow]:
        async with self._turn:
            rows = await self.conn.fetch(_PENDING, limit, budget_bytes)
        return [
            PendingRow(
                r["id"],
                r["topic"],
                r["key"],
                r["payload"],
                r["headers"],
                r["raw_headers"],
                r["attempts"],
                r["held_by"],
            )
            for r in rows
        ]

    async def mark_published(self, ids: Sequence[int]) -> None:
        if ids:
            async with self._turn:
                await self.conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", list(ids)
                )

    async def park(self, parked: Sequence[tuple[int, str]]) -> None:
        if parked:
            async with self._turn:
                await self.conn.execute(
                    "UPDATE outbox SET parked_at = now(), park_reason = r.reason"
                    " FROM unnest($1::bigint[], $2::text[]) AS r(id, reason)"
                    " WHERE outbox.id = r.id AND outbox.published_at IS NULL",
                    [row_id for row_id, _ in parked],
                    [_text(reason) for _, reason in parked],
                )

    async def note_failure(self, row_id: int, error: str) -> int:
        """Count a failed send of this row alone; returns its attempts so far."""
        async with self._turn:
            attempts = await self.conn.fetchval(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1 RETURNING attempts",
                row_id,
                _text(error),
            )
        return int(attempts or 0)

    async def prune(self, keep_published: timedelta, keep_processed: timedelta) -> tuple[int, int]:
        async with self._turn:
            return await prune(self.conn, keep_published, keep_processed)


@dataclass
class _Cycle:
    """What one batch came to."""

    published: list[PendingRow] = field(default_factory=list)
    parked: list[tuple[PendingRow, str]] = field(default_factory=list)
    # Still pending because a send failed (or was not tried after a failure): retried.
    failed: int = 0
    error: str | None = None
    producer_broken: bool = False
    settled: set[int] = field(default_factory=set)
    # (topic, key) -> the first row of it parked in this cycle: later rows of the key wait behind it.
    parked_keys: dict[tuple[str, bytes], int] = field(default_factory=dict)

    @property
    def progress(self) -> bool:
        return bool(self.published or self.parked)

    def park(self, row: PendingRow, reason: str) -> None:
        self.parked.append((row, reason))
        if row.order_key is not None:
            self.parked_keys.setdefault(row.order_key, row.id)


async def _acknowledged(
    in_flight: Sequence[tuple[PendingRow, asyncio.Future[Any]]], cycle: _Cycle
) -> dict[int, BaseException | None]:
    """Wait for every send in flight: acknowledged rows join `cycle.published`; the others'
    errors are returned by row id (a failed send also breaks the producer's sequence)."""
    results = await asyncio.gather(*(future for _, future in in_flight), return_exceptions=True)
    outcome: dict[int, BaseException | None] = {}
    for (row, _), result in zip(in_flight, results, strict=True):
        if isinstance(result, BaseException):
            outcome[row.id] = result
            cycle.producer_broken = True
        else:
            outcome[row.id] = None
            cycle.published.append(row)
    return outcome


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        kafka: KafkaConnection,
        batch_size: int = 500,
        idle_poll_s: float = 1.0,
        keep_published: timedelta = timedelta(days=7),
        keep_processed: timedelta = timedelta(days=14),
        *,
        lease_s: float = 5.0,
        batch_bytes: int = 16 * 1024 * 1024,
        metadata_wait_s: float = 10.0,
        max_attempts: int = 5,
        stale_after_s: float = 60.0,
        producer_options: Mapping[str, Any] | None = None,
    ) -> None:
        """`lease_s`: how long a lead lasts without renewal; a standby takes over about that
        long after the leader froze. `metadata_wait_s`: how long a topic
        may be missing from the cluster's metadata before its rows are parked. `max_attempts`:
        sends of one row alone, refused with an error that is not known to be final, before it
        is parked. `stale_after_s`: readiness goes red when the oldest pending row is older."""
        if lease_s < 2.0:
            raise ValueError("lease_s must be at least 2 s")
        self.keep_published = keep_published
        self.keep_processed = keep_processed
        self.dsn = dsn
        self.kafka = kafka
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.idle_poll_s = idle_poll_s
        self.lease_s = lease_s
        self.metadata_wait_s = metadata_wait_s
        self.max_attempts = max_attempts
        self.stale_after_s = stale_after_s
        self.producer_options = dict(producer_options or {})
        self.stats = RelayStats()
        self.is_leader = False
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unknown_topics: dict[str, tuple[float, str]] = {}

    @property
    def published(self) -> int:
        return self.stats.published

    @property
    def published_by_topic(self) -> Counter[str]:
        return self.stats.published_by_topic

    def session_settings(self) -> dict[str, str]:
        """The relay's session: ended by the server after two leases without a statement (a
        leader that froze or lost its network leaves no session behind)."""
        idle_ms = str(int(2 * self.lease_s * 1000))
        return {
            "idle_session_timeout": idle_ms,
            "idle_in_transaction_session_timeout": idle_ms,
            "statement_timeout": "30000",
            "lock_timeout": "5000",
            "application_name": "muba-outbox-relay",
        }

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

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    async def _run_forever(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            done_before = self.stats.published + self.stats.parked
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.is_leader:
                    self.stats.leads_lost += 1
                if self.stats.published + self.stats.parked > done_before:
                    backoff.reset()
                delay = backoff.next()
                self.stats.last_error = _error(exc)
                log.warning(
                    "outbox relay failed; retrying",
                    extra={"error": _error(exc), "retry_in_s": round(delay, 3)},
                )
                await self._pause(delay)
            finally:
                self.is_leader = False

    async def _lead(self) -> None:
        """Wait for the schema's lease, then publish until stopped or the lead is lost."""
        conn = await connect(self.dsn, server_settings=self.session_settings())
        try:
            session = LeaderSession(conn, self.lease_s)
            schema = await session.open()
            while not await session.try_lead():
                if self._stop.is_set():
                    return
                await self._pause(min(1.0, self.lease_s / 4))
            self.is_leader = True
            self.stats.leads_taken += 1
            log.info("outbox relay leads", extra={"schema": schema})
            await session.listen(f"outbox_{schema}", lambda *_: self._wake.set())
            work = asyncio.create_task(self._publish_loop(session), name="outbox-relay-publish")
            beat = asyncio.create_task(self._heartbeat(session), name="outbox-relay-heartbeat")
            try:
                done, _ = await asyncio.wait({work, beat}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (work, beat):
                    task.cancel()
                await asyncio.gather(work, beat, return_exceptions=True)
                if self._stop.is_set():
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(2.0):
                            await session.release()
            for task in done:
                task.result()  # LostLead, a database or Kafka error: the caller retries
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await conn.close()
            if not conn.is_closed():
                conn.terminate()

    async def _heartbeat(self, session: LeaderSession) -> None:
        """Keep the session busy while the loop waits on Kafka (a live leader is never taken for
        a frozen one) and notice a lost lead even then."""
        while True:
            await asyncio.sleep(self.lease_s / 4)
            await session.prove()

    async def _publish_loop(self, session: LeaderSession) -> None:
        backoff = Backoff()
        producer = await self._start_producer()
        pruned_at = time.monotonic()
        try:
            await self._prune(session)
            while True:
                self._wake.clear()
                # Every cycle runs under a lease proven within the last moment (renewed at most
                # every lease/10 under load: one small write, not one per batch).
                if not session.renewed_within(self.lease_s / 10):
                    await session.prove()
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    # On a timer, busy or not: under steady load the relay never sees an empty poll.
                    pruned_at = time.monotonic()
                    await self._prune(session)
                rows = await session.pending(self.batch_size, self.batch_bytes)
                cycle, producer = await self._publish(session, producer, rows)
                if cycle.progress:
                    backoff.reset()
                if cycle.failed:
                    self.stats.send_failures += cycle.failed
                    self.stats.last_error = cycle.error
                    if self._stop.is_set():
                        return  # stopping: the next leader sends them
                    delay = backoff.next()
                    log.warning(
                        "outbox rows not sent; retrying",
                        extra={"rows": cycle.failed, "error": cycle.error, "retry_in_s": round(delay, 3)},
                    )
                    await self._pause(delay)
                    continue
                if rows and self._maybe_more(rows):
                    continue  # the batch was cut: more are waiting
                # Every row committed before this cycle's query was in it: a later one wakes the
                # relay with its NOTIFY (set since the cycle began, the wait below returns at once),
                # so a cycle that was not cut needs no second query to find the table empty.
                if self._stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_poll_s):
                        await self._wake.wait()
        finally:
            await _close_producer(producer)

    def _maybe_more(self, rows: list[PendingRow]) -> bool:
        """Whether the pending query stopped at its row or byte limit (as _PENDING counts bytes)."""
        if len(rows) >= self.batch_size:
            return True
        return sum(len(r.payload) + len(r.raw_headers or b"") for r in rows) >= self.batch_bytes

    async def _prune(self, session: LeaderSession) -> None:
        published, processed = await session.prune(self.keep_published, self.keep_processed)
        if published or processed:
            log.info("outbox and inbox pruned", extra={"outbox_rows": published, "inbox_rows": processed})

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = kafka_producer(self.kafka, **self.producer_options)
        try:
            await producer.start()
        except BaseException:
            await _close_producer(producer)
            raise
        return producer

    async def _renew(self, producer: AIOKafkaProducer) -> AIOKafkaProducer:
        """A fresh idempotent producer: new producer id, sequences from zero."""
        await _close_producer(producer)
        self.stats.producer_restarts += 1
        return await self._start_producer()

    async def _topic_problem(self, producer: AIOKafkaProducer, topic: str) -> str | None:
        """Why rows for `topic` cannot be sent, or None. Raises _BrokerAway when it cannot tell."""
        remembered = self._unknown_topics.get(topic)
        if remembered is not None and remembered[0] > time.monotonic():
            return remembered[1]
        try:
            async with asyncio.timeout(self.metadata_wait_s):
                await producer.partitions_for(topic)
            return None
        except TopicAuthorizationFailedError:
            return f"not allowed to write to topic {topic!r} (TopicAuthorizationFailed)"
        except (UnknownTopicOrPartitionError, TimeoutError):
            pass
        answered = False
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                answered = bool(await producer.client.force_metadata_update())
        if not answered:
            raise _BrokerAway(f"no metadata for topic {topic!r}: the cluster does not answer")
        reason = (
            f"topic {topic!r} does not exist or its name is not valid: the cluster's metadata"
            f" had no partitions for it after {self.metadata_wait_s:g} s"
        )
        self._unknown_topics[topic] = (time.monotonic() + UNKNOWN_TOPIC_MEMORY_S, reason)
        return reason

    async def _publish(
        self, session: LeaderSession, producer: AIOKafkaProducer, rows: Sequence[PendingRow]
    ) -> tuple[_Cycle, AIOKafkaProducer]:
        """Send `rows` in order; mark what was acknowledged, park what can never be sent, leave
        the rest pending (counted in `failed`). Returns the producer to use next."""
        cycle = _Cycle()
        in_flight, untried = await self._send_in_order(session, producer, rows, cycle)
        outcome = await _acknowledged(in_flight, cycle)
        # Marked as soon as acknowledged, before anything is retried: never sent twice for that.
        await self._settle(session, cycle)
        producer = await self._retry_refused(session, producer, [row for row, _ in in_flight], outcome, cycle)
        cycle.failed += len(untried)
        await self._settle(session, cycle)
        if cycle.producer_broken:
            producer = await self._renew(producer)
        return cycle, producer

    async def _send_in_order(
        self, session: LeaderSession, producer: AIOKafkaProducer, rows: Sequence[PendingRow], cycle: _Cycle
    ) -> tuple[list[tuple[PendingRow, asyncio.Future[Any]]], list[PendingRow]]:
        """Hand each row to the producer, parking the ones that can never go; stop at the first
        failure of the producer itself. Returns the rows in flight and the rows not tried."""
        topics: dict[str, str | None] = {}
        in_flight: list[tuple[PendingRow, asyncio.Future[Any]]] = []
        for index, row in enumerate(rows):
            if not session.fresh:
                await session.prove()  # e.g. woken after a freeze: lead no more unless still ours
            root = row.held_by or (cycle.parked_keys.get(row.order_key) if row.order_key else None)
            if root is not None:
                cycle.park(row, f"held behind parked row {root} of the same topic and key (kept in order)")
                continue
            try:
                if row.topic not in topics:
                    topics[row.topic] = await self._topic_problem(producer, row.topic)
            except _BrokerAway as exc:
                cycle.error = str(exc)
                return in_flight, list(rows[index:])
            problem = topics[row.topic]
            if problem is not None:
                cycle.park(row, problem)
                cycle.producer_broken = True  # forget the topic: the producer asks for it otherwise
                continue
            try:
                headers = kafka_headers(row.raw_headers, row.headers)
                future = await producer.send(row.topic, value=row.payload, key=row.key, headers=headers)
            except MessageSizeTooLargeError as exc:
                cycle.park(row, f"too large to send ({row.size} bytes and headers): {exc}")
                continue
            except KafkaError as exc:  # the producer takes nothing more now (buffer full, failed)
                cycle.error = _error(exc)
                cycle.producer_broken = True
                return in_flight, list(rows[index:])
            except Exception as exc:  # the row itself: headers, key or value the client refuses
                cycle.park(row, f"cannot be sent: {_error(exc)}")
                continue
            in_flight.append((row, future))
        return in_flight, []

    async def _retry_refused(
        self,
        session: LeaderSession,
        producer: AIOKafkaProducer,
        sent: Sequence[PendingRow],
        outcome: dict[int, BaseException | None],
        cycle: _Cycle,
    ) -> AIOKafkaProducer:
        """Rows the broker refused: alone with a fresh producer each, to tell the row that cannot
        be sent from the ones that only shared its batch or its broken sequence."""
        blocked: set[tuple[str, bytes]] = set()  # an earlier row of the key is still pending
        for row in sent:
            error = outcome[row.id]
            if error is None:
                continue
            if row.order_key in cycle.parked_keys:
                cycle.park(
                    row,
                    f"held behind parked row {cycle.parked_keys[row.order_key]} of the same topic and key",
                )
            elif isinstance(error, COLLATERAL) or row.order_key in blocked:
                cycle.failed += 1
                cycle.error = cycle.error or _error(error)
                if row.order_key is not None:
                    blocked.add(row.order_key)
            else:
                if cycle.producer_broken:
                    producer = await self._renew(producer)
                    cycle.producer_broken = False
                if not session.fresh:
                    await session.prove()
                verdict = await self._send_alone(session, producer, row)
                if verdict is None:
                    cycle.published.append(row)
                elif isinstance(verdict, str):
                    cycle.park(row, verdict)
                    cycle.producer_broken = True
                else:
                    cycle.failed += 1
                    cycle.error = _error(verdict)
                    cycle.producer_broken = True
                    if row.order_key is not None:
                        blocked.add(row.order_key)
            await self._settle(session, cycle)
        return producer

    async def _settle(self, session: LeaderSession, cycle: _Cycle) -> None:
        """Write down the outcomes not written yet (published, parked)."""
        published = [row for row in cycle.published if row.id not in cycle.settled]
        parked = [(row, reason) for row, reason in cycle.parked if row.id not in cycle.settled]
        await session.mark_published([row.id for row in published])
        await session.park([(row.id, reason) for row, reason in parked])
        for row in published:
            cycle.settled.add(row.id)
            self.stats.published += 1
            self.stats.published_by_topic[row.topic] += 1
        by_cause: dict[tuple[str, str], list[PendingRow]] = {}
        for row, reason in parked:
            cycle.settled.add(row.id)
            self.stats.parked += 1
            cause = "held behind a parked row" if reason.startswith("held behind") else reason
            by_cause.setdefault((row.topic, cause), []).append(row)
        for (topic, cause), rows in by_cause.items():  # one line per cause, not per row
            log.error(
                "outbox rows parked",
                extra={
                    "rows": len(rows),
                    "outbox_ids": [row.id for row in rows[:10]],
                    "topic": topic,
                    "bytes": max(row.size for row in rows),
                    "reason": cause,
                },
            )

    async def _send_alone(
        self, session: LeaderSession, producer: AIOKafkaProducer, row: PendingRow
    ) -> str | BaseException | None:
        """Send one row by itself: None when acknowledged, a reason when it can never be sent,
        the error when it may succeed later."""
        try:
            future = await producer.send(
                row.topic, value=row.payload, key=row.key, headers=kafka_headers(row.raw_headers, row.headers)
            )
            await future
            return None
        except REFUSED_FOR_GOOD as exc:
            return f"refused by the broker ({row.size} bytes and headers): {_error(exc)}"
        except COLLATERAL as exc:
            return exc
        except Exception as exc:
            attempts = await session.note_failure(row.id, _error(exc))
            if attempts >= self.max_attempts:
                return f"refused {attempts} times, sent alone: {_error(exc)}"
            return exc


async def _close_producer(producer: AIOKafkaProducer) -> None:
    """Stop a producer within PRODUCER_STOP_S. stop() waits for every pending batch, which the
    idempotent producer retries for ever while the broker is away; then end it the hard way."""
    try:
        async with asyncio.timeout(PRODUCER_STOP_S):
            await producer.stop()
        return
    except Exception as exc:
        log.warning("Kafka producer did not stop cleanly; closing it", extra={"error": _error(exc)})
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        with contextlib.suppress(Exception):
            await sender.close()
    with contextlib.suppress(Exception):
        await producer.client.close()


async def prune(
    conn: Conn, keep_published: timedelta, keep_processed: timedelta, chunk: int = 5000
) -> tuple[int, int]:
    """Forget published outbox rows and processed inbox ids once they are old enough, in chunks
    (each a short statement, whatever the table's size; parked rows are never published, so stay).

    Inbox ids are kept longer than Kafka keeps messages (7 days here), so that a redelivery can
    never find its id gone. Returns how many rows of each were removed.
    """
    published = processed = 0
    while True:
        gone = int(
            await conn.fetchval(
                "WITH gone AS (DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
                " WHERE published_at < now() - $1::interval ORDER BY id LIMIT $2) RETURNING 1)"
                " SELECT count(*) FROM gone",
                keep_published,
                chunk,
            )
        )
        published += gone
        if gone < chunk:
            break
    while True:
        gone = int(
            await conn.fetchval(
                "WITH gone AS (DELETE FROM inbox WHERE ctid = ANY (ARRAY(SELECT ctid FROM inbox"
                " WHERE processed_at < now() - $1::interval LIMIT $2)) RETURNING 1)"
                " SELECT count(*) FROM gone",
                keep_processed,
                chunk,
            )
        )
        processed += gone
        if gone < chunk:
            break
    return published, processed
