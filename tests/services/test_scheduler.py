"""The scheduler against the real PostgreSQL (and Kafka for its outbox rows): two instances on one
schema run each due moment exactly once; a run that raises leaves nothing and is run again; a
scheduler stopped for three programme days catches up in order; a run's event goes out once; a
ServiceRuntime runs its jobs on an accelerated programme clock after its migrations.

Each test runs on a throw-away role and schema of its own (the shared migrations, and a table the
jobs write their side effects to), so nothing touches a service's schema."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from shared.clock import ANCHOR_VARIABLE, EPOCH_VARIABLE, JAKARTA, SPEED_VARIABLE, ManualClock
from shared.db import Conn, create_pool, migrate
from shared.outbox import add_raw
from shared.relay import OutboxRelay
from shared.runtime import ServiceRuntime, conn_store
from shared.scheduler import Job, Scheduler, daily
from shared.settings import ServiceSettings
from testkit.infra import Infra
from testkit.kafka import record_events
from tests.support import scratch_role

EFFECTS = "CREATE TABLE effect (id bigserial PRIMARY KEY, job text, due_at timestamptz, instance text)"
START = datetime(2027, 1, 1, tzinfo=JAKARTA)


def wib(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=JAKARTA)  # type: ignore[misc]


@pytest.fixture
async def schema(infra: Infra, admin_db: asyncpg.Connection, tmp_path: Path) -> AsyncIterator[str]:
    """A role with a schema of its own: the shared migrations (scheduled_run among them) and `effect`."""
    async with scratch_role(infra, admin_db, "sched") as dsn:
        (tmp_path / "migrations").mkdir()
        (tmp_path / "migrations" / "0001_effect.sql").write_text(EFFECTS + ";\n")
        await migrate(dsn, tmp_path / "migrations")
        yield dsn


@pytest.fixture
async def pool(schema: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(schema, 1, 6)
    try:
        yield opened
    finally:
        await opened.close()


def recording(name: str, instance: str) -> Callable[[Conn, datetime], Awaitable[None]]:
    """A job's run that writes one side-effect row (and holds its transaction a little, so two
    instances really overlap)."""

    async def run(conn: Conn, due_at: datetime) -> None:
        await conn.execute(
            "INSERT INTO effect (job, due_at, instance) VALUES ($1, $2, $3)", name, due_at, instance
        )
        await conn.execute("SELECT pg_sleep(0.02)")

    return run


def scheduler(
    pool: asyncpg.Pool, clock: ManualClock, instance: str, *jobs: Job, **options: float
) -> Scheduler:
    return Scheduler(
        list(jobs), lambda: pool, instance=instance, clock=clock, poll_s=0.05, max_runs_per_poll=3, **options
    )


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Wait for a liveness bound (generous: the machine is shared), not a duration."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.05)


async def count(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    return int(await pool.fetchval(sql, *args))


async def test_two_instances_on_one_schema_run_each_due_moment_exactly_once(pool: asyncpg.Pool) -> None:
    clock = ManualClock(wib(2027, 1, 20, 9))  # 20 dailies due (1 to 20 January, 08:00)
    expected = [wib(2027, 1, day, 8) for day in range(1, 21)]
    a = scheduler(pool, clock, "a", Job("dailies", daily(8), recording("dailies", "a"), START))
    b = scheduler(pool, clock, "b", Job("dailies", daily(8), recording("dailies", "b"), START))
    a.start()
    b.start()
    try:
        await until(lambda: _effects_at_least(pool, len(expected)), 60, "every due moment run")
        await asyncio.sleep(0.5)  # let both poll again over what is done: nothing more may run
    finally:
        await a.stop()
        await b.stop()
    runs = await pool.fetch(
        "SELECT due_at, instance FROM scheduled_run WHERE job = 'dailies' ORDER BY due_at"
    )
    effects = await pool.fetch("SELECT due_at, instance FROM effect ORDER BY id")
    assert [r["due_at"] for r in runs] == expected
    assert Counter(r["due_at"] for r in effects) == Counter(expected)  # the job's work: once each
    # The row that records a run and the job's work are one transaction: the same instance.
    assert {(r["due_at"], r["instance"]) for r in effects} == {(r["due_at"], r["instance"]) for r in runs}
    assert [r["due_at"] for r in effects] == expected  # in order, whoever ran them


class ReadTooEarly(Scheduler):
    """An instance that read the job's last run before another instance committed its runs."""

    async def _last_run(self, conn: Conn, job: Job) -> datetime | None:
        return None


