"""shared/calendar.py: the working days, the 15th and its next working day, the reminders, the
months and the Jakarta days against UTC instants, on real dates of 2025-2028."""

from datetime import UTC, date, datetime

import holidays
import pytest

from shared.calendar import (
    DEFAULT_REMINDERS,
    CalendarDataError,
    CalendarYearUnknown,
    CutiBersamaYear,
    Month,
    ReminderRule,
    WorkingCalendar,
    day_ends_at,
    day_starts_at,
    is_on_time,
    jakarta_date,
    parse_cuti_bersama,
    programme_calendar,
)

CAL = programme_calendar()


def without_cuti_bersama() -> WorkingCalendar:
    """The same years with the SKB's cuti bersama days left out: what the public holidays alone say."""
    return WorkingCalendar({y: CutiBersamaYear(y, {}, "none") for y in CAL.cuti_bersama})


# --- working days ---------------------------------------------------------------------------------


def test_weekends_public_holidays_and_cuti_bersama_are_days_off() -> None:
    assert CAL.day_off_reason(date(2026, 8, 15)) == "Saturday"
    assert CAL.day_off_reason(date(2026, 8, 16)) == "Sunday"
    assert CAL.day_off_reason(date(2026, 8, 17)) == "Independence Day"
    assert CAL.day_off_reason(date(2026, 3, 23)) == "cuti bersama Idulfitri 1447 H"
    assert CAL.day_off_reason(date(2025, 8, 18)) == "cuti bersama HUT ke-80 Kemerdekaan RI"
    assert CAL.is_working_day(date(2026, 8, 18))  # a Tuesday
    assert CAL.is_working_day(date(2026, 12, 31))


def test_idul_fitri_2026_and_its_cuti_bersama_close_a_whole_week() -> None:
    # 18 Mar cuti bersama (Nyepi), 19 Nyepi, 20 cuti bersama, 21-22 Idul Fitri 1447 H (Sat-Sun),
    # 23-24 cuti bersama (SKB No. 1497/2025, 2/2025, 5/2025).
    days_off = [date(2026, 3, d) for d in range(18, 25)]
    assert [CAL.is_working_day(d) for d in days_off] == [False] * 7
    assert CAL.day_off_reason(date(2026, 3, 21)) == "Saturday; Eid al-Fitr"
    assert CAL.add_working_days(date(2026, 3, 17), 1) == date(2026, 3, 25)
    assert CAL.add_working_days(date(2026, 3, 25), -1) == date(2026, 3, 17)
    assert len(list(CAL.working_days_in(Month(2026, 3)))) == 22 - 5  # 22 weekdays, 5 of them off


def test_the_data_file_agrees_with_the_holidays_librarys_joint_holidays() -> None:
    """The library (pinned) records the same SKB days in its "government" category: when an upgrade
    changes them, this says which of the two to correct."""
    for year, known in CAL.cuti_bersama.items():
        library = holidays.country_holidays("ID", years=year, categories=(holidays.GOVERNMENT,))
        assert set(known.days) == set(library), year


def test_a_year_without_data_is_refused_not_taken_as_having_no_cuti_bersama() -> None:
    with pytest.raises(CalendarYearUnknown, match="2028"):
        CAL.contribution_due_date(Month(2028, 2))
    with pytest.raises(CalendarYearUnknown):
        CAL.is_working_day(date(2023, 12, 29))
    # Counting across into an unknown year is refused too, not cut short.
    with pytest.raises(CalendarYearUnknown):
        CAL.add_working_days(date(2027, 12, 30), 3)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({}, "years"),
        ({"years": {"2026": {"days": {}}}}, "source"),
        ({"years": {"2026": {"source": "SKB", "days": {"2027-01-04": "x"}}}}, "another year"),
        ({"years": {"2026": {"source": "SKB", "days": {"2026-08-15": "x"}}}}, "weekend"),
        ({"years": {"2026": {"source": "SKB", "days": {"2026-02-30": "x"}}}}, "not a date"),
        ({"years": {"26": {"source": "SKB", "days": {}}}}, "YYYY"),
    ],
)
def test_a_malformed_data_file_is_refused(document: dict[str, object], problem: str) -> None:
    with pytest.raises(CalendarDataError, match=problem):
        parse_cuti_bersama(document)


