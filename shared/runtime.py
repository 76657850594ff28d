"""The composition root every service shares: broker, pool, migrations, outbox relay, health.

A service's app.py builds a ServiceRuntime, subscribes its handlers and returns
`runtime.asgi_app()`. Nothing is built at import time; the pool and the relay start in the
lifespan, before the broker's subscribers, and stop after them.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Scope
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.specification import AsyncAPI

from shared.consumer import Handler, MessageProcessor
from shared.db import create_pool, migrate
from shared.logging import setup_logging
from shared.outbox import OutboxRelay, outbox_backlog
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def _raw_body(message: Any) -> Any:
    """Hand the handler raw records: decoding (and its failures) belong to MessageProcessor."""
    return None


class ServiceRuntime:
    def __init__(
        self, name: str, settings: ServiceSettings, migrations: Path, version: str = "1.0.0"
    ) -> None:
        self.name = name
        self.settings = settings
        self.migrations = migrations
        self.version = version
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=f"muba-{name}",
            logger=logging.getLogger(f"faststream.{name}"),
            log_level=logging.DEBUG,
            # On SIGTERM: finish (and commit) the batch in hand before leaving the group.
            graceful_timeout=10.0,
        )
        self.relay = OutboxRelay(settings.database_url, settings.kafka_bootstrap_servers)
        self.processors: list[MessageProcessor] = []
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name}: the database pool is not open (the app has not started)")
        return self._pool

    def subscribe(
        self, topic: str, handler: Handler, *, group_id: str | None = None, description: str | None = None
    ) -> MessageProcessor:
        """Consume `topic` with `handler` in consumer group `group_id` (default `<service>.<topic>`:
        one group per subscriber, so a consumer joining one does not rebalance the others)."""
        group = self.settings.topic_prefix + (group_id or f"{self.name}.{topic}")
        processor = MessageProcessor(
            service=self.name,
            consumer=group if group_id is None else f"{group}:{topic}",
            handler=handler,
            pool_getter=lambda: self.pool,
            max_attempts=self.settings.handler_max_attempts,
            topic_prefix=self.settings.topic_prefix,
        )
        self.processors.append(processor)

        async def consume(message: KafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            await processor.process(records)
            try:
                await message.ack()
            except (CommitFailedError, IllegalStateError, KafkaError) as exc:
                # A rebalance took the partition: its new owner reads the batch again and the
                # inbox turns every message of it into a no-op.
                log.warning(
                    "offset commit failed", extra={"consumer": processor.consumer, "error": repr(exc)}
                )

        consume.__name__ = handler.__name__
        consume.__doc__ = description or handler.__doc__
        self.broker.subscriber(
            self.settings.topic(topic),
            group_id=group,
            batch=True,
            max_records=self.settings.consumer_batch_size,
            batch_timeout_ms=20,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            decoder=_raw_body,
            group_instance_id=f"{group}-{self.settings.instance_id}" if self.settings.instance_id else None,
            max_poll_interval_ms=600_000,
            session_timeout_ms=15_000,
            heartbeat_interval_ms=3_000,
            title=f"{self.name}:{handler.__name__}",
        )(consume)
        return processor

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        setup_logging(self.name, self.settings.log_level)
        applied = await migrate(self.settings.database_url, self.migrations)
        log.info("service starting", extra={"migrations_applied": applied})
        self._pool = await create_pool(
            self.settings.database_url, self.settings.db_pool_min_size, self.settings.db_pool_max_size
        )
        self.relay.start()
        try:
            yield
        finally:
            await self.relay.stop()
            await self._pool.close()
            self._pool = None
            log.info("service stopped")

    async def ready(self) -> dict[str, Any]:
        checks: dict[str, Any] = {"broker": False, "database": False}
        with contextlib.suppress(Exception):
            checks["broker"] = bool(await self.broker.ping(timeout=3.0))
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3.0):
                async with self.pool.acquire() as conn:
                    checks["outbox_backlog"] = await outbox_backlog(conn)
                    checks["database"] = True
        checks["outbox_relay_leader"] = self.relay.is_leader
        return checks

    def asgi_app(self, routes: Sequence[tuple[str, ASGIApp]] = ()) -> AsgiFastStream:
        runtime = self

        @get(include_in_schema=False)
        async def healthz(scope: Scope) -> AsgiResponse:
            return _json({"status": "up", "service": runtime.name})

        @get(include_in_schema=False)
        async def readyz(scope: Scope) -> AsgiResponse:
            checks = await runtime.ready()
            ok = checks["broker"] and checks["database"]
            return _json({"status": "ready" if ok else "not ready", **checks}, 200 if ok else 503)

        @get(include_in_schema=False)
        async def stats(scope: Scope) -> AsgiResponse:
            return _json(
                {p.consumer: vars(p.stats) for p in runtime.processors}
                | {"outbox_published": runtime.relay.published}
            )

        return AsgiFastStream(
            self.broker,
            asgi_routes=[("/healthz", healthz), ("/readyz", readyz), ("/stats", stats), *routes],
            lifespan=lambda: self.lifespan(),
            specification=AsyncAPI(title=f"muba-{self.name}", version=self.version),
            asyncapi_path="/docs/asyncapi",
            logger=logging.getLogger(f"faststream.{self.name}"),
        )


def _json(body: Any, status: int = 200) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body, default=str).encode(), status, headers={"content-type": "application/json"}
    )
