"""The date and counting rules of coverage that lasts (services/sponsorship/domain/coverage.py),
with the coverage-end arithmetic they stand on (ledger.coverage_end) and the Jakarta day the
daily job runs for (shared/calendar): pure, no servers."""

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.sponsorship.domain import coverage
from services.sponsorship.domain.coverage import CoveragePeriod, DayCounts, count_day
from services.sponsorship.domain.ledger import LineState, contribution_months, coverage_end
from services.sponsorship.repository import LiveEnrollment
from shared.calendar import day_starts_at, jakarta_date
from shared.scheduler import daily

JAN, FEB, MAR, APR, MAY = (date(2027, m, 1) for m in range(1, 6))

# --- missed months and lapse ----------------------------------------------------------------------


def test_three_missed_months_in_a_row_lapse_whatever_order_they_are_given_in() -> None:
    states: list[tuple[date, LineState]] = [(MAR, "missed"), (JAN, "missed"), (FEB, "missed")]
    assert coverage.missed_run(states) == 3
    assert coverage.lapses(states)


def test_two_missed_months_do_not_lapse() -> None:
    states: list[tuple[date, LineState]] = [(FEB, "missed"), (JAN, "missed"), (MAR, "expected")]
    assert coverage.missed_run(states) == 2
    assert not coverage.lapses(states)


@pytest.mark.parametrize("paid", ["paid", "confirmed"])
def test_a_paid_month_breaks_the_run(paid: LineState) -> None:
    # Unsorted on purpose: sorted, the newest two are missed and the paid February ends the run.
    states: list[tuple[date, LineState]] = [(APR, "missed"), (JAN, "missed"), (FEB, paid), (MAR, "missed")]
    assert coverage.missed_run(states) == 2
    assert not coverage.lapses(states)


def test_the_newest_month_paid_means_no_run_at_all() -> None:
    states: list[tuple[date, LineState]] = [(JAN, "missed"), (FEB, "missed"), (MAR, "missed"), (APR, "paid")]
    assert coverage.missed_run(states) == 0
    assert not coverage.lapses(states)


def test_lines_not_due_yet_neither_break_nor_lengthen_the_run() -> None:
    states: list[tuple[date, LineState]] = [
        (date(2027, 6, 1), "expected"),
        (JAN, "missed"),
        (MAY, "invoiced"),
        (MAR, "missed"),
        (FEB, "missed"),
        (APR, "invoiced"),
    ]
    assert coverage.missed_run(states) == 3
    assert coverage.lapses(states)


def test_no_lines_no_run() -> None:
    assert coverage.missed_run([]) == 0
    assert not coverage.lapses([])


# --- notices ----------------------------------------------------------------------------------------

LAST = date(2027, 3, 31)


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [(31, None), (30, 30), (29, 30), (8, 30), (7, 7), (1, 7), (0, 7), (-1, None)],
)
def test_the_notice_due_with_none_sent(days_left: int, expected: int | None) -> None:
    assert coverage.notices_due(LAST, LAST - timedelta(days=days_left), []) == expected


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [(30, None), (8, None), (7, 7), (0, 7), (-1, None)],
)
def test_once_the_30_day_notice_is_sent_only_the_7_day_one_is_due(
    days_left: int, expected: int | None
) -> None:
    assert coverage.notices_due(LAST, LAST - timedelta(days=days_left), [30]) == expected


@pytest.mark.parametrize("days_left", [7, 3, 0])
def test_both_sent_nothing_more(days_left: int) -> None:
    assert coverage.notices_due(LAST, LAST - timedelta(days=days_left), {30, 7}) is None


def test_caught_up_with_seven_days_left_and_neither_sent_only_the_7_day_notice_goes() -> None:
    assert coverage.notices_due(LAST, LAST - timedelta(days=7), []) == 7


def enrollment(end: date, notice_30_for: date | None, notice_7_for: date | None) -> LiveEnrollment:
    return LiveEnrollment(
        enrollment_id=uuid.UUID(int=1),
        worker_id=uuid.UUID(int=2),
        commitment_id="c",
        status="confirmed",
        package="JKK_JKM",
        months=3,
        coverage_start=date(2027, 1, 1),
        coverage_end=end,
        kpj_number="16001234567",
        notice_30_for=notice_30_for,
        notice_7_for=notice_7_for,
        full_name="Pekerja",
        phone="+6281200000001",
        occupation="penyadap karet",
        declared_income_idr=None,
        company_id="co-c",
        company_name="PT C",
        email=None,
        webhook_url=None,
        whole_regency=False,
        kecamatan_codes=["07"],
    )


def test_a_renewal_moves_the_last_day_and_the_notices_are_due_again_for_the_new_one() -> None:
    before = enrollment(LAST, notice_30_for=LAST, notice_7_for=LAST)
    assert before.notices_sent() == {30, 7}
    assert coverage.notices_due(LAST, LAST - timedelta(days=5), before.notices_sent()) is None
    new_last = coverage.extended_end(date(2027, 1, 1), 6)
    assert new_last == date(2027, 6, 30)
    renewed = dataclasses.replace(before, coverage_end=new_last, months=6)
    assert renewed.notices_sent() == set()  # sent for the old last day only
    assert coverage.notices_due(new_last, LAST - timedelta(days=5), renewed.notices_sent()) is None  # 96 days
    assert coverage.notices_due(new_last, new_last - timedelta(days=30), renewed.notices_sent()) == 30
    assert coverage.notices_due(new_last, new_last - timedelta(days=7), renewed.notices_sent()) == 7


