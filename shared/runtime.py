"""The composition root every service shares: broker, pool, migrations, outbox relay, health.

A service's app.py builds a ServiceRuntime, subscribes its handlers and returns
`runtime.asgi_app()`. Nothing is built at import time; the pool and the relay start in the
lifespan, before the broker's subscribers, and stop after them.
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Scope
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber

from shared import access, asyncapi, asyncapi_html, clock, topics
from shared.backoff import Backoff
from shared.consumer import Handler, MessageContext, MessageProcessor
from shared.contracts import Contract
from shared.db import Conn, create_pool, migrate
from shared.events import EventModel
from shared.http_access import (
    MAX_BODY_BYTES,
    OFFICE_AND_AUDITOR,
    OFFICE_ONLY,
    GuardedAsgi,
    Query,
    Role,
    Tokens,
    Write,
    api_endpoint,
    audit_log,
    refuse_default_token_off_loopback,
)
from shared.http_access import BadRequest as BadRequest  # the services' import of it
from shared.http_access import NotFound as NotFound
from shared.kafka_admin import provision_until_done, wait_for_topics
from shared.logging import setup_logging
from shared.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shared.metrics import ServiceMetrics
from shared.outbox import outbox_status, parked_rows
from shared.relay import OutboxRelay
from shared.scheduler import Job, Scheduler, default_poll_s
from shared.settings import ServiceSettings

# How long a consumer's poll waits for records. aiokafka's getmany returns as soon as records
# are there, so this is not a delay; it is how often an idle consumer wakes (twice a second).
POLL_TIMEOUT_MS = 500
FETCH_MAX_WAIT_MS = 2000


async def _poll_batch(
    self: BatchSubscriber, consumer: AIOKafkaConsumer
) -> tuple[ConsumerRecord[Any, Any], ...]:
    """FastStream 0.7.8's BatchSubscriber.get_msg without its sleep after an empty poll: that
    sleep (as long as the poll's timeout) kept a record arriving meanwhile waiting, so the timeout
    had to be short (20 ms), and every idle consumer woke 25 times a second."""
    messages = await consumer.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
    return tuple(record for records in messages.values() for record in records)


BatchSubscriber.get_msg = _poll_batch  # type: ignore[method-assign]

log = logging.getLogger(__name__)
E = TypeVar("E", bound=EventModel)
S = TypeVar("S")

# How long a consumer-group member that stopped heartbeating (killed, frozen, scaled in: static
# members never send LeaveGroup) keeps its partitions before a twin gets them. A restart quicker
# than this rejoins without a rebalance; a frozen member's database locks are gone by then
# (idle_in_transaction_session_timeout 10 s, deploy/sql/init.sql).
SESSION_TIMEOUT_MS = 10_000


def _raw_body(message: Any) -> Any:
    """Hand the handler raw records: decoding (and its failures) belong to MessageProcessor."""
    return None


async def _raw_batch(
    records: Sequence[ConsumerRecord[Any, Any]],
    original: Callable[[Sequence[ConsumerRecord[Any, Any]]], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream's batch parser, shown the records without their headers.

    Its own parser decodes every header as UTF-8 (and fails on a null value) before any code of
    ours runs, and under MANUAL acks such a failure is swallowed while the consumer's position has
    moved on. The records, headers and all, stay in `raw_message` for MessageProcessor."""
    message = await original(tuple(dataclasses.replace(r, headers=()) for r in records))
    message.raw_message = tuple(records)
    return message


def batch_offsets(
    records: Sequence[ConsumerRecord[Any, Any]],
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Per partition of a batch: its first offset (where to read again) and the next one (to commit)."""
    first: dict[TopicPartition, int] = {}
    after: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        first[tp] = min(first.get(tp, r.offset), r.offset)
        after[tp] = max(after.get(tp, r.offset + 1), r.offset + 1)
    return first, after


class BatchConsumer:
    """What FastStream calls with each batch: process it, then commit exactly its offsets; on
    any failure, seek back and read it again (with backoff).

    Nothing may leave `__call__` with the consumer's position past records that were not
    processed: FastStream would swallow the error and the next commit would skip them."""

    def __init__(self, processor: MessageProcessor) -> None:
        self.processor = processor
        self.backoff = Backoff(base=0.5, cap=30.0)

    async def __call__(self, message: KafkaMessage) -> None:
        raw = message.raw_message
        records = tuple(raw) if isinstance(raw, list | tuple) else (raw,)
        consumer = message.consumer
        first, after = batch_offsets(records)
        try:
            await self.processor.process(records)
        except BaseException as exc:
            if isinstance(consumer, AIOKafkaConsumer):
                for tp, offset in first.items():
                    with contextlib.suppress(IllegalStateError, KafkaError, AssertionError):
                        consumer.seek(tp, offset)  # not ours any more after a rebalance: fine
            if not isinstance(exc, Exception):
                raise  # cancelled (shutdown): the batch is not committed, its next owner reads it
            delay = self.backoff.next()
            log.error(
                "batch not processed; reading it again",
                extra={"consumer": self.processor.consumer, "error": repr(exc)[:500], "retry_in_s": delay},
            )
            await asyncio.sleep(delay)
            return
        self.backoff.reset()
        if not isinstance(consumer, AIOKafkaConsumer):
            return  # FastStream's TestKafkaBroker: its fake consumer keeps no offsets
        try:
            await consumer.commit(after)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance took the partition: its new owner reads the batch again and the
            # inbox turns every message of it into a no-op.
            log.warning(
                "offset commit failed", extra={"consumer": self.processor.consumer, "error": repr(exc)}
            )


def conn_store(conn: Conn) -> Conn:
    """The store of a service whose handlers call its repository on the connection itself."""
    return conn


class ServiceRuntime(Generic[S]):
    """`store(conn)` makes the service's store for one transaction (a batch's, or one message's
    when it runs alone): what its handlers get as `ctx.store`."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        migrations: Path,
        store: Callable[[Conn], S],
    ) -> None:
        self.name = name
        self.store = store
        self.settings = settings
        self.migrations = migrations
        self.kafka = settings.kafka(name)
        self.broker = KafkaBroker(
            self.kafka.servers,
            security=self.kafka.security(),
            client_id=f"muba-{name}",
            # A new partner's intake topic is found (and read) within seconds.
            metadata_max_age_ms=3000,
            # Our own structured, masked lines (shared.logging) instead of FastStream's per-message ones.
            logger=None,
            # On SIGTERM: finish (and commit) the batch in hand before leaving the group.
            graceful_timeout=10.0,
        )
        self.relay = OutboxRelay(settings.database_url, self.kafka)
        self.processors: list[MessageProcessor] = []
        self.metrics = ServiceMetrics(
            self.processors, lambda: self.relay.published_by_topic, lambda: self.relay.stats
        )
        self.api_routes: list[tuple[str, ASGIApp]] = []
        self.writable_paths: set[str] = set()  # the endpoints that take a PUT
        self.body_limits: dict[str, int] = {}  # a PUT's body limit, where it is not MAX_BODY_BYTES
        self.callback_routes: list[tuple[str, ASGIApp]] = []  # providers' POSTs (signed by them)
        self.api("outbox/parked", parked_rows)
        self.api("audit", audit_log, roles=OFFICE_AND_AUDITOR)
        self._tokens: Tokens | None = None
        self.background: list[Background] = []
        self.scheduler: Scheduler | None = None
        self._pool: asyncpg.Pool | None = None
        self.gauge_reads: list[Callable[[Conn], Awaitable[Mapping[str, tuple[str, float]]]]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name}: the database pool is not open (the app has not started)")
        return self._pool

    def subscribe(
        self,
        contract: Contract[E],
        handler: Callable[[MessageContext[E, S]], Awaitable[None]],
        *,
        group_id: str | None = None,
    ) -> MessageProcessor:
        """Consume `contract`'s topic with `handler` in consumer group `group_id` (default
        `<service>.<topic>`: one group per subscriber, so a consumer joining one does not rebalance
        the others). A per-partner contract is read on every partner's intake, `<topic>.<partner>`,
        those added later too (shared.topics.intake_pattern)."""
        if self.name not in contract.consumers:
            raise ValueError(f"{self.name} is not a consumer of {contract.topic} (shared/contracts.py)")
        topic = contract.topic
        every_partner = contract.per_partner
        group = self.settings.topic_prefix + (group_id or f"{self.name}.{topic}")
        processor = MessageProcessor(
            service=self.name,
            consumer=group if group_id is None else f"{group}:{topic}",
            contract=contract,
            handler=cast(Handler, handler),
            store_factory=self.store,
            pool_getter=lambda: self.pool,
            max_attempts=self.settings.handler_max_attempts,
            topic_prefix=self.settings.topic_prefix,
            topic=topic,
            on_batch=self.metrics.observe_batch,
        )
        self.processors.append(processor)

        batch_consumer = BatchConsumer(processor)

        async def consume(message: KafkaMessage) -> None:
            await batch_consumer(message)

        consume.__name__ = getattr(handler, "__name__", "handler")
        where: dict[str, Any] = (
            {"pattern": topics.intake_pattern(self.settings.topic_prefix)} if every_partner else {}
        )
        self.broker.subscriber(
            *(() if every_partner else (self.settings.topic(topic),)),
            **where,
            group_id=group,
            batch=True,
            max_records=self.settings.consumer_batch_size,
            batch_timeout_ms=POLL_TIMEOUT_MS,
            # The broker answers a fetch as soon as a record is there: this bounds only how often an
            # idle consumer's fetch comes back empty (aiokafka's default: every 500 ms).
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            parser=_raw_batch,
            decoder=_raw_body,
            group_instance_id=f"{group}-{self.settings.instance_id}" if self.settings.instance_id else None,
            max_poll_interval_ms=600_000,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 5,
            title=f"{self.name}:{handler.__name__}",
        )(consume)
        return processor

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        setup_logging(self.name, self.settings.log_level)
        clock.check_skew()  # the programme clock's settings: refused here, before anything runs
        applied = await migrate(self.settings.database_url, self.migrations)
        log.info("service starting", extra={"migrations_applied": applied})
        if self.settings.kafka_provision_at_start:
            await provision_until_done(
                self.kafka.as_principal(access.ADMIN), self.settings.topic_prefix, self.name
            )
        else:
            await wait_for_topics(self.kafka, self.settings.topic_prefix, self.name)
        self._pool = await create_pool(
            self.settings.database_url, self.settings.db_pool_min_size, self.settings.db_pool_max_size
        )
        self.relay.start()
        started: list[Background] = []
        try:
            for task in self.background:
                task.start()
                started.append(task)
            yield
        finally:
            for task in reversed(started):
                await task.stop()
            await self.relay.stop()
            await self._pool.close()
            self._pool = None
            log.info("service stopped")

    async def measure_lag(self) -> None:
        """Lag and assignment of this process's consumers, for /metrics."""
        self.metrics.lag.clear()
        for subscriber in self.broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            group = getattr(consumer, "_group_id", None) or "?"
            if consumer is None:
                continue
            assignment = consumer.assignment()
            self.metrics.assigned.labels(group).set(len(assignment))
            for tp in assignment:
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue
                with contextlib.suppress(Exception):
                    position = await consumer.position(tp)
                    self.metrics.lag.labels(group, tp.topic, str(tp.partition)).set(
                        max(highwater - position, 0)
                    )

    async def ready(self) -> dict[str, Any]:
        checks: dict[str, Any] = {"broker": False, "database": False}
        with contextlib.suppress(Exception):
            checks["broker"] = bool(await self.broker.ping(timeout=3.0))
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3.0):
                async with self.pool.acquire() as conn:
                    outbox = await outbox_status(conn)
                    checks["database"] = True
                    checks["outbox_backlog"] = outbox.backlog
                    checks["outbox_oldest_pending_s"] = outbox.oldest_pending_s
                    checks["outbox_parked"] = outbox.parked
                    # Some relay of this schema (this process's or another's) leads, and the
                    # oldest pending row is not older than a relay that works would leave it.
                    checks["outbox_leader_present"] = outbox.leader_present
                    checks["outbox_stale"] = outbox.stale(self.relay.stale_after_s)
        checks["outbox_relay_leader"] = self.relay.is_leader
        # A consumer retrying a batch (database read-only, credentials refused...) is not ready.
        checks["consumers_failing"] = {
            p.consumer: p.stats.last_error for p in self.processors if p.stats.failing_since is not None
        }
        return checks

    def add_background(self, task: "Background") -> None:
        """Run `task` beside the consumers: started once the pool is open, stopped before it closes."""
        self.background.append(task)

    def schedule(self, job: Job) -> None:
        """Run `job` once per due moment of the programme clock, across this service's instances
        (shared/scheduler.py): started with the other background tasks, after the migrations."""
        if self.scheduler is None:
            self.scheduler = Scheduler(
                [],
                lambda: self.pool,
                instance=self.settings.instance_id or f"{socket.gethostname()}:{os.getpid()}",
                poll_s=self.settings.scheduler_poll_s or default_poll_s(clock.speed()),
                max_runs_per_poll=self.settings.scheduler_max_runs_per_poll,
                on_run=self.metrics.observe_scheduled_run,
            )
            self.add_background(self.scheduler)
        self.scheduler.add(job)

    def gauges(self, read: Callable[[Conn], Awaitable[Mapping[str, tuple[str, float]]]]) -> None:
        """Service gauges for /metrics, read at each scrape from the service's schema:
        `read(conn)` answers {name: (help, value)} (e.g. the programme's coverage numbers). A read
        that fails leaves the gauges as they were (the scrape still answers)."""
        self.gauge_reads.append(read)

    async def read_gauges(self) -> None:
        for read in self.gauge_reads:
            try:
                async with self.pool.acquire() as conn:
                    values = await read(conn)
            except Exception:  # the scrape must answer; the service's health says what is wrong
                log.warning("service gauges not read", exc_info=True)
                continue
            for name, (help_text, value) in values.items():
                self.metrics.gauge(name, help_text).set(value)

    def api(
        self,
        path: str,
        query: Query,
        *,
        roles: Collection[Role] = OFFICE_ONLY,
        personal_data: bool = False,
        write: Write | None = None,
        write_roles: Collection[Role] = OFFICE_ONLY,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """A read endpoint `GET /api/<path>` for the tokens of `roles` (shared/http_access.py):
        `query(conn, params)` answers with JSON-able data or raises NotFound / BadRequest; a query
        that admits companies scopes its answer by `params.caller`. Each call is audited. With
        `write`, `PUT /api/<path>` too, for `write_roles`: `write(conn, params, body's JSON)`."""
        endpoint = f"/api/{path}"
        handler = api_endpoint(
            endpoint,
            query,
            tokens=lambda: self.tokens,
            pool=lambda: self.pool,
            roles=roles,
            personal_data=personal_data,
            write=write,
            write_roles=write_roles,
            max_body_bytes=max_body_bytes,
        )
        self.api_routes.append((endpoint, handler))
        if write is not None:
            self.writable_paths.add(endpoint)
            self.body_limits[endpoint] = max_body_bytes

    def callback(self, path: str, app: ASGIApp) -> None:
        """A provider's callback `POST <path>` (a delivery receipt): past the gate without a token,
        a small body with a Content-Length; `app` must check the provider's signature itself."""
        self.callback_routes.append((path, app))

    @property
    def tokens(self) -> Tokens:
        """The tokens the settings name, read once (AccessConfigError when unusable)."""
        if self._tokens is None:
            self._tokens = Tokens.configured(
                self.settings.operator_token,
                self.settings.operator_token_file,
                self.settings.api_tokens_file,
            )
        return self._tokens

    def asgi_app(self, routes: Sequence[tuple[str, ASGIApp]] = ()) -> AsgiFastStream:
        """The service's HTTP side behind the gate of shared/http_access.py. Raises
        AccessConfigError (the service must not start) when the tokens are unusable, or when the
        default token would be served beyond loopback."""
        refuse_default_token_off_loopback(self.settings.http_host, self.tokens)
        runtime = self

        @get(include_in_schema=False)
        async def healthz(scope: Scope) -> AsgiResponse:
            return _json({"status": "up", "service": runtime.name})

        @get(include_in_schema=False)
        async def readyz(scope: Scope) -> AsgiResponse:
            checks = await runtime.ready()
            ok = is_ready(checks)
            return _json({"status": "ready" if ok else "not ready", **checks}, 200 if ok else 503)

        @get(include_in_schema=False)
        async def stats(scope: Scope) -> AsgiResponse:
            return _json(
                {p.consumer: vars(p.stats) for p in runtime.processors}
                | {"outbox_published": runtime.relay.published, "outbox_relay": runtime.relay.stats.as_dict()}
            )

        @get(include_in_schema=False)
        async def metrics(scope: Scope) -> AsgiResponse:
            checks = await runtime.ready()
            runtime.metrics.ready.set(1 if is_ready(checks) else 0)
            runtime.metrics.observe_outbox(checks)
            await runtime.measure_lag()
            await runtime.read_gauges()
            return AsgiResponse(runtime.metrics.render(), 200, headers={"content-type": METRICS_CONTENT_TYPE})

        return GuardedAsgi(
            self.broker,
            tokens=self.tokens,
            writable=frozenset(self.writable_paths),
            body_limits=self.body_limits,
            callbacks=frozenset(path for path, _ in self.callback_routes),
            asgi_routes=[
                ("/healthz", healthz),
                ("/readyz", readyz),
                ("/metrics", metrics),
                ("/stats", stats),
                *self.api_routes,
                *self.callback_routes,
                *docs_routes(self.name),
                *routes,
            ],
            lifespan=lambda: self.lifespan(),
            logger=logging.getLogger(f"muba.{self.name}"),
        )


def docs_routes(service: str) -> list[tuple[str, ASGIApp]]:
    """`GET /docs/asyncapi.json` and `.yaml`: the very bytes of docs/asyncapi/<service>.*
    (shared.asyncapi), and `/docs/asyncapi`: that document as a page needing nothing from outside
    the service (shared.asyncapi_html). The gate (shared.http_access.screen) admits office and
    auditor tokens only. Only GET and HEAD: FastStream's AsyncAPIRoute, with its CDN-loaded page
    and its POST "try it out" (which published anything to any topic), is not mounted."""
    if service not in asyncapi.DESCRIPTIONS:
        return []  # a runtime of no contract (tests' own services): nothing to document

    def serve(body: Callable[[], str], content_type: str, extra: dict[str, str] | None = None) -> ASGIApp:
        headers = {"content-type": content_type, "x-content-type-options": "nosniff", **(extra or {})}

        @get(include_in_schema=False)
        async def handler(scope: Scope) -> AsgiResponse:
            return AsgiResponse(body().encode(), 200, headers=headers)

        return handler

    return [
        ("/docs/asyncapi.json", serve(lambda: asyncapi.json_text(service), "application/json")),
        ("/docs/asyncapi.yaml", serve(lambda: asyncapi.yaml_text(service), "application/yaml")),
        (
            "/docs/asyncapi",
            serve(
                lambda: asyncapi_html.html_text(service),
                "text/html; charset=utf-8",
                {"content-security-policy": asyncapi_html.CONTENT_SECURITY_POLICY},
            ),
        ),
    ]


def is_ready(checks: dict[str, Any]) -> bool:
    """Broker and database answer, no consumer is retrying a batch, a relay leads this schema
    and the outbox is not stale."""
    return bool(
        checks["broker"]
        and checks["database"]
        and not checks["consumers_failing"]
        and checks.get("outbox_leader_present")
        and not checks.get("outbox_stale")
    )


class Background(Protocol):
    """A loop beside the consumers (e.g. a sender); it reaches the database through runtime.pool."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


def _json(body: Any, status: int = 200) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body, default=str).encode(), status, headers={"content-type": "application/json"}
    )