# --- the due date: the 15th, or the next working day ----------------------------------------------


@pytest.mark.parametrize(
    ("month", "due"),
    [
        (Month(2024, 9), date(2024, 9, 17)),  # 15 Sun, 16 Mon Maulid Nabi -> Tue 17
        (Month(2024, 6), date(2024, 6, 19)),  # 15 Sat, 16 Sun, 17 Iduladha, 18 cuti bersama -> Wed 19
        (Month(2026, 8), date(2026, 8, 18)),  # 15 Sat, 16 Sun, 17 Independence Day -> Tue 18
        (Month(2026, 2), date(2026, 2, 18)),  # 15 Sun, 16 cuti bersama Imlek, 17 Imlek -> Wed 18
        (Month(2026, 3), date(2026, 3, 16)),  # 15 Sun -> Mon 16, before the Lebaran week
        (Month(2026, 5), date(2026, 5, 18)),  # 15 Fri cuti bersama (Ascension) -> Mon 18
        (Month(2026, 9), date(2026, 9, 15)),  # a Tuesday: the 15th itself
        (Month(2025, 6), date(2025, 6, 16)),  # 15 Sun -> Mon 16
        (Month(2027, 3), date(2027, 3, 16)),  # 15 Mon cuti bersama Idul Fitri 1448 H -> Tue 16
        (Month(2027, 5), date(2027, 5, 21)),  # 15 Sat, 17 Iduladha, 18-19 cuti bersama, 20 Waisak
        (Month(2027, 8), date(2027, 8, 16)),  # 15 Sun (and Maulid) -> Mon 16
    ],
)
def test_the_contribution_is_due_on_the_15th_or_the_next_working_day(month: Month, due: date) -> None:
    assert CAL.contribution_due_date(month) == due
    assert CAL.is_working_day(due)


def test_without_the_cuti_bersama_data_february_2026_would_be_due_a_day_too_early() -> None:
    assert without_cuti_bersama().contribution_due_date(Month(2026, 2)) == date(2026, 2, 16)
    assert CAL.contribution_due_date(Month(2026, 2)) == date(2026, 2, 18)


def test_the_invoice_is_issued_on_the_first_day_even_when_it_is_a_holiday() -> None:
    assert CAL.invoice_issue_date(Month(2026, 1)) == date(2026, 1, 1)  # New Year's Day
    assert CAL.invoice_issue_date(Month(2026, 8)) == date(2026, 8, 1)  # a Saturday


# --- reminders ------------------------------------------------------------------------------------


def test_the_reminders_of_august_2026_in_working_days() -> None:
    # Due Tue 18 Aug. 5 working days before: 14, 13, 12, 11, 10 (17 is Independence Day).
    # 3 after: 19, 20, 21. 10 after: 19 Aug .. 1 Sep (24 Aug is no holiday; 25 Aug Maulid is).
    dates = CAL.reminder_dates(Month(2026, 8))
    assert [(r.rule.working_days, r.on) for r in dates] == [
        (-5, date(2026, 8, 10)),
        (0, date(2026, 8, 18)),
        (3, date(2026, 8, 21)),
        (10, date(2026, 9, 2)),
    ]
    assert [r.rule.kind for r in dates] == ["before_due", "on_due_date", "overdue", "overdue"]


def test_a_reminder_after_the_due_date_skips_the_lebaran_week() -> None:
    # Due Mon 16 Mar 2026; 3 working days after: 17, then 25 and 26 (18-24 are off).
    overdue = [r.on for r in CAL.reminder_dates(Month(2026, 3)) if r.rule.working_days == 3]
    assert overdue == [date(2026, 3, 26)]


