"""The member-month ledger's pure rules (services/sponsorship/domain/ledger.py): which months a
coverage is charged for, each priced by the dated tariff table for its own month, and the lines'
state machine."""

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.sponsorship.domain import ledger
from services.sponsorship.domain.ledger import (
    LedgerSums,
    LedgerTransitionError,
    MemberMonth,
    SponsoredEnrollment,
    contribution_months,
    coverage_end,
    member_months,
)
from services.sponsorship.domain.tariffs import Pricing, Tariff, TariffTable
from services.sponsorship.repository import default_tariff_table
from shared.events.sponsorship import Package
from simulators.bpjs.domain import coverage_end as bpjs_coverage_end

TABLE = default_tariff_table()
FULL = 10_000 + 6_800  # JKK at the income floor + JKM
HALF = 5_000 + 3_400  # PP 50/2025: half of each
T = datetime(2027, 1, 3, 2, 0, tzinfo=UTC)


def enrollment(
    start: date,
    months: int,
    occupation: str = "ojek",
    package: Package = "JKK_JKM",
    income: int | None = None,
) -> SponsoredEnrollment:
    return SponsoredEnrollment(
        enrollment_id=uuid.UUID(int=1),
        worker_id=uuid.UUID(int=2),
        commitment_id="medco",
        company_id="co-medco",
        package=package,
        coverage_start=start,
        months=months,
        declared_income_idr=income,
        occupation=occupation,
    )


def reservation(e: SponsoredEnrollment, table: TariffTable = TABLE, discount: bool = True) -> int:
    """What the request was priced at (handlers: Pricing on the day coverage starts)."""
    pricing = Pricing(table, e.coverage_start, discount)
    return pricing.coverage(e.package, e.months, e.declared_income_idr, e.occupation).total_contribution_idr


# --- months and prices -------------------------------------------------------------------------


def test_an_ojek_drivers_year_from_december_2026_is_discounted_for_four_months_then_full() -> None:
    e = enrollment(date(2026, 12, 1), 12)
    lines = member_months(e, TABLE, apply_discount=True)
    assert [x.month for x in lines] == [
        date(2026, 12, 1),
        *(date(2027, m, 1) for m in range(1, 12)),
    ]
    assert [x.contribution_idr for x in lines] == [HALF] * 4 + [FULL] * 8
    assert [x.discount for x in lines] == ["PP 50/2025"] * 4 + [None] * 8
    assert {x.state for x in lines} == {"expected"}
    assert sum(x.contribution_idr for x in lines) == reservation(e) == 4 * HALF + 8 * FULL


def test_without_the_discount_every_month_is_full() -> None:
    e = enrollment(date(2026, 12, 1), 12)
    lines = member_months(e, TABLE, apply_discount=False)
    assert [x.contribution_idr for x in lines] == [FULL] * 12
    assert {x.discount for x in lines} == {None}
    assert sum(x.contribution_idr for x in lines) == reservation(e, discount=False)


def test_the_other_sectors_discount_ends_with_2026() -> None:
    lines = member_months(enrollment(date(2026, 11, 1), 3, occupation="penyadap karet"), TABLE, True)
    assert [x.contribution_idr for x in lines] == [HALF, HALF, FULL]


