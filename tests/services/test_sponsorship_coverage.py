"""The daily coverage job against the real sponsorship schema: each transition of a coverage's
life (notices, period end with a fallback sponsor or the waitlist, lapse after three missed
months, a late payment within the grace), checked on the rows and on the events the run put in
the outbox, and the day's numbers, including an unplanned gap when one is made on purpose."""

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.sponsorship.app import MIGRATIONS
from services.sponsorship.coverage import coverage_gauges, coverage_job
from services.sponsorship.domain import ledger
from services.sponsorship.handlers import SponsorshipHandlers
from services.sponsorship.jobs import invoices_job
from services.sponsorship.repository import PgSponsorshipStore
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts
from shared.calendar import Month, day_starts_at
from shared.db import connect, migrate
from testkit.infra import Infra
from tests.services.test_sponsorship_store import announced, commitment
from tests.support import truncate_schema

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
PREFIX = "cov."


@pytest.fixture
async def conn(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    dsn = infra.database_urls["sponsorship"]
    await migrate(dsn, MIGRATIONS)
    await truncate_schema(infra, "sponsorship")
    c = await connect(dsn)
    try:
        yield c
    finally:
        await c.close()


def _handlers() -> SponsorshipHandlers:
    return SponsorshipHandlers(SponsorshipSettings(SPONSORSHIP_APPLY_DISCOUNT=False))  # type: ignore[call-arg]


async def _enrolled(
    conn: asyncpg.Connection, i: int, commitment_id: str, start: date, months: int, kecamatan: str = "07"
) -> uuid.UUID:
    """A worker enrolled (confirmed by BPJS) under the commitment from `start` for `months`."""
    async with conn.transaction():
        store = PgSponsorshipStore(conn)
        worker = await store.add_worker(announced(i, kecamatan))
        assert worker is not None
        table = await store.tariff_table()
        enrollment_id = await store.add_enrollment(
            worker_id=worker.worker_id,
            commitment_id=commitment_id,
            package="JKK_JKM",
            months=months,
            coverage_start=start,
            contribution_idr=16_800 * months,
        )
        assert await store.reserve_slot(commitment_id, 16_800 * months)
        end = ledger.coverage_end(start, months)
        done = await store.confirm_enrollment(enrollment_id, worker.worker_id, f"KPJ{i:06d}", start, end, T0)
        assert done is not None
        lines = ledger.member_months(done.sponsored(enrollment_id, worker.worker_id, start), table, False)
        await store.add_member_months(lines, reserved_idr=16_800 * months)
    return enrollment_id


async def _day(conn: asyncpg.Connection, day: date, handlers: SponsorshipHandlers | None = None) -> list[Any]:
    """Run the coverage job for `day`; the events it put in the outbox (topic, payload), in order."""
    job = coverage_job(day, PREFIX, handlers or _handlers())
    before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
    async with conn.transaction():
        await job.run(conn, day_starts_at(day))
    rows = await conn.fetch("SELECT topic, payload FROM outbox WHERE id > $1 ORDER BY id", before)
    return [(r["topic"].removeprefix(PREFIX), json.loads(r["payload"])) for r in rows]


def _of(events: list[Any], contract: contracts.Contract[Any]) -> list[dict[str, Any]]:
    return [data for topic, data in events if topic == contract.topic]


async def _add(conn: asyncpg.Connection, *commitments: Any) -> None:
    async with conn.transaction():
        store = PgSponsorshipStore(conn)
        for c, budget in commitments:
            await store.add_commitment(c, budget_idr=budget)


async def test_notices_then_the_end_hands_the_worker_to_a_fallback_sponsor_from_the_next_day(
    conn: asyncpg.Connection,
) -> None:
    await _add(
        conn,
        (replace(commitment("a", {"07"}, slots=1), months=1), 16_800),
        (commitment("b", None, slots=5), 10**7),
    )
    old = await _enrolled(conn, 1, "a", date(2027, 1, 1), months=1)  # last covered day 31 January
    assert _of(await _day(conn, date(2026, 12, 31)), contracts.COVERAGE_ENDING) == []  # 31 days left
    first = _of(await _day(conn, date(2027, 1, 1)), contracts.COVERAGE_ENDING)
    assert [(e["days_left"], e["coverage_end"]) for e in first] == [(30, "2027-01-31")]
    assert _of(await _day(conn, date(2027, 1, 2)), contracts.COVERAGE_ENDING) == []  # once
    second = _of(await _day(conn, date(2027, 1, 24)), contracts.COVERAGE_ENDING)
    assert [e["days_left"] for e in second] == [7]

    events = await _day(conn, date(2027, 1, 31))
    (ended,) = _of(events, contracts.COVERAGE_ENDED)
    assert (ended["reason"], ended["last_covered_day"], ended["next"]) == (
        "period_ended",
        "2027-01-31",
        "fallback",
    )
    assert (ended["next_company_name"], ended["next_coverage_start"]) == ("PT b", "2027-02-01")
    (requested,) = _of(events, contracts.ENROLLMENT_REQUESTED)
    assert requested["coverage_start"] == "2027-02-01" and requested["payer"]["commitment_id"] == "b"
    rows = await conn.fetch(
        "SELECT enrollment_id, status, ended_on, follows, commitment_id FROM enrollment ORDER BY requested_at"
    )
    assert [(r["status"], r["commitment_id"]) for r in rows] == [("ended", "a"), ("requested", "b")]
    assert rows[0]["ended_on"] == date(2027, 2, 1) and rows[1]["follows"] == old
    a = await conn.fetchrow("SELECT slots_used, budget_used_idr FROM commitment WHERE commitment_id = 'a'")
    assert (a["slots_used"], a["budget_used_idr"]) == (0, 16_800)  # the slot free, its month still owed
    # The same day again: nothing more.
    assert await _day(conn, date(2027, 1, 31)) == []
    day = await conn.fetchrow("SELECT * FROM coverage_day WHERE day = '2027-01-31'")
    assert (day["workers_covered"], day["workers_uncovered"], day["unplanned_gaps"]) == (1, 0, 0)


async def test_with_no_other_commitment_the_worker_is_waitlisted_and_everyone_told(
    conn: asyncpg.Connection,
) -> None:
    await _add(conn, (replace(commitment("a", {"07"}, slots=1), months=1), 16_800))
    await _enrolled(conn, 1, "a", date(2027, 1, 10), months=1)  # last covered day 9 February
    events = await _day(conn, date(2027, 2, 9))
    (ended,) = _of(events, contracts.COVERAGE_ENDED)
    assert (ended["next"], ended["next_company_name"]) == ("waitlisted", None)
    assert ended["company_email"] == "csr@example.co.id"
    assert len(_of(events, contracts.WORKER_WAITLISTED)) == 1
    assert await conn.fetchval("SELECT status FROM worker") == "waitlisted"
    # Waiting, and the only commitment is the one whose months they had: no gap, one day lost after.
    await _day(conn, date(2027, 2, 10))
    day = await conn.fetchrow("SELECT * FROM coverage_day WHERE day = '2027-02-10'")
    assert (day["workers_covered"], day["workers_uncovered"], day["unplanned_gaps"]) == (0, 1, 0)


async def _invoice(conn: asyncpg.Connection, month: Month) -> None:
    job = invoices_job(month, PREFIX)
    async with conn.transaction():
        await job.run(conn, job.start)


async def test_three_missed_months_lapse_the_membership_suspend_the_sponsor_and_rematch(
    conn: asyncpg.Connection,
) -> None:
    await _add(conn, (commitment("a", {"07"}, slots=2), 10**7), (commitment("b", None, slots=5), 10**7))
    lapsing = await _enrolled(conn, 1, "a", date(2027, 1, 1), months=12)
    for month in (Month(2027, 1), Month(2027, 2), Month(2027, 3)):
        await _invoice(conn, month)
    await _day(conn, date(2027, 1, 16))
    assert await conn.fetchval("SELECT count(*) FROM member_month WHERE state = 'missed'") == 1
    day = await conn.fetchrow("SELECT * FROM coverage_day WHERE day = '2027-01-16'")
    assert day["members_at_risk"] == 1
    await _day(conn, date(2027, 2, 16))
    # Still active after two. March's due date: the 15th is a cuti bersama of Idulfitri 1448 H
    # (shared/data/cuti_bersama.json), so the 16th; it is missed on the 17th.
    assert (
        await conn.fetchval("SELECT status FROM enrollment WHERE enrollment_id = $1", lapsing) == "confirmed"
    )
    assert _of(await _day(conn, date(2027, 3, 16)), contracts.COVERAGE_ENDED) == []
    events = await _day(conn, date(2027, 3, 17))
    (ended,) = _of(events, contracts.COVERAGE_ENDED)
    assert (ended["reason"], ended["months_unpaid"], ended["last_covered_day"]) == ("lapsed", 3, "2027-03-16")
    assert (ended["next"], ended["next_coverage_start"]) == ("fallback", "2027-03-17")
    row = await conn.fetchrow("SELECT status, ended_on FROM enrollment WHERE enrollment_id = $1", lapsing)
    assert (row["status"], row["ended_on"]) == ("lapsed", date(2027, 3, 17))
    # April to December were never invoiced: not owed; the three missed months are.
    months = await conn.fetch(
        "SELECT month, state FROM member_month WHERE enrollment_id = $1 ORDER BY month", lapsing
    )
    assert [(r["month"].month, r["state"]) for r in months] == [(1, "missed"), (2, "missed"), (3, "missed")]
    a = await conn.fetchrow(
        "SELECT slots_used, budget_used_idr, suspended_on FROM commitment WHERE commitment_id = 'a'"
    )
    assert (a["slots_used"], a["budget_used_idr"], a["suspended_on"]) == (0, 3 * 16_800, date(2027, 3, 17))
    # A suspended commitment takes no one: a new worker there goes to b.
    async with conn.transaction():
        store = PgSponsorshipStore(conn)
        assert [c.commitment_id for c in await store.open_commitments()] == ["b"]


async def test_a_late_payment_within_the_grace_keeps_the_membership(conn: asyncpg.Connection) -> None:
    await _add(conn, (commitment("a", {"07"}, slots=2), 10**7))
    kept = await _enrolled(conn, 1, "a", date(2027, 1, 1), months=12)
    for month in (Month(2027, 1), Month(2027, 2), Month(2027, 3)):
        await _invoice(conn, month)
    await _day(conn, date(2027, 2, 16))  # January and February missed
    async with conn.transaction():
        store = PgSponsorshipStore(conn)
        await store.mark_paid(kept, date(2027, 1, 1), T0 + timedelta(days=80))  # January, late
    events = await _day(conn, date(2027, 3, 17))  # February and March missed: a run of two
    assert _of(events, contracts.COVERAGE_ENDED) == []
    assert await conn.fetchval("SELECT status FROM enrollment WHERE enrollment_id = $1", kept) == "confirmed"


async def test_a_waiting_worker_an_open_commitment_would_take_is_an_unplanned_gap(
    conn: asyncpg.Connection,
) -> None:
    """The number must be able to fail: a commitment written behind matching's back leaves a
    waitlisted worker it covers waiting."""
    async with conn.transaction():
        store = PgSponsorshipStore(conn)
        await store.add_worker(announced(1, "07"))
        await store.add_worker(announced(2, "03"))
        await store.add_commitment(commitment("x", {"07"}, slots=1), budget_idr=10**7)
    await _day(conn, date(2027, 1, 5))
    day = await conn.fetchrow("SELECT * FROM coverage_day WHERE day = '2027-01-05'")
    assert (day["unplanned_gaps"], day["workers_covered"]) == (1, 0)
    reported = _of(await _day(conn, date(2027, 1, 6)), contracts.COVERAGE_REPORTED)
    assert [(r["unplanned_gaps"], r["unplanned_gap_days"]) for r in reported] == [(1, 2)]
    # /metrics reads the same numbers: the latest day's, and the totals.
    gauges = {name: value for name, (_, value) in (await coverage_gauges(conn)).items()}
    assert gauges["muba_coverage_unplanned_gaps"] == 1 and gauges["muba_coverage_unplanned_gap_days"] == 2
    assert gauges["muba_coverage_workers_covered"] == 0
