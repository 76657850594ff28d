"""Helpers the service and end-to-end tests share."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from faststream.asgi import AsgiFastStream

from shared.db import database_url
from shared.testing import Infra, empty_schema


@asynccontextmanager
async def running(app: AsgiFastStream) -> AsyncIterator[AsgiFastStream]:
    """Run the app (lifespan + broker) in a task of its own: anyio's scopes must be entered and
    left by the same task, and pytest-asyncio tears fixtures down from another one."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.start_lifespan_context():
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield app
    finally:
        stop.set()
        await task


async def truncate_schema(infra: Infra, service: str) -> None:
    """Service tests start from an empty schema (the tables are the service's, kept by migrations)."""
    await empty_schema(infra.database_urls[service])


@asynccontextmanager
async def scratch_role(
    infra: Infra, admin_db: asyncpg.Connection, prefix: str, password: str | None = None
) -> AsyncIterator[str]:
    """A throw-away login role with a schema of its own (its DSN), dropped afterwards: tests of the
    plumbing (migrations, the outbox relay) never touch a service's schema. The password defaults
    to the role's name; any other is quoted as a literal and percent-encoded in the DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create = await admin_db.fetchval(
        "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)", name, password or name
    )
    await admin_db.execute(create)
    await admin_db.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
    await admin_db.execute(f"ALTER ROLE {name} SET search_path = {name}")
    db = await admin_db.fetchval("SELECT current_database()")
    await admin_db.execute(f"GRANT CONNECT ON DATABASE {db} TO {name}")
    try:
        yield database_url(infra.admin_database_url, user=name, password=password or name)
    finally:
        await admin_db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await admin_db.execute(f"DROP SCHEMA {name} CASCADE")
        await admin_db.execute(f"REVOKE ALL ON DATABASE {db} FROM {name}")
        await admin_db.execute(f"DROP ROLE {name}")
