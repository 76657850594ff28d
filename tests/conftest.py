"""Fixtures that hand tests a REAL Kafka and a REAL PostgreSQL.

Where they come from, in order: the environment (`make test` and CI export it after
`make infra-up`); else testcontainers, when a Docker engine answers; else the run fails and says
how to get them. Tests marked `infra` never skip silently.
"""

import fcntl
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


# --- parallel workers (pytest-xdist, `make test` runs two) -------------------------------------------
# Topics are namespaced per test (TOPIC_PREFIX), but the services' schemas are not: tests empty
# them, and the fault tests revoke CONNECT or make the database read-only. So each worker gets a
# database of its own on the same server (`<database>_<worker>`, made as `make infra-up` makes
# the first: deploy/local/postgres.sh), and everything the worker starts reads it from the
# environment, as it would read the one database without workers.
DATABASE_VARIABLES = ("MUBA_ADMIN_DATABASE_URL", *(f"{s.upper()}_DATABASE_URL" for s in SCHEMAS))


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def _database_of_worker(worker: str) -> None:
    if Infra.from_env() is None:
        return  # testcontainers: every worker starts servers of its own
    admin = urlsplit(os.environ["MUBA_ADMIN_DATABASE_URL"])
    database = f"{admin.path.lstrip('/') or 'muba'}_{worker}"
    # One worker at a time runs init.sql: its GRANTs and ALTER ROLEs touch the shared roles.
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / "muba-test-databases.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = subprocess.run(
            ["bash", str(ROOT / "deploy" / "local" / "postgres.sh"), "up"],
            env={**os.environ, "MUBA_DB_NAME": database, "PGPORT": str(admin.port or 5432)},
            capture_output=True,
            text=True,
        )
    assert made.returncode == 0, f"the database {database} of worker {worker}:\n{made.stdout}{made.stderr}"
    for variable in DATABASE_VARIABLES:
        os.environ[variable] = _with_database(os.environ[variable], database)


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        _database_of_worker(worker)
        # A worker starts with COLUMNS=80 and LINES=24 that the run was not given; the CLI's
        # console (muba/cli.py, made at import) would keep that width for good, and the tests
        # that hand the CLI a wider COLUMNS would get tables folded at 80 columns.
        for variable in ("COLUMNS", "LINES"):
            os.environ.pop(variable, None)


# The tiers whose tests start processes or servers of their own (the fault campaign's nine
# processes, a three-broker cluster, compose's Kafka node): one worker runs them one after the
# other, in their usual order, as a single run would; the other worker takes the in-process
# service, unit and contract tests meanwhile. Two of these at once on a 2-core machine would
# starve each other's processes and make liveness bounds (the campaign's wedge bound) flaky.
PROCESS_TIERS = ("tests/e2e/", "tests/infra/")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, but with the process tiers as one unit (PROCESS_TIERS)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ProcessTiersTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "process tiers" if path.startswith(PROCESS_TIERS) else path

    return ProcessTiersTogether(config, log)


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
# Under pytest-xdist the workers' reports reach this hook in the controller, so the figures are
# the whole suite's; they add up the workers' seconds, which is more than the run's wall time.
_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    workers = getattr(terminalreporter.config.option, "numprocesses", None) or 0
    terminalreporter.section(
        "slowest files" + (f" (seconds summed over {workers} workers)" if workers else "")
    )
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1])[:15]:
        terminalreporter.write_line(f"{seconds:8.1f} s  {100 * seconds / total:4.1f} %  {path}")
    by_tier: dict[str, float] = {}
    for path, seconds in _FILE_SECONDS.items():
        tier = "/".join(path.split("/")[:2])
        by_tier[tier] = by_tier.get(tier, 0.0) + seconds
    terminalreporter.write_line(
        "tiers: " + ", ".join(f"{tier} {seconds:.0f} s" for tier, seconds in sorted(by_tier.items()))
    )
