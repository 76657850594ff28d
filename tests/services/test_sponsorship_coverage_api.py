"""GET /api/coverage against the real sponsorship schema, served over HTTP with tokens: the days
the coverage job recorded (newest first, a range by ?from=&to=), their totals (coverage-days
lost, unplanned gap-days), and per commitment its budget burn and months left; the office and
the auditor may read it, a company may not."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime

import asyncpg
import pytest

from services.sponsorship.app import MIGRATIONS
from services.sponsorship.repository import PgSponsorshipStore
from shared import clock
from shared.db import connect, migrate
from testkit.infra import Infra
from tests.services import test_sponsorship_tariffs
from tests.services.test_sponsorship_coverage import _add, _day, _enrolled
from tests.services.test_sponsorship_store import announced, commitment
from tests.services.test_sponsorship_tariffs import AUDITOR, MEDCO, OFFICE, Service, call

service = test_sponsorship_tariffs.service  # the fixture: sponsorship served over HTTP, with tokens
TODAY = date(2027, 2, 2)


@pytest.fixture
async def conn(infra: Infra, service: Service) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the schema the served sponsorship uses (emptied by `service`)."""
    dsn = infra.database_urls["sponsorship"]
    await migrate(dsn, MIGRATIONS)
    c = await connect(dsn)
    try:
        yield c
    finally:
        await c.close()


async def _requested(
    conn: asyncpg.Connection, i: int, commitment_id: str, start: date, months: int, kecamatan: str
) -> None:
    """A worker matched to the commitment, BPJS not answered yet (no last day stored)."""
    async with conn.transaction():
        store = PgSponsorshipStore(conn)
        worker = await store.add_worker(announced(i, kecamatan))
        assert worker is not None
        await store.add_enrollment(
            worker_id=worker.worker_id,
            commitment_id=commitment_id,
            package="JKK_JKM",
            months=months,
            coverage_start=start,
            contribution_idr=16_800 * months,
        )
        assert await store.reserve_slot(commitment_id, 16_800 * months)


async def test_the_office_sees_the_days_their_totals_and_each_commitments_burn(
    service: Service, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: TODAY)
    await _add(
        conn,
        (replace(commitment("a", {"07"}, slots=1), months=1), 16_800),  # one month, no renewal
        (commitment("c", {"05"}, slots=3), 10**7),  # another kecamatan: no fallback for worker 1
    )
    await _enrolled(conn, 1, "a", date(2027, 1, 1), months=1)  # last covered day 31 January
    paid = await _enrolled(conn, 2, "c", date(2026, 12, 1), months=12, kecamatan="05")  # to 30 November 2027
    await conn.execute(
        "UPDATE member_month SET state = 'paid', paid_at = $2 WHERE enrollment_id = $1 AND month = '2026-12-01'",
        paid,
        datetime(2026, 12, 10, tzinfo=UTC),
    )
    await _requested(
        conn, 3, "c", date(2027, 2, 15), months=24, kecamatan="05"
    )  # would cover to 14 February 2029
    # A waitlisted worker a commitment written behind matching's back would take: a gap each day.
    async with conn.transaction():
        store = PgSponsorshipStore(conn)
        await store.add_worker(announced(4, "03"))
        await store.add_commitment(commitment("x", {"03"}, slots=1), budget_idr=10**7)
    for day in (date(2027, 1, 31), date(2027, 2, 1), date(2027, 2, 2)):
        await _day(conn, day)

    answer = await call(service.port, "GET", "/api/coverage?from=2027-01-31&to=2027-02-02", OFFICE)
    assert answer.status == 200, answer.body
    body = answer.body
    assert (body["today"], body["from"], body["to"]) == ("2027-02-02", "2027-01-31", "2027-02-02")
    days = [
        (d["day"], d["workers_covered"], d["workers_uncovered"], d["unplanned_gaps"]) for d in body["days"]
    ]
    # Worker 1's coverage ended on 31 January (no other commitment for them: waitlisted), one
    # coverage-day lost each day after; worker 2 covered throughout; worker 4 an unplanned gap.
    assert days == [("2027-02-02", 1, 1, 1), ("2027-02-01", 1, 1, 1), ("2027-01-31", 2, 0, 1)]
    assert body["totals"] == {"days": 3, "coverage_days_lost": 2, "unplanned_gap_days": 3}

    burn = {c["commitment_id"]: c for c in body["commitments"]}
    assert list(burn) == ["a", "c", "x"]  # in the order they came
    assert {k: burn["a"][k] for k in ("budget_idr", "ledger_idr", "paid_idr", "live_enrollments")} == {
        "budget_idr": 16_800,
        "ledger_idr": 16_800,  # its one month still owed
        "paid_idr": 0,
        "live_enrollments": 0,
    }
    assert (burn["a"]["covered_until"], burn["a"]["months_left"], burn["a"]["suspended_on"]) == (
        None,
        0,
        None,
    )
    c = burn["c"]
    assert (c["budget_idr"], c["ledger_idr"], c["paid_idr"], c["live_enrollments"]) == (
        10**7,
        12 * 16_800,  # the requested enrollment has no lines yet
        16_800,
        2,
    )
    # The latest last day of its live enrollments: the requested one's 24 months.
    assert (c["covered_until"], c["months_left"]) == ("2029-02-14", 24)
    assert c["days_left"] == (date(2029, 2, 14) - TODAY).days + 1

    one = await call(service.port, "GET", "/api/coverage?from=2027-02-01&to=2027-02-01", AUDITOR)
    assert one.status == 200
    assert [d["day"] for d in one.body["days"]] == ["2027-02-01"]
    assert one.body["totals"] == {"days": 1, "coverage_days_lost": 1, "unplanned_gap_days": 1}
    since = await call(service.port, "GET", "/api/coverage?from=2027-02-02", OFFICE)
    assert [d["day"] for d in since.body["days"]] == ["2027-02-02"]


async def test_a_suspended_commitment_shows_since_when(service: Service, conn: asyncpg.Connection) -> None:
    await _add(conn, (commitment("s", {"07"}, slots=1), 10**7))
    await conn.execute("UPDATE commitment SET suspended_on = '2027-03-17' WHERE commitment_id = 's'")
    answer = await call(service.port, "GET", "/api/coverage", OFFICE)
    assert answer.status == 200
    [s] = answer.body["commitments"]
    assert (s["suspended_on"], s["live_enrollments"], s["months_left"]) == ("2027-03-17", 0, 0)


async def test_only_the_office_and_the_auditor_read_it_and_bad_days_are_refused(
    service: Service, conn: asyncpg.Connection
) -> None:
    assert (await call(service.port, "GET", "/api/coverage", MEDCO)).status == 403
    assert (await call(service.port, "GET", "/api/coverage", "not-a-token-" + uuid.uuid4().hex)).status == 401
    assert (await call(service.port, "GET", "/api/coverage?from=2027-02-30", OFFICE)).status == 400
    assert (
        await call(service.port, "GET", "/api/coverage?from=2027-02-02&to=2027-02-01", OFFICE)
    ).status == 400
    assert (await call(service.port, "GET", "/api/coverage", AUDITOR)).status == 200