async def test_an_instance_with_a_stale_view_of_the_last_run_does_not_run_those_moments_again(
    pool: asyncpg.Pool,
) -> None:
    clock = ManualClock(wib(2027, 1, 4, 9))
    a = scheduler(pool, clock, "a", Job("dailies", daily(8), recording("dailies", "a"), START))
    assert await a.poll() is True and await a.poll() is False  # 1 to 4 January, 3 per poll
    clock.advance(timedelta(days=1))
    late = ReadTooEarly(
        [Job("dailies", daily(8), recording("dailies", "late"), START)],
        lambda: pool,
        instance="late",
        clock=clock,
    )
    while await late.poll():
        pass
    effects = await pool.fetch("SELECT due_at, instance FROM effect ORDER BY id")
    assert [(r["due_at"], r["instance"]) for r in effects] == [
        *((wib(2027, 1, day, 8), "a") for day in range(1, 5)),
        (wib(2027, 1, 5, 8), "late"),  # only the moment nobody had run yet
    ]


async def _effects_at_least(pool: asyncpg.Pool, n: int) -> bool:
    return await count(pool, "SELECT count(*) FROM effect") >= n


async def test_a_run_that_raises_leaves_nothing_and_is_run_again(pool: asyncpg.Pool) -> None:
    clock = ManualClock(wib(2027, 1, 3, 9))
    failures: list[datetime] = []

    async def flaky(conn: Conn, due_at: datetime) -> None:
        await recording("flaky", "a")(conn, due_at)
        if due_at == wib(2027, 1, 2, 8) and not failures:
            failures.append(due_at)
            raise RuntimeError("the ledger's database said no")

    runner = scheduler(pool, clock, "a", Job("flaky", daily(8), flaky, START))
    assert await runner.poll() is False  # 1 January runs, 2 January fails: the poll stops there
    assert failures == [wib(2027, 1, 2, 8)]
    assert [r["due_at"] for r in await pool.fetch("SELECT due_at FROM scheduled_run")] == [wib(2027, 1, 1, 8)]
    assert [r["due_at"] for r in await pool.fetch("SELECT due_at FROM effect")] == [wib(2027, 1, 1, 8)]
    assert await runner.poll() is False  # within the backoff: not tried again yet
    assert await count(pool, "SELECT count(*) FROM effect") == 1

    runner.start()  # the loop tries again once the backoff (about a second) is over
    try:
        await until(lambda: _effects_at_least(pool, 3), 30, "the failed moment run again, then the next")
    finally:
        await runner.stop()
    days = [r["due_at"] for r in await pool.fetch("SELECT due_at FROM effect ORDER BY id")]
    assert days == [wib(2027, 1, 1, 8), wib(2027, 1, 2, 8), wib(2027, 1, 3, 8)]
    assert await count(pool, "SELECT count(*) FROM scheduled_run") == 3


async def test_a_scheduler_stopped_for_three_programme_days_catches_up_the_missed_dailies_in_order(
    pool: asyncpg.Pool,
) -> None:
    clock = ManualClock(wib(2027, 3, 1, 9))
    job = Job("dailies", daily(8), recording("dailies", "a"), wib(2027, 3, 1))
    first = scheduler(pool, clock, "a", job)
    first.start()
    try:
        await until(lambda: _effects_at_least(pool, 1), 30, "the first daily run")
    finally:
        await first.stop()
    clock.advance(timedelta(days=3))  # down from 1 March 09:00 to 4 March 09:00
    await asyncio.sleep(0.2)
    assert await count(pool, "SELECT count(*) FROM effect") == 1  # stopped: nothing ran meanwhile

    again = scheduler(pool, clock, "a", job)
    again.start()
    try:
        await until(lambda: _effects_at_least(pool, 4), 30, "the three missed dailies run")
        await asyncio.sleep(0.3)
    finally:
        await again.stop()
    days = [r["due_at"] for r in await pool.fetch("SELECT due_at FROM effect ORDER BY id")]
    assert days == [wib(2027, 3, day, 8) for day in (1, 2, 3, 4)]