# --- the fallback's start, renewals' months --------------------------------------------------------


def test_a_fallback_sponsor_covers_from_the_next_day() -> None:
    assert coverage.next_coverage_start(date(2027, 2, 28)) == date(2027, 3, 1)
    assert coverage.next_coverage_start(date(2028, 2, 28)) == date(2028, 2, 29)
    assert coverage.next_coverage_start(date(2027, 12, 31)) == date(2028, 1, 1)


def test_a_renewals_months_follow_the_last_line_across_the_year_end() -> None:
    # 12 months from mid-March 2027: March 2027 .. February 2028; 3 more: March .. May 2028.
    assert coverage.new_months(date(2027, 3, 15), 12, 3) == [
        date(2028, 3, 1),
        date(2028, 4, 1),
        date(2028, 5, 1),
    ]
    # 3 months from November: November .. January; 2 more: February, March.
    assert coverage.new_months(date(2026, 11, 30), 3, 2) == [date(2027, 2, 1), date(2027, 3, 1)]
    assert coverage.new_months(date(2026, 10, 1), 2, 3) == [
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]


STARTS = st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 31))
MONTHS = st.integers(min_value=1, max_value=60)


@given(STARTS, MONTHS, MONTHS)
def test_a_renewal_adds_exactly_the_months_after_the_last_line_and_the_end_moves_on(
    start: date, before: int, added: int
) -> None:
    new = coverage.new_months(start, before, added)
    old = contribution_months(start, before)
    assert old + new == contribution_months(start, before + added)  # contiguous, no month twice
    assert not set(old) & set(new)
    assert coverage.extended_end(start, before + added) > coverage_end(start, before)


# --- coverage-end arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "last"),
    [
        (date(2028, 2, 29), 12, date(2029, 2, 28)),  # leap day: February 2029 has no 29th
        (date(2028, 2, 29), 48, date(2032, 2, 28)),  # leap to leap: the day before the 29th
        (date(2027, 2, 28), 12, date(2028, 2, 27)),
        (date(2027, 3, 1), 12, date(2028, 2, 29)),  # ends on a leap day
        (date(2027, 1, 31), 1, date(2027, 2, 28)),  # the 31st: no 31 February, its last day
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 3, 31), 1, date(2027, 4, 30)),
        (date(2027, 5, 31), 1, date(2027, 6, 30)),
        (date(2027, 7, 31), 1, date(2027, 8, 30)),  # August has a 31st: the day before it
        (date(2027, 1, 1), 1, date(2027, 1, 31)),
        (date(2026, 11, 15), 3, date(2027, 2, 14)),  # across the year end
        (date(2026, 12, 1), 1, date(2026, 12, 31)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 12, 15), 12, date(2027, 12, 14)),
    ],
)
def test_the_last_covered_day(start: date, months: int, last: date) -> None:
    assert coverage_end(start, months) == last
    assert coverage.extended_end(start, months) == last


@given(STARTS, MONTHS)
def test_every_more_month_covers_more_days_and_a_fallback_leaves_no_day(start: date, months: int) -> None:
    last = coverage_end(start, months)
    assert start <= last < coverage_end(start, months + 1)
    assert coverage.next_coverage_start(last) == last + timedelta(days=1)
    assert 28 * months <= (last - start).days + 1 <= 31 * months


def test_months_below_one_are_refused() -> None:
    with pytest.raises(ValueError):
        coverage_end(date(2027, 1, 1), 0)


# --- the Jakarta day ---------------------------------------------------------------------------------


def test_17_00_utc_on_31_january_is_1_february_in_jakarta() -> None:
    assert jakarta_date(datetime(2027, 1, 31, 17, 0, tzinfo=UTC)) == date(2027, 2, 1)
    assert jakarta_date(datetime(2027, 1, 31, 16, 59, 59, tzinfo=UTC)) == date(2027, 1, 31)
    assert day_starts_at(date(2027, 2, 1)) == datetime(2027, 1, 31, 17, 0, tzinfo=UTC)


def test_the_year_begins_in_jakarta_at_17_00_utc_on_31_december() -> None:
    assert day_starts_at(date(2027, 1, 1)) == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert jakarta_date(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == date(2027, 1, 1)
    assert jakarta_date(datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC)) == date(2026, 12, 31)


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError):
        jakarta_date(datetime(2027, 1, 31, 17, 0))


