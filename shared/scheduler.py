"""Jobs that run once per due moment of the programme clock, across every instance of a service.

A job's due moments come from its schedule, read on the programme clock (shared.clock). Each run
is one transaction holding the row that records it in `scheduled_run` (job, due_at), the job's
own writes and its outbox rows: they commit together or not at all.

- Exactly once: `INSERT ... ON CONFLICT DO NOTHING` on (job, due_at) decides which instance runs a
  moment. A transaction-scoped advisory lock per job lets one instance at a time try, so another
  skips the job for this poll instead of waiting on the first one's row lock.
- Failure: a run that raises leaves nothing behind (no row, no writes, no events); the job is
  tried again, from that same moment, after a backoff (shared.backoff).
- Catch-up: every due moment after the job's last recorded one (or from its `start`) up to the
  programme's now runs, in order, at most `max_runs_per_poll` per job per poll.

Due moments run late by up to a poll interval (plus catch-up); a job reads `due_at`, never "now",
so its result does not depend on when it ran.
"""

import asyncio
import contextlib
import logging
import time as monotonic_time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Protocol

import asyncpg

from shared.backoff import Backoff
from shared.clock import JAKARTA, PROGRAMME, Clock
from shared.db import Conn
from shared.masking import mask_text

log = logging.getLogger(__name__)

UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_TICK: Final = timedelta(microseconds=1)


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime:
        """The first due moment strictly after `moment` (both aware; the answer in UTC)."""
        ...


def _wall_time(at: time) -> time:
    if at.tzinfo is not None:
        raise ValueError("a schedule's time of day is Asia/Jakarta wall time: give it without a zone")
    return at


@dataclass(frozen=True, slots=True)
class Daily:
    """Every day at `at`, Asia/Jakarta."""

    at: time

    def __post_init__(self) -> None:
        _wall_time(self.at)

    def next_after(self, moment: datetime) -> datetime:
        day = moment.astimezone(JAKARTA).date()
        while True:
            due = datetime.combine(day, self.at, JAKARTA)
            if due > moment:
                return due.astimezone(UTC)
            day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Monthly:
    """Every month on `day` at `at`, Asia/Jakarta; a month shorter than `day` runs on its last day
    (day 31 is each month's last day)."""

    day: int
    at: time

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 31:
            raise ValueError(f"a month's day is 1 to 31, got {self.day}")
        _wall_time(self.at)

    def _in(self, year: int, month: int) -> datetime:
        following = date(year + month // 12, month % 12 + 1, 1)
        last = (following - timedelta(days=1)).day
        return datetime.combine(date(year, month, min(self.day, last)), self.at, JAKARTA)

    def next_after(self, moment: datetime) -> datetime:
        local = moment.astimezone(JAKARTA)
        year, month = local.year, local.month
        while True:
            due = self._in(year, month)
            if due > moment:
                return due.astimezone(UTC)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)


