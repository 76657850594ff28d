"""The scheduled job "invoice-reminders" against the real sponsorship schema and Kafka, driven by
the scheduler on a ManualClock: an unpaid invoice gets due_soon and each overdue reminder once on
its working day (also through a catch-up over days the scheduler was down, and when a day is run
again), a paid invoice none; the events on the topic are what notifications receives."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from services.sponsorship.app import MIGRATIONS
from services.sponsorship.domain.invoices import reminder_rules
from services.sponsorship.jobs import REMINDERS_JOB, invoices_job, reminders_job
from services.sponsorship.repository import PgSponsorshipStore
from shared import contracts
from shared.calendar import Month, day_starts_at
from shared.clock import JAKARTA, ManualClock
from shared.db import connect, create_pool, migrate
from shared.relay import OutboxRelay
from shared.scheduler import Scheduler
from testkit.infra import Infra
from testkit.kafka import record_events
from tests.services.test_sponsorship_invoices import _enrolled
from tests.services.test_sponsorship_store import commitment
from tests.support import truncate_schema

JANUARY_ISSUE = day_starts_at(date(2027, 1, 1))
RULES = reminder_rules((3,), (1, 7))


def wib(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=JAKARTA)  # type: ignore[misc]


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """A liveness bound (generous: the machine is shared), not a duration."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.05)


async def test_an_unpaid_invoice_is_reminded_once_on_each_day_and_a_paid_one_never(
    infra: Infra, topic_prefix: str
) -> None:
    dsn = infra.database_urls["sponsorship"]
    await migrate(dsn, MIGRATIONS)
    await truncate_schema(infra, "sponsorship")
    conn = await connect(dsn)
    pool = await create_pool(dsn, 1, 4)
    try:
        async with conn.transaction():
            store = PgSponsorshipStore(conn)
            await store.add_commitment(commitment("a", {"07"}, slots=3), budget_idr=10_000_000)
            await store.add_commitment(commitment("b", {"07"}, slots=3), budget_idr=10_000_000)
            a1 = await _enrolled(store, 1, "a", date(2027, 1, 1))
            b1 = await _enrolled(store, 2, "b", date(2027, 1, 1))
        async with conn.transaction():
            await invoices_job(Month(2027, 1), topic_prefix).run(conn, JANUARY_ISSUE)
        async with conn.transaction():  # company b pays January before any reminder
            await PgSponsorshipStore(conn).mark_paid(b1, date(2027, 1, 1), wib(2027, 1, 5, 10))
        # January 2027 is due on Friday 15 January: due_soon 3 working days before (Tue 12),
        # overdue 1 and 7 after (Mon 18, Tue 26).
        job = reminders_job(Month(2027, 1), topic_prefix, RULES)
        clock = ManualClock(wib(2027, 1, 12, 9))  # down since the 1st: 12 days to catch up
        relay = OutboxRelay(dsn, infra.kafka, idle_poll_s=0.2)
        topic = topic_prefix + contracts.INVOICE_REMINDER.topic

        async def runs_up_to(day: int) -> bool:
            last = await pool.fetchval("SELECT max(due_at) FROM scheduled_run WHERE job = $1", REMINDERS_JOB)
            return last is not None and last >= wib(2027, 1, day, 8)

        async with record_events(infra.kafka, topic) as rec:
            relay.start()
            sched = Scheduler(
                [job], lambda: pool, instance="t", clock=clock, poll_s=0.05, max_runs_per_poll=3
            )
            sched.start()
            try:
                await until(lambda: runs_up_to(12), 60, "catch-up to 12 January")
                await rec.wait_for(1, timeout_s=60)
                await sched.stop()
                # Down again from the 13th to the 29th; the line is missed meanwhile (still unpaid).
                async with conn.transaction():
                    await PgSponsorshipStore(conn).mark_missed(
                        a1, date(2027, 1, 1), wib(2027, 1, 16, 0, 5), date(2027, 1, 15)
                    )
                clock.set(wib(2027, 1, 29, 9))
                sched.start()
                await until(lambda: runs_up_to(29), 60, "catch-up to 29 January")
                # The same days run again (e.g. by hand): nothing more.
                for day in (12, 18, 26, 29):
                    async with conn.transaction():
                        await job.run(conn, wib(2027, 1, day, 8).astimezone(UTC))
                await rec.wait_for(3, timeout_s=60)
                await rec.settle(quiet_s=1.5)
            finally:
                await sched.stop()
                await relay.stop(drain_timeout_s=2.0)
        got = [
            (
                e.payload["invoice_number"],
                e.payload["kind"],
                e.payload["days_from_due"],
                e.payload["reminded_at"],
            )
            for e in rec.events
        ]
        assert sorted(got, key=lambda x: x[3]) == [
            ("INV-CO-A-2027-01", "due_soon", -3, "2027-01-12T01:00:00Z"),
            ("INV-CO-A-2027-01", "overdue", 1, "2027-01-18T01:00:00Z"),
            ("INV-CO-A-2027-01", "overdue", 7, "2027-01-26T01:00:00Z"),
        ]
        first = rec.events[0].payload
        assert (first["due_date"], first["unpaid_lines"], first["unpaid_idr"], first["month"]) == (
            "2027-01-15",
            1,
            16_800,
            "2027-01",
        )
        rows = await conn.fetch(
            "SELECT kind, days_from_due, reminder_day FROM invoice_reminder ORDER BY reminder_day"
        )
        assert [(r["kind"], r["days_from_due"], r["reminder_day"]) for r in rows] == [
            ("due_soon", -3, date(2027, 1, 12)),
            ("overdue", 1, date(2027, 1, 18)),
            ("overdue", 7, date(2027, 1, 26)),
        ]
        assert len({e.headers["ce_id"] for e in rec.events}) == 3
    finally:
        await pool.close()
        await conn.close()
