"""Fixtures that hand tests a REAL Kafka and a REAL PostgreSQL.

Where they come from, in order: the environment (`make test` and CI export it after
`make infra-up`); else testcontainers, when a Docker engine answers; else the run fails and says
how to get them. Tests marked `infra` never skip silently.
"""

import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from testkit.infra import SCHEMAS, Infra, unique_prefix

ROOT = Path(__file__).resolve().parent.parent

# Every test has its own TOPIC_PREFIX: the services it starts (in process or as processes)
# provision their topics and the ACLs of that prefix as `admin` when they start, then connect
# as their own principals, under those ACLs. (In production an operator provisions.)
os.environ.setdefault("KAFKA_PROVISION_AT_START", "1")

HOW_TO = (
    "These tests need a real Kafka and PostgreSQL. Run `make test` (it starts both without Docker), "
    "or `make infra-up` and export the variables `make env` prints, or start a Docker engine so "
    "testcontainers can start them."
)


def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _infra_from_testcontainers() -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    sql = ROOT / "deploy" / "sql"
    with (
        KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft() as kafka,
        PostgresContainer("postgres:15", dbname="muba", username="postgres", password="postgres") as pg,
    ):
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        admin = f"postgresql://postgres:postgres@{host}:{port}/muba"
        pg.exec(["mkdir", "-p", "/muba-sql"])
        for f in ("init.sql",):
            subprocess.run(
                ["docker", "cp", str(sql / f), f"{pg.get_wrapped_container().id}:/muba-sql/{f}"], check=True
            )
        result = pg.exec(
            ["psql", "-U", "postgres", "-d", "muba", "-v", "dbname=muba"]
            + [arg for s in SCHEMAS for arg in ("-v", f"{s}_password={s}")]
            + ["-f", "/muba-sql/init.sql"]
        )
        assert result.exit_code == 0, result.output
        urls = {s: f"postgresql://{s}:{s}@{host}:{port}/muba" for s in SCHEMAS}
        yield Infra(kafka.get_bootstrap_server(), admin, urls)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    found = Infra.from_env()
    if found is not None:
        yield found
        return
    if os.environ.get("CI") or not _docker_answers():
        pytest.fail(HOW_TO, pytrace=False)
    yield from _infra_from_testcontainers()


@pytest.fixture
def topic_prefix() -> str:
    """A fresh namespace of topics and consumer groups: tests never see each other's messages."""
    return unique_prefix()


@pytest.fixture
async def admin_db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.admin_database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def service_env(
    infra: Infra, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dict[str, Any]]:
    """Point in-process services at the real servers and at this test's topic namespace."""

    def env(**extra: Any) -> dict[str, Any]:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
        monkeypatch.setenv("TOPIC_PREFIX", topic_prefix)
        for key, value in extra.items():
            monkeypatch.setenv(key, str(value))
        return {"prefix": topic_prefix}

    return env


# --- where the suite's time goes ------------------------------------------------------------------
# `make test` ends with the files that took longest (setup, call and teardown of their tests),
# beside pytest's --durations list of single tests: the suite must stay well under 15 minutes.
_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.section("slowest files")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1])[:15]:
        terminalreporter.write_line(f"{seconds:8.1f} s  {100 * seconds / total:4.1f} %  {path}")
    by_tier: dict[str, float] = {}
    for path, seconds in _FILE_SECONDS.items():
        tier = "/".join(path.split("/")[:2])
        by_tier[tier] = by_tier.get(tier, 0.0) + seconds
    terminalreporter.write_line(
        "tiers: " + ", ".join(f"{tier} {seconds:.0f} s" for tier, seconds in sorted(by_tier.items()))
    )