async def test_a_runs_event_is_published_once_and_a_failed_attempts_never(
    infra: Infra, schema: str, pool: asyncpg.Pool, topic_prefix: str
) -> None:
    topic = topic_prefix + "scheduler.invoices"
    clock = ManualClock(wib(2027, 1, 5, 9))
    failed: list[datetime] = []

    def issuing(instance: str) -> Callable[[Conn, datetime], Awaitable[None]]:
        async def run(conn: Conn, due_at: datetime) -> None:
            day = due_at.astimezone(JAKARTA).date().isoformat()
            fails = day == "2027-01-03" and not failed
            event_id = str(uuid.uuid4())
            headers = {"ce_id": event_id, "day": day, "attempt": "failed" if fails else "ok"}
            await add_raw(conn, topic=topic, key=day.encode(), body=b"{}", headers=headers, event_id=event_id)
            if fails:
                failed.append(due_at)
                raise RuntimeError("the mail server is down")

        return run

    expected = [f"2027-01-0{day}" for day in range(1, 6)]
    relay = OutboxRelay(schema, infra.kafka, idle_poll_s=0.2)
    async with record_events(infra.kafka, topic) as rec:
        a = scheduler(pool, clock, "a", Job("invoices", daily(8), issuing("a"), START))
        b = scheduler(pool, clock, "b", Job("invoices", daily(8), issuing("b"), START))
        relay.start()
        a.start()
        b.start()
        try:
            await rec.wait_for(len(expected), timeout_s=60)
            await rec.settle(quiet_s=1.5)
        finally:
            await a.stop()
            await b.stop()
            await relay.stop(drain_timeout_s=2.0)
    assert failed == [wib(2027, 1, 3, 8)]
    published = Counter(e.headers["day"] for e in rec.events)
    assert published == Counter(expected), published  # once each
    assert {e.headers["attempt"] for e in rec.events} == {"ok"}  # the failed attempt's row never left
    assert await count(pool, "SELECT count(*) FROM scheduled_run") == len(expected)
    assert await count(pool, "SELECT count(*) FROM outbox") == len(expected)


async def test_a_service_runtime_runs_its_jobs_on_an_accelerated_programme_clock_after_its_migrations(
    infra: Infra,
    admin_db: asyncpg.Connection,
    tmp_path: Path,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The programme clock reads 1 January 2027 00:00 Jakarta now and runs an hour per real second.
    monkeypatch.setenv(EPOCH_VARIABLE, "2027-01-01T00:00:00+07:00")
    monkeypatch.setenv(ANCHOR_VARIABLE, datetime.now(UTC).isoformat())
    monkeypatch.setenv(SPEED_VARIABLE, "3600")
    async with scratch_role(infra, admin_db, "schedrt") as dsn:
        migrations = tmp_path / "migrations"
        migrations.mkdir()
        (migrations / "0001_effect.sql").write_text(EFFECTS + ";\n")
        settings = ServiceSettings(
            KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap_servers,
            KAFKA_USERNAME="admin",  # "schedtest" is no principal of ours: this is plumbing
            TOPIC_PREFIX=topic_prefix,
            INSTANCE_ID="schedtest-1",
        )
        settings.database_url = dsn
        runtime = ServiceRuntime("schedtest", settings, migrations, store=conn_store)
        # Due at 02:00 Jakarta: two programme hours, about two real seconds, after the start.
        runtime.schedule(Job("night-batch", daily(2), recording("night-batch", "rt"), START))
        assert runtime.scheduler is not None and runtime.scheduler.poll_s == 1.0  # a programme hour
        async with runtime.lifespan():  # migrations (scheduled_run among them), pool, relay, jobs
            await until(lambda: _effects_at_least(runtime.pool, 1), 60, "the 02:00 run")
            runs = await runtime.pool.fetch("SELECT due_at, instance, programme_ran_at FROM scheduled_run")
        assert runtime.scheduler._task is None  # stopped with the service
        [run] = runs
        assert (run["due_at"], run["instance"]) == (wib(2027, 1, 1, 2), "schedtest-1")
        assert run["programme_ran_at"] >= wib(2027, 1, 1, 2)  # stamped on the programme clock
        metrics = runtime.metrics.render().decode()
        assert 'muba_scheduled_runs_total{job="night-batch",outcome="ran"} 1.0' in metrics
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM effect") == 1
        finally:
            await conn.close()
