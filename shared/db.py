"""PostgreSQL plumbing: connection pools and the migration runner every service uses."""

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"

# A connection of our own or one lent by a pool: repositories take either.
if TYPE_CHECKING:
    Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]
else:
    Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# The client's own bound on one statement: a server that went away without closing the
# connection (a partition, a frozen host) fails the statement instead of hanging it forever.
# Above the roles' statement_timeout (deploy/sql/init.sql), which normally ends a slow one first.
COMMAND_TIMEOUT_S = 60.0
# What the server does about a peer that went silent (asyncpg sets no client-side keepalives).
TCP_KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


def _server_settings(extra: dict[str, str] | None) -> dict[str, str]:
    return {**TCP_KEEPALIVES, **(extra or {})}


async def create_pool(
    dsn: str,
    min_size: int = 2,
    max_size: int = 8,
    server_settings: dict[str, str] | None = None,
    **kwargs: Any,
) -> asyncpg.Pool:
    kwargs.setdefault("command_timeout", COMMAND_TIMEOUT_S)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=_server_settings(server_settings),
        **kwargs,
    )
    assert pool is not None
    return pool


async def connect(
    dsn: str, server_settings: dict[str, str] | None = None, **kwargs: Any
) -> asyncpg.Connection:
    """One connection of our own; `server_settings` are session settings (e.g. the relay's
    idle_session_timeout), on top of the role's and the keepalives."""
    kwargs.setdefault("command_timeout", COMMAND_TIMEOUT_S)
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, server_settings=_server_settings(server_settings), **kwargs
    )
    await _init_connection(conn)
    return conn


def migration_files(service_migrations: Path) -> list[tuple[str, Path]]:
    """Shared plumbing first, then the service's own files, each in name order."""
    shared = [(f"shared/{p.name}", p) for p in sorted(SHARED_MIGRATIONS.glob("*.sql"))]
    own = [(p.name, p) for p in sorted(service_migrations.glob("*.sql"))]
    return shared + own


async def migrate(dsn: str, service_migrations: Path) -> list[str]:
    """Apply what is not applied yet, recorded in `schema_migrations` in the role's own schema.

    A session-level advisory lock per schema makes concurrent start-ups take turns.
    Returns the versions this call applied.
    """
    # A migration may rewrite a big table and waits for concurrent starters: the roles' statement
    # and lock timeouts (made for the services' short transactions) do not apply to it.
    conn = await asyncpg.connect(dsn, server_settings={"statement_timeout": "0", "lock_timeout": "0"})
    try:
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None:
            raise RuntimeError("the database role has no schema of its own on its search_path")
        lock_key = f"migrate:{schema}"
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock_key)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            applied: list[str] = []
            for version, path in migration_files(service_migrations):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
                log.info("migration applied", extra={"schema": schema, "version": version})
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_key)
    finally:
        await conn.close()