def test_the_daily_job_runs_at_midnight_in_jakarta_for_that_jakarta_day() -> None:
    """The coverage job (daily(0)) is due at 00:00 WIB = 17:00 UTC the day before, and the day it
    runs for (jakarta_date of the due moment, as CoverageDay takes it) is the Jakarta day."""
    schedule = daily(0)
    due = schedule.next_after(datetime(2027, 1, 31, 12, 0, tzinfo=UTC))
    assert due == datetime(2027, 1, 31, 17, 0, tzinfo=UTC) == day_starts_at(date(2027, 2, 1))
    assert jakarta_date(due) == date(2027, 2, 1)
    # Exactly at a due moment, the next is a day later; the last covered day of a coverage ending
    # 31 January has ended by then.
    assert schedule.next_after(due) == day_starts_at(date(2027, 2, 2))
    assert jakarta_date(due) == coverage.next_coverage_start(date(2027, 1, 31))


# --- the day's numbers -------------------------------------------------------------------------------

DAY = date(2027, 2, 1)


def period(worker: str, start: date, last: date, pending: bool = False) -> CoveragePeriod:
    return CoveragePeriod(worker, start, last, pending)


def counts(
    periods: list[CoveragePeriod],
    waiting_with_room: tuple[str, ...] = (),
    at_risk: tuple[str, ...] = (),
    paid: dict[str, int] | None = None,
) -> DayCounts:
    return count_day(DAY, periods, waiting_with_room, at_risk, paid or {})


def test_a_coverage_that_includes_the_day_counts_as_covered() -> None:
    found = counts(
        [
            period("a", date(2027, 1, 1), DAY),  # its last day
            period("b", DAY, date(2027, 12, 31)),  # its first day
            period("c", date(2026, 1, 1), date(2026, 12, 31)),  # ended a month ago
            period("d", date(2027, 2, 2), date(2028, 2, 1)),  # from tomorrow, confirmed
        ]
    )
    assert found == DayCounts(
        workers_covered=2, workers_uncovered=1, unplanned_gaps=0, members_at_risk=0, members_six_paid_months=0
    )


def test_uncovered_the_day_after_an_ended_coverage_not_before() -> None:
    ended = period("a", date(2026, 2, 1), date(2027, 1, 31))
    assert counts([ended]).workers_uncovered == 1
    assert count_day(date(2027, 1, 31), [ended], (), (), {}).workers_uncovered == 0
    assert count_day(date(2026, 1, 31), [ended], (), (), {}).workers_uncovered == 0  # never covered yet


def test_a_pending_enrollment_from_today_or_tomorrow_is_in_hand_not_covered() -> None:
    ended = [period(w, date(2026, 2, 1), date(2027, 1, 31)) for w in "abc"]
    found = counts(
        [
            *ended,
            period("a", DAY, date(2028, 1, 31), pending=True),  # fallback requested from today
            period("b", DAY + timedelta(days=1), date(2028, 2, 1), pending=True),  # from tomorrow
            period("c", DAY + timedelta(days=2), date(2028, 2, 2), pending=True),  # a day's gap
        ]
    )
    assert (found.workers_covered, found.workers_uncovered) == (0, 1)


def test_a_pending_enrollment_alone_is_neither_covered_nor_uncovered() -> None:
    found = counts([period("a", date(2027, 1, 1), date(2027, 12, 31), pending=True)])
    assert (found.workers_covered, found.workers_uncovered) == (0, 0)


def test_a_fallback_confirmed_from_the_next_day_leaves_no_uncovered_day() -> None:
    old = period("a", date(2026, 2, 1), date(2027, 1, 31))
    new = period("a", coverage.next_coverage_start(old.last), date(2028, 1, 31))
    found = counts([old, new])
    assert (found.workers_covered, found.workers_uncovered) == (1, 0)


def test_a_gap_is_only_a_waiting_worker_a_commitment_with_room_would_take_and_not_in_hand() -> None:
    found = counts(
        [
            period("a", date(2026, 2, 1), date(2027, 1, 31)),  # ended, waiting, room: a gap
            period("b", date(2026, 2, 1), date(2027, 1, 31)),  # ended, waiting, no room: no gap
            period("c", DAY, date(2028, 1, 31), pending=True),  # in hand: no gap
            period("d", date(2027, 1, 1), date(2027, 12, 31)),  # covered: no gap
        ],
        waiting_with_room=("a", "c", "d", "e"),  # e: never covered, waiting with room: a gap
    )
    assert found.unplanned_gaps == 2
    assert found.workers_uncovered == 2  # a and b (e was never covered)


def test_at_risk_only_counts_covered_workers() -> None:
    found = counts(
        [
            period("a", date(2027, 1, 1), date(2027, 12, 31)),
            period("b", date(2026, 1, 1), date(2026, 12, 31)),
        ],
        at_risk=("a", "b", "z"),
    )
    assert found.members_at_risk == 1


def test_bpjs_kpi_is_six_or_more_paid_months() -> None:
    found = counts([], paid={"a": 5, "b": 6, "c": 7, "d": 0})
    assert found.members_six_paid_months == 2
    assert coverage.KPI_PAID_MONTHS == 6


def test_a_worker_with_two_coverages_on_the_day_counts_once() -> None:
    found = counts([period("a", date(2027, 1, 1), DAY), period("a", DAY, date(2028, 1, 31))])
    assert (found.workers_covered, found.workers_uncovered) == (1, 0)