def test_a_reminder_that_would_fall_on_the_issue_date_is_dropped() -> None:
    # April 2024: due Tue 16 (15 is cuti bersama); 5 working days before is Mon 1 April.
    assert [r.rule.working_days for r in CAL.reminder_dates(Month(2024, 4))] == [0, 3, 10]
    # March 2027: due Tue 16; 5 working days before reaches back past Lebaran (9-15) and Nyepi
    # (8) to Mon 1 March, the issue date itself: the invoice is the reminder.
    assert [r.rule.working_days for r in CAL.reminder_dates(Month(2027, 3))] == [0, 3, 10]
    assert CAL.add_working_days(date(2027, 3, 16), -5) == date(2027, 3, 1)


def test_the_reminders_are_configurable() -> None:
    rules = (ReminderRule(1), ReminderRule(-1))
    assert [r.on for r in CAL.reminder_dates(Month(2026, 8), rules)] == [date(2026, 8, 14), date(2026, 8, 19)]
    assert (ReminderRule(-5), ReminderRule(0), ReminderRule(3), ReminderRule(10)) == DEFAULT_REMINDERS


# --- months and leap years ------------------------------------------------------------------------


def test_months_parse_print_and_step_across_years() -> None:
    assert Month.parse("2026-12").plus(1) == Month(2027, 1)
    assert Month(2026, 1).plus(-1) == Month(2025, 12)
    assert str(Month(2026, 3)) == "2026-03"
    assert Month.of(date(2026, 8, 31)) == Month(2026, 8)
    assert sorted([Month(2027, 1), Month(2026, 12)]) == [Month(2026, 12), Month(2027, 1)]
    for bad in ("2026-13", "2026-00", "2026-1", "26-01", "2026/01"):
        with pytest.raises(ValueError):
            Month.parse(bad)


def test_leap_years_give_february_its_29th() -> None:
    assert Month(2028, 2).last_day == date(2028, 2, 29)
    assert Month(2027, 2).days == 28
    assert Month(2100, 2).days == 28  # divisible by 100, not by 400
    assert Month(2000, 2).days == 29
    # February 2024 (a leap year with data): 10 working days after Thu 15 Feb is Thu 29 Feb.
    assert [r.on for r in CAL.reminder_dates(Month(2024, 2))][-1] == date(2024, 2, 29)
    known_2028 = WorkingCalendar({2028: CutiBersamaYear(2028, {}, "test: no decree yet")})
    assert known_2028.is_working_day(date(2028, 2, 29))  # a Tuesday
    assert known_2028.add_working_days(date(2028, 2, 29), 1) == date(2028, 3, 1)
    assert known_2028.contribution_due_date(Month(2028, 2)) == date(2028, 2, 15)


# --- Jakarta days and UTC instants ----------------------------------------------------------------


def test_a_jakarta_day_runs_from_17_00_utc_the_day_before() -> None:
    assert day_starts_at(date(2026, 8, 18)) == datetime(2026, 8, 17, 17, 0, tzinfo=UTC)
    assert day_ends_at(date(2026, 8, 18)) == datetime(2026, 8, 18, 17, 0, tzinfo=UTC)
    assert day_ends_at(date(2028, 2, 29)) == datetime(2028, 2, 29, 17, 0, tzinfo=UTC)


def test_a_payment_at_23_59_59_wib_on_the_due_date_is_on_time_one_second_later_it_is_late() -> None:
    due = CAL.contribution_due_date(Month(2026, 8))  # Tue 18 Aug
    assert is_on_time(datetime(2026, 8, 18, 16, 59, 59, tzinfo=UTC), due)
    assert not is_on_time(datetime(2026, 8, 18, 17, 0, 0, tzinfo=UTC), due)


def test_an_instant_late_in_the_utc_day_is_already_the_next_month_in_jakarta() -> None:
    new_month = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)
    assert jakarta_date(new_month) == date(2026, 2, 1)
    assert Month.of(jakarta_date(new_month)) == Month(2026, 2)
    assert jakarta_date(datetime(2028, 2, 28, 17, 30, tzinfo=UTC)) == date(2028, 2, 29)
    with pytest.raises(ValueError):
        jakarta_date(datetime(2026, 1, 31, 17, 0))