@dataclass(frozen=True, slots=True)
class Every:
    """Every `interval`, on multiples of it since 1970-01-01 UTC: every instance finds the same
    moments without agreeing on a start."""

    interval: timedelta

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError(f"an interval must be positive, got {self.interval}")

    def next_after(self, moment: datetime) -> datetime:
        return UNIX_EPOCH + ((moment - UNIX_EPOCH) // self.interval + 1) * self.interval


def daily(hour: int, minute: int = 0) -> Daily:
    """Every day at HH:MM Asia/Jakarta."""
    return Daily(time(hour, minute))


def monthly(day: int, hour: int = 0, minute: int = 0) -> Monthly:
    """Every month on `day` at HH:MM Asia/Jakarta (the last day of a shorter month)."""
    return Monthly(day, time(hour, minute))


def every(minutes: float) -> Every:
    return Every(timedelta(minutes=minutes))


RunJob = Callable[[Conn, datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    """`run(conn, due_at)` does the job's work for one due moment on `conn`, inside the
    transaction that records the run (write outbox rows there too: shared.outbox.add_rows with a
    shared.consumer.Publisher's rows). `start`: the first due moment considered is the first one
    at or after it; nothing before it ever runs."""

    name: str
    schedule: Schedule
    run: RunJob
    start: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"job {self.name}: start must be timezone-aware")


def due_moments(job: Job, last: datetime | None, now: datetime, limit: int) -> list[datetime]:
    """The job's due moments after `last` (its last recorded run) and not after `now`, in order,
    at most `limit` of them."""
    cursor = job.start - ONE_TICK if last is None else max(last, job.start - ONE_TICK)
    found: list[datetime] = []
    while len(found) < limit:
        due = job.schedule.next_after(cursor)
        if due > now:
            break
        found.append(due)
        cursor = due
    return found


LAST_RUN: Final = "SELECT max(due_at) FROM scheduled_run WHERE job = $1"
# Advisory locks are per database: the schema is part of the key.
ONE_AT_A_TIME: Final = (
    "SELECT pg_try_advisory_xact_lock(hashtext('scheduled_run'), hashtext(current_schema() || ':' || $1))"
)
CLAIM: Final = (
    "INSERT INTO scheduled_run (job, due_at, instance, programme_ran_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING RETURNING true"
)


def default_poll_s(speed: float) -> float:
    """30 real seconds at real time; on an accelerated clock, about a programme hour, but not
    more often than five times a real second."""
    return min(30.0, max(0.2, 3600.0 / speed))


class Scheduler:
    """Polls its jobs every `poll_s` real seconds (at once again while one is catching up).
    `on_run(job, outcome)` counts outcomes (ran, failed) for the metrics."""

    def __init__(
        self,
        jobs: Sequence[Job],
        pool: Callable[[], asyncpg.Pool],
        *,
        instance: str,
        clock: Clock = PROGRAMME,
        poll_s: float = 30.0,
        max_runs_per_poll: int = 100,
        on_run: Callable[[str, str], None] | None = None,
        stop_timeout_s: float = 10.0,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique, got {names}")
        self.jobs = list(jobs)
        self.pool = pool
        self.instance = instance
        self.clock = clock
        self.poll_s = poll_s
        self.max_runs_per_poll = max_runs_per_poll
        self.on_run = on_run or (lambda job, outcome: None)
        self.stop_timeout_s = stop_timeout_s
        self._backoff = {name: Backoff(base=1.0, cap=60.0) for name in names}
        self._retry_at = dict.fromkeys(names, 0.0)  # monotonic: a failed job waits out its backoff
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, job: Job) -> None:
        if any(j.name == job.name for j in self.jobs):
            raise ValueError(f"a job named {job.name} is scheduled already")
        self.jobs.append(job)
        self._backoff[job.name] = Backoff(base=1.0, cap=60.0)
        self._retry_at[job.name] = 0.0

    async def poll(self) -> bool:
        """One pass over the jobs; True when some job has more due moments waiting."""
        behind = False
        for job in list(self.jobs):
            if self._stopping.is_set():
                break
            if monotonic_time.monotonic() >= self._retry_at[job.name]:
                behind |= await self._poll_job(job)
        return behind

    async def _poll_job(self, job: Job) -> bool:
        due_at: datetime | None = None
        try:
            async with self.pool().acquire() as conn:
                last = await self._last_run(conn, job)
                pending = due_moments(job, last, self.clock.now(), self.max_runs_per_poll)
                for due_at in pending:
                    if self._stopping.is_set():
                        return False
                    async with conn.transaction():
                        if not await conn.fetchval(ONE_AT_A_TIME, job.name):
                            return False  # another instance is running this job: next poll
                        if not await conn.fetchval(CLAIM, job.name, due_at, self.instance, self.clock.now()):
                            continue  # another instance ran this moment
                        await job.run(conn, due_at)
                    self.on_run(job.name, "ran")
                    log.info(
                        "scheduled run done",
                        extra={"job": job.name, "due_at": due_at.isoformat(), "instance": self.instance},
                    )
        except Exception as exc:
            delay = self._backoff[job.name].next()
            self._retry_at[job.name] = monotonic_time.monotonic() + delay
            self.on_run(job.name, "failed")
            log.error(
                "scheduled run failed; rolled back, tried again later",
                extra={
                    "job": job.name,
                    "due_at": None if due_at is None else due_at.isoformat(),
                    "error": mask_text(repr(exc))[:500],
                    "retry_in_s": round(delay, 2),
                },
            )
            return False
        self._backoff[job.name].reset()
        return len(pending) == self.max_runs_per_poll

    async def _last_run(self, conn: Conn, job: Job) -> datetime | None:
        """The job's last recorded due moment: read before the runs, so possibly stale by the
        time they start (another instance may commit meanwhile): the claim settles it."""
        last: datetime | None = await conn.fetchval(LAST_RUN, job.name)
        return last

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            if await self.poll():
                continue  # catching up: the next batch of due moments now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_s)

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        """Let the run in hand commit (up to `stop_timeout_s`), then cancel: a cancelled run rolls
        back and the next poll of any instance runs it."""
        self._stopping.set()
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), self.stop_timeout_s)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