def test_one_month_from_the_31st_of_january_is_januarys_line_covered_to_the_end_of_february() -> None:
    e = enrollment(date(2027, 1, 31), 1, occupation="petani")
    lines = member_months(e, TABLE, True)
    assert [(x.month, x.contribution_idr) for x in lines] == [(date(2027, 1, 1), FULL)]
    assert coverage_end(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert sum(x.contribution_idr for x in lines) == reservation(e)


def test_leap_year_february_2028() -> None:
    assert coverage_end(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert coverage_end(date(2028, 2, 29), 12) == date(2029, 2, 28)
    months = contribution_months(date(2028, 2, 29), 12)
    assert months[0] == date(2028, 2, 1) and months[-1] == date(2029, 1, 1) and len(set(months)) == 12
    e = enrollment(date(2028, 2, 29), 12, package="JKK_JKM_JHT", income=3_200_000)
    lines = member_months(e, TABLE, True)
    # JKK of the Rp3,000,001-3,500,000 band, JKM, JHT 2% of Rp3,200,000; no discount in 2028.
    assert {x.contribution_idr for x in lines} == {35_000 + 6_800 + 64_000}
    assert sum(x.contribution_idr for x in lines) == reservation(e)


def test_a_coverage_starting_on_the_20th_is_charged_for_its_first_month_not_the_partial_last() -> None:
    """Coverage from 2026-12-20 for 12 months ends 2027-12-19: December 2026 is charged (its
    contribution makes the 20th covered), December 2027's first days carry no line; a renewal
    from 2027-12-20 charges December 2027 once."""
    start = date(2026, 12, 20)
    e = enrollment(start, 12)
    lines = member_months(e, TABLE, True)
    assert lines[0].month == date(2026, 12, 1) and lines[-1].month == date(2027, 11, 1)
    assert coverage_end(start, 12) == date(2027, 12, 19)
    assert sum(x.contribution_idr for x in lines) == reservation(e)
    renewal = member_months(enrollment(coverage_end(start, 12) + timedelta(days=1), 12), TABLE, True)
    assert renewal[0].month == date(2027, 12, 1)
    both = [x.month for x in lines + renewal]
    assert len(both) == len(set(both)) == 24  # no month twice, none skipped
    assert both == [ledger.add_months(date(2026, 12, 1), i) for i in range(24)]


def test_the_lines_sum_to_the_reservation_for_every_start_package_income_and_sector() -> None:
    starts = [date(2025, 12, 31), date(2026, 3, 15), date(2026, 12, 1), date(2027, 2, 28), date(2028, 2, 29)]
    for start, months, package, income, occupation, discount in itertools.product(
        starts,
        (1, 4, 12, 24),
        ("JKK_JKM", "JKK_JKM_JHT"),
        (None, 2_750_000),
        ("ojol", "nelayan"),
        (True, False),
    ):
        e = enrollment(start, months, occupation, package, income)  # type: ignore[arg-type]
        lines = member_months(e, TABLE, discount)
        assert len(lines) == months
        assert sum(x.contribution_idr for x in lines) == reservation(e, discount=discount), e


def test_each_month_is_priced_by_the_tariff_in_force_that_month() -> None:
    """A table changing JKM from 2027-06: the lines follow it, so they differ from a reservation
    priced by the old table (the only case they may)."""
    old = TABLE.tariffs[0]
    newer = TariffTable(
        [
            replace(old, valid_to=date(2027, 5, 31)),
            replace(old, valid_from=date(2027, 6, 1), valid_to=None, jkm_idr=8_000),
        ],
        TABLE.discounts,
    )
    e = enrollment(date(2027, 4, 1), 4, occupation="petani")
    lines = member_months(e, newer, True)
    assert [x.contribution_idr for x in lines] == [FULL, FULL, 10_000 + 8_000, 10_000 + 8_000]
    assert sum(x.contribution_idr for x in lines) != reservation(e)
    assert isinstance(newer.tariff_for(date(2027, 6, 1)), Tariff)


def test_our_coverage_end_is_bpjss() -> None:
    day = date(2026, 1, 1)
    while day < date(2029, 1, 1):
        for months in (1, 2, 11, 12, 13, 24):
            assert coverage_end(day, months) == bpjs_coverage_end(day, months), (day, months)
        day += timedelta(days=1)


def test_no_months_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        contribution_months(date(2026, 12, 1), 0)


# --- the state machine -------------------------------------------------------------------------


def line(**change: object) -> MemberMonth:
    return replace(member_months(enrollment(date(2026, 12, 1), 1), TABLE, True)[0], **change)  # type: ignore[arg-type]


def test_a_month_goes_expected_invoiced_paid_confirmed() -> None:
    a = ledger.invoiced(line(), "inv-2026-12-medco", T)
    assert (a.state, a.invoice_id, a.invoiced_at) == ("invoiced", "inv-2026-12-medco", T)
    b = ledger.paid(a, T + timedelta(days=3))
    assert (b.state, b.paid_at, b.invoice_id) == ("paid", T + timedelta(days=3), "inv-2026-12-medco")
    c = ledger.confirmed(b, T + timedelta(days=4))
    assert (c.state, c.confirmed_at, c.paid_at) == ("confirmed", T + timedelta(days=4), b.paid_at)


def test_the_same_transition_again_changes_nothing() -> None:
    a = ledger.invoiced(line(), "inv-1", T)
    assert ledger.invoiced(a, "inv-1", T + timedelta(days=1)) == a
    b = ledger.paid(a, T)
    assert ledger.paid(b, T + timedelta(days=1)) == b
    c = ledger.confirmed(b, T)
    assert ledger.confirmed(c, T + timedelta(days=1)) == c


def test_a_month_is_never_on_two_invoices() -> None:
    a = ledger.invoiced(line(), "inv-1", T)
    with pytest.raises(LedgerTransitionError, match="it is on inv-1"):
        ledger.invoiced(a, "inv-2", T)
    with pytest.raises(LedgerTransitionError, match="is paid: it cannot become invoiced"):
        ledger.invoiced(ledger.paid(a, T), "inv-1", T)


@pytest.mark.parametrize(
    ("state", "move"),
    [
        ("expected", "paid"),  # not billed yet: a payment is allocated to an invoiced month
        ("expected", "confirmed"),
        ("invoiced", "confirmed"),  # BPJS confirms only what was paid
        ("missed", "confirmed"),
        ("confirmed", "paid"),
        ("paid", "missed"),
        ("confirmed", "missed"),
    ],
)
def test_impossible_transitions_are_refused(state: str, move: str) -> None:
    start = line(state=state, invoice_id="inv-1", paid_at=T, confirmed_at=T, missed_at=T)
    with pytest.raises(LedgerTransitionError, match=f"is {state}: it cannot become {move}"):
        if move == "paid":
            ledger.paid(start, T)
        elif move == "confirmed":
            ledger.confirmed(start, T)
        else:
            ledger.missed(start, T + timedelta(days=60), date(2027, 1, 15))


def test_a_month_is_missed_only_after_its_due_date_has_passed_in_jakarta() -> None:
    due = date(2027, 1, 15)
    invoiced = ledger.invoiced(line(), "inv-1", T)
    # 2027-01-15 16:59 UTC is 23:59 in Jakarta: still the due date.
    with pytest.raises(LedgerTransitionError, match="before its due date 2027-01-15"):
        ledger.missed(invoiced, datetime(2027, 1, 15, 16, 59, tzinfo=UTC), due)
    at = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)  # 00:00 on the 16th in Jakarta
    m = ledger.missed(invoiced, at, due)
    assert (m.state, m.missed_at, m.invoice_id) == ("missed", at, "inv-1")
    assert ledger.missed(line(), at, due).state == "missed"  # never invoiced: missed all the same
    assert ledger.missed(m, at + timedelta(days=1), due) == m
    late = ledger.paid(m, at + timedelta(days=20))  # a late payment still pays the month
    assert (late.state, late.missed_at) == ("paid", at)


def test_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.invoiced(line(), "inv-1", datetime(2027, 1, 3))


def test_sums_by_state() -> None:
    sums = LedgerSums.of({"expected": 3, "paid": 5, "missed": 7})
    assert (sums.expected_idr, sums.invoiced_idr, sums.paid_idr, sums.missed_idr, sums.total_idr) == (
        3,
        0,
        5,
        7,
        15,
    )
    with pytest.raises(ValueError, match="not ledger states"):
        LedgerSums.of({"lapsed": 1})
