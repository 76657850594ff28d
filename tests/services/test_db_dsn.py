"""A service reaches PostgreSQL through a DSN assembled from its parts whatever its password is:
against the real server, with roles whose passwords are full of the characters that break URLs.

The first tests use a throw-away role on the shared server; the last one starts a PostgreSQL
cluster of its own (deploy/local/postgres.sh on a free port, its own data folder) so that the
project's own role creation (init.sql through postgres.sh, and through 00-init.sh as the postgres
image runs it, with passwords from files) can be given such passwords too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest

from services.registry.app import MIGRATIONS
from services.registry.settings import RegistrySettings
from shared.db import connect, create_pool, migrate
from testkit.infra import SCHEMAS, Infra
from tests.support import scratch_role

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_SH = ROOT / "deploy" / "local" / "postgres.sh"
INIT_SH = ROOT / "deploy" / "sql" / "00-init.sh"
INIT_SQL = ROOT / "deploy" / "sql" / "init.sql"

# Every character that breaks a hand-made URL, quotes for SQL, a backslash for psql, non-ASCII.
# The parts' names, as design10.md spells them: <SERVICE>_DB_<PART>.
PARTS = ("HOST", "PORT", "NAME", "USER", "PASSWORD", "PASSWORD_FILE")
HOSTILE = "p@ss/w#rd?100%: x y 'q' \"dq\" \\ ñ日本"


async def run(
    args: list[str], env: dict[str, str] | None = None, limit_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """A command in a thread, so the event loop (and the suite's other fixtures) keep going."""
    return await asyncio.to_thread(
        subprocess.run, args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=limit_s
    )


def server_parts(infra: Infra) -> dict[str, str]:
    """Host, port and database of the shared server, from the admin URL the suite was given."""
    url = urlsplit(infra.admin_database_url)
    return {
        "HOST": url.hostname or "127.0.0.1",
        "PORT": str(url.port or 5432),
        "NAME": unquote(url.path.lstrip("/")),
    }


def set_parts(monkeypatch: pytest.MonkeyPatch, prefix: str, **parts: str) -> None:
    """Only the parts: no <PREFIX>_DATABASE_URL, as under compose."""
    monkeypatch.delenv(f"{prefix}_DATABASE_URL", raising=False)
    for part in PARTS:
        monkeypatch.delenv(f"{prefix}_DB_{part}", raising=False)
    for part, value in parts.items():
        monkeypatch.setenv(f"{prefix}_DB_{part}", value)


async def test_a_service_connects_with_a_hostile_password_from_its_parts(
    infra: Infra, admin_db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with scratch_role(infra, admin_db, "dsn", password=HOSTILE) as scratch:
        role = urlsplit(scratch).username
        assert role
        # The password in the environment...
        set_parts(monkeypatch, "REGISTRY", **server_parts(infra), USER=role, PASSWORD=HOSTILE)
        dsn = RegistrySettings().database_url
        conn = await connect(dsn)
        try:
            assert await conn.fetchval("SELECT current_user") == role
        finally:
            await conn.close()

        # ... and in a file, as compose's secrets give it; the service's pool and its migrations too.
        secret = tmp_path / "registry_db_password"
        secret.write_text(HOSTILE + "\n", encoding="utf-8")
        set_parts(monkeypatch, "REGISTRY", **server_parts(infra), USER=role, PASSWORD_FILE=str(secret))
        dsn = RegistrySettings().database_url
        assert HOSTILE not in dsn, "the password must travel percent-encoded"
        applied = await migrate(dsn, MIGRATIONS)
        assert applied, "no migration ran through the assembled DSN"
        pool = await create_pool(dsn, 1, 2)
        try:
            assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == len(applied)
            assert await pool.fetchval("SELECT current_schema()") == role
        finally:
            await pool.close()


async def test_the_service_process_reads_the_parts_like_compose_gives_them(
    infra: Infra, admin_db: asyncpg.Connection, tmp_path: Path
) -> None:
    """`python -m services.registry migrate` with the environment compose gives a container."""
    async with scratch_role(infra, admin_db, "dsnproc", password=HOSTILE) as scratch:
        role = urlsplit(scratch).username
        assert role
        secret = tmp_path / "db_password"
        secret.write_text(HOSTILE + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update({f"REGISTRY_DB_{part}": value for part, value in server_parts(infra).items()})
        env.update(REGISTRY_DB_USER=role, REGISTRY_DB_PASSWORD_FILE=str(secret))
        done = await run([sys.executable, "-m", "services.registry", "migrate"], env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "migration(s) applied" in done.stdout
        assert (
            await admin_db.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'worker'", role
            )
            == 1
        ), "the migrations did not reach the role's schema"

        # A wrong password file is refused with the variable's name, never the password.
        secret.write_text("not-the-password\n", encoding="utf-8")
        refused = await run([sys.executable, "-m", "services.registry", "migrate"], env)
        assert refused.returncode != 0
        assert "not-the-password" not in refused.stderr and HOSTILE not in refused.stderr


# --- the project's own role creation, on a cluster of our own ---------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def own_cluster() -> Iterator[dict[str, str]]:
    """deploy/local/postgres.sh's environment for a cluster of our own (never the shared server)."""
    if shutil.which("pg_ctlcluster") is None and not list(Path("/usr/lib/postgresql").glob("*/bin")):
        pytest.fail("PostgreSQL is not installed (deploy/local/postgres.sh install)")
    base = Path("/var/tmp") / f"muba-pg-dsn-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_DB_PASSWORD", "_DB_PASSWORD_FILE"))}
    env.update(PGPORT=str(free_port()), MUBA_PG_DIR=str(base), MUBA_DB_NAME="muba")
    try:
        yield env
    finally:
        subprocess.run(["bash", str(POSTGRES_SH), "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


async def test_init_sql_gives_the_roles_any_password_locally_and_in_the_image(
    own_cluster: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = dict(own_cluster)
    port = env["PGPORT"]
    # deploy/local/postgres.sh: the passwords from the environment.
    passwords = {s: f"{HOSTILE} {s}" for s in SCHEMAS}
    env.update({f"{s.upper()}_DB_PASSWORD": p for s, p in passwords.items()})
    up = await run(["bash", str(POSTGRES_SH), "up"], env, limit_s=300)
    assert up.returncode == 0, up.stderr[-2000:]
    for service, password in passwords.items():
        set_parts(
            monkeypatch, "REGISTRY", HOST="127.0.0.1", PORT=port, NAME="muba", USER=service, PASSWORD=password
        )
        conn = await asyncpg.connect(RegistrySettings().database_url)
        try:
            assert (
                await conn.fetchval("SELECT current_user || '/' || current_schema()")
                == f"{service}/{service}"
            )
        finally:
            await conn.close()

    # 00-init.sh, as the postgres image runs it on a fresh volume: the passwords from secret files.
    # The roles are the cluster's, so the first database and its roles go first.
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port, "-U", "postgres"]
    drop = "DROP DATABASE muba; " + " ".join(f"DROP ROLE {s};" for s in SCHEMAS) + " CREATE DATABASE muba2;"
    for statement in drop.split(";")[:-1]:
        done = await run([*psql, "-d", "postgres", "-c", statement])
        assert done.returncode == 0, done.stderr
    image_env = {k: v for k, v in own_cluster.items() if not k.startswith("PG")}
    image_env.update(
        PGHOST="127.0.0.1",
        PGPORT=port,
        POSTGRES_USER="postgres",
        POSTGRES_DB="muba2",
        MUBA_INIT_SQL=str(INIT_SQL),
    )
    files = {}
    for service in SCHEMAS:
        files[service] = f"{HOSTILE} file {service}"
        secret = tmp_path / f"{service}_db_password"
        secret.write_text(files[service] + "\r\n", encoding="utf-8")
        image_env[f"{service.upper()}_DB_PASSWORD_FILE"] = str(secret)
        image_env[f"{service.upper()}_DB_PASSWORD"] = "ignored-when-a-file-is-given"
    done = await run(["bash", str(INIT_SH)], image_env)
    assert done.returncode == 0, done.stderr[-2000:]
    for service in SCHEMAS:
        set_parts(
            monkeypatch,
            "REGISTRY",
            HOST="127.0.0.1",
            PORT=port,
            NAME="muba2",
            USER=service,
            PASSWORD_FILE=str(tmp_path / f"{service}_db_password"),
        )
        conn = await asyncpg.connect(RegistrySettings().database_url)
        try:
            assert (
                await conn.fetchval("SELECT current_user || '/' || current_schema()")
                == f"{service}/{service}"
            )
        finally:
            await conn.close()
