"""PostgreSQL is real; each service's role owns its schema and nothing else; migrations are
idempotent and safe when several instances start at once."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from shared.db import migrate, migration_files
from shared.relay import prune
from testkit.infra import SERVICES, Infra
from tests import support


async def test_server_is_postgresql_and_reports_its_version(admin_db: asyncpg.Connection) -> None:
    version = await admin_db.fetchval("SHOW server_version")
    print(f"\nPostgreSQL under test: {version}")
    assert int(version.split(".")[0]) >= 15


@pytest.mark.parametrize("service", SERVICES)
async def test_each_role_uses_its_own_schema_and_is_denied_the_others(infra: Infra, service: str) -> None:
    conn = await asyncpg.connect(infra.database_urls[service])
    table = f"probe_{uuid.uuid4().hex[:8]}"
    try:
        assert await conn.fetchval("SELECT current_schema()") == service
        await conn.execute(f"CREATE TABLE {table} (x int)")
        await conn.execute(f"INSERT INTO {table} VALUES (1)")
        assert await conn.fetchval(f"SELECT x FROM {service}.{table}") == 1
        for other in SERVICES:
            if other == service:
                continue
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(f"CREATE TABLE {other}.{table} (x int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.fetch(f"SELECT * FROM {other}.schema_migrations")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute(f"CREATE TABLE public.{table} (x int)")
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


@pytest.fixture
async def scratch_role(infra: Infra, admin_db: asyncpg.Connection) -> AsyncIterator[str]:
    """A throw-away role with its own schema, so migration tests never touch a service's."""
    async with support.scratch_role(infra, admin_db, "mig") as dsn:
        yield dsn


def _write_migrations(folder: Path) -> None:
    folder.mkdir()
    (folder / "0001_workers.sql").write_text("CREATE TABLE worker (id uuid PRIMARY KEY, nik text NOT NULL);")
    # Slow on purpose: concurrent starters must wait for it, not apply it twice.
    (folder / "0002_index.sql").write_text(
        "SELECT pg_sleep(0.3); CREATE UNIQUE INDEX worker_nik ON worker (nik);"
    )


async def test_migrations_are_idempotent(scratch_role: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    _write_migrations(folder)
    first = await migrate(scratch_role, folder)
    assert first == [version for version, _ in migration_files(folder)]
    assert "0002_index.sql" in first and any(v.startswith("shared/") for v in first)
    assert await migrate(scratch_role, folder) == []
    conn = await asyncpg.connect(scratch_role)
    try:
        versions = [
            r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        ]
        assert sorted(first) == versions
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        }
        assert {"worker", "outbox", "inbox", "schema_migrations"} <= tables
    finally:
        await conn.close()


async def test_concurrent_migrations_apply_each_file_once(scratch_role: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    _write_migrations(folder)
    results = await asyncio.gather(*(migrate(scratch_role, folder) for _ in range(5)))
    applied = [version for result in results for version in result]
    assert sorted(applied) == sorted(version for version, _ in migration_files(folder))
    assert sum(1 for r in results if r) == 1
    conn = await asyncpg.connect(scratch_role)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(applied)
    finally:
        await conn.close()


async def test_old_outbox_and_inbox_rows_are_pruned(scratch_role: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    _write_migrations(folder)
    await migrate(scratch_role, folder)
    conn = await asyncpg.connect(scratch_role)
    try:
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, event_type, payload, headers, published_at) VALUES"
            " (gen_random_uuid(), 't', 'k', 'x', '\\x00', '{}', now() - interval '8 days'),"
            " (gen_random_uuid(), 't', 'k', 'x', '\\x00', '{}', now() - interval '1 day'),"
            " (gen_random_uuid(), 't', 'k', 'x', '\\x00', '{}', NULL)"
        )
        await conn.execute(
            "INSERT INTO inbox (consumer, event_id, topic, processed_at) VALUES"
            " ('c', 'old', 't', now() - interval '15 days'), ('c', 'new', 't', now())"
        )
        assert await prune(conn, timedelta(days=7), timedelta(days=14)) == (1, 1)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 2  # the unpublished one stays
        assert await conn.fetchval("SELECT event_id FROM inbox") == "new"
    finally:
        await conn.close()
