"""shared.scheduler's schedules and catch-up, pure: due moments in Asia/Jakarta across month ends,
a leap year and midnight, and which moments a poll runs (in order, bounded)."""

from datetime import UTC, datetime, time, timedelta

import pytest

from shared.clock import JAKARTA, ManualClock
from shared.db import Conn
from shared.scheduler import Daily, Job, Monthly, daily, default_poll_s, due_moments, every, monthly


def wib(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=JAKARTA)  # type: ignore[misc]


def moments(schedule: Monthly | Daily, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = schedule.next_after(after)
        found.append(after)
    return found


async def nothing(conn: Conn, due_at: datetime) -> None:
    return None


def test_monthly_on_the_15th_at_08_00_jakarta_is_01_00_utc_every_month_across_month_ends() -> None:
    found = moments(monthly(15, 8), wib(2027, 11, 20), 4)
    assert found == [
        datetime(2027, 12, 15, 1, 0, tzinfo=UTC),
        datetime(2028, 1, 15, 1, 0, tzinfo=UTC),  # across the year's end
        datetime(2028, 2, 15, 1, 0, tzinfo=UTC),
        datetime(2028, 3, 15, 1, 0, tzinfo=UTC),
    ]
    assert all(m.tzinfo == UTC for m in found)


def test_a_due_moment_is_strictly_after_the_given_one() -> None:
    at = wib(2027, 3, 15, 8, 0)
    assert monthly(15, 8).next_after(at) == wib(2027, 4, 15, 8, 0)
    assert monthly(15, 8).next_after(at - timedelta(microseconds=1)) == at
    assert daily(8).next_after(at) == wib(2027, 3, 16, 8, 0)


def test_a_day_beyond_a_months_end_runs_on_its_last_day_and_february_29_in_a_leap_year() -> None:
    assert moments(monthly(31, 9), wib(2028, 1, 31, 10), 3) == [
        wib(2028, 2, 29, 9),  # 2028 is a leap year
        wib(2028, 3, 31, 9),
        wib(2028, 4, 30, 9),
    ]
    assert moments(monthly(29, 0), wib(2027, 1, 30), 2) == [wib(2027, 2, 28), wib(2027, 3, 29)]
    assert moments(monthly(29, 0), wib(2100, 1, 30), 1) == [wib(2100, 2, 28)]  # 2100 is not


def test_daily_at_midnight_jakarta_is_17_00_utc_the_day_before() -> None:
    found = moments(daily(0), datetime(2027, 12, 31, 16, 59, tzinfo=UTC), 2)
    assert found == [datetime(2027, 12, 31, 17, 0, tzinfo=UTC), datetime(2028, 1, 1, 17, 0, tzinfo=UTC)]
    assert found[0].astimezone(JAKARTA) == wib(2028, 1, 1)  # already the new year in Jakarta
    # 23:30 UTC on 31 December is 06:30 on 1 January in Jakarta: today's 00:00 is past.
    assert daily(0).next_after(datetime(2027, 12, 31, 23, 30, tzinfo=UTC)) == wib(2028, 1, 2)
    # Monthly on day 1 at 00:00 Jakarta, asked at 17:30 UTC on 31 January: February has begun there.
    assert monthly(1, 0).next_after(datetime(2028, 1, 31, 17, 30, tzinfo=UTC)) == wib(2028, 3, 1)


def test_every_n_minutes_falls_on_the_same_moments_whoever_asks() -> None:
    schedule = every(15)
    assert schedule.next_after(datetime(2027, 1, 1, 0, 7, 12, tzinfo=UTC)) == datetime(
        2027, 1, 1, 0, 15, tzinfo=UTC
    )
    assert schedule.next_after(datetime(2027, 1, 1, 0, 15, tzinfo=UTC)) == datetime(
        2027, 1, 1, 0, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "bad",
    [lambda: monthly(0), lambda: monthly(32), lambda: every(0), lambda: Daily(time(8, tzinfo=UTC))],
)
def test_schedules_that_make_no_sense_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


def test_catch_up_runs_every_missed_moment_in_order_and_at_most_the_bound_per_poll() -> None:
    job = Job("daily-reminders", daily(8), nothing, start=wib(2027, 1, 1))
    now = ManualClock(wib(2027, 1, 10, 9)).now()
    first = due_moments(job, None, now, limit=4)
    assert first == [wib(2027, 1, d, 8) for d in (1, 2, 3, 4)]
    rest = due_moments(job, first[-1], now, limit=100)
    assert rest == [wib(2027, 1, d, 8) for d in range(5, 11)]  # up to 10 January, today's included
    assert due_moments(job, rest[-1], now, limit=100) == []  # nothing is due until tomorrow 08:00


def test_catch_up_starts_at_the_jobs_start_and_never_before_it() -> None:
    job = Job("invoices", monthly(1, 0), nothing, start=wib(2027, 3, 1))
    now = wib(2027, 5, 20)
    assert due_moments(job, None, now, 10) == [wib(2027, 3, 1), wib(2027, 4, 1), wib(2027, 5, 1)]
    # A record older than the start (the start was moved on): still nothing before the start.
    assert due_moments(job, wib(2026, 12, 1), now, 10)[0] == wib(2027, 3, 1)
    assert due_moments(job, wib(2027, 4, 1), now, 10) == [wib(2027, 5, 1)]


def test_a_job_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Job("x", daily(8), nothing, start=datetime(2027, 1, 1))


def test_the_default_poll_is_30_s_at_real_time_and_shorter_on_an_accelerated_clock() -> None:
    assert default_poll_s(1.0) == 30.0
    assert default_poll_s(3600.0) == 1.0  # a programme hour per real second: every programme hour
    assert default_poll_s(86400.0) == 0.2
