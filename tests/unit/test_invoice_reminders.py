"""services/sponsorship/domain/invoices.py: which invoice reminder the daily job sends on a day
(due_soon / overdue in working days from the due date), each once, none once paid, and what a
catch-up after downtime sends; the settings that give the days."""

from datetime import UTC, date, datetime

import pytest

from services.sponsorship.domain.invoices import (
    ScheduledReminder,
    invoice_reminder,
    invoice_reminder_due,
    reminder_event_id,
    reminder_rules,
    reminder_schedule,
)
from services.sponsorship.settings import SponsorshipSettings, parse_days
from shared import contracts
from shared.calendar import Month, programme_calendar

CAL = programme_calendar()
RULES = reminder_rules((3,), (1, 7))
# August 2026: the 15th is a Saturday and Monday 17 August is Independence Day, so the
# contribution is due on Tuesday 18 August; issued on Saturday 1 August.
AUG_DUE, AUG_ISSUED = date(2026, 8, 18), date(2026, 8, 1)


def due_on(today: date, sent: set[tuple[str, int]], *, unpaid: bool = True) -> ScheduledReminder | None:
    return invoice_reminder_due(
        due_date=AUG_DUE,
        issue_date=AUG_ISSUED,
        today=today,
        unpaid=unpaid,
        sent=sent,
        rules=RULES,
        calendar=CAL,
    )


def test_the_days_are_working_days_around_a_due_date_moved_by_a_weekend_and_a_holiday() -> None:
    assert CAL.contribution_due_date(Month(2026, 8)) == AUG_DUE
    schedule = reminder_schedule(AUG_DUE, AUG_ISSUED, RULES, CAL)
    assert [(r.kind, r.days_from_due, r.on) for r in schedule] == [
        # three working days back from Tue 18 Aug skip Mon 17 (holiday) and the weekend: Wed 12 Aug
        ("due_soon", -3, date(2026, 8, 12)),
        ("overdue", 1, date(2026, 8, 19)),
        # seven working days on: 20, 21, 24, 25, 26, 27, 28 August
        ("overdue", 7, date(2026, 8, 28)),
    ]
    assert all(CAL.is_working_day(r.on) for r in schedule)


def test_a_due_date_moved_by_cuti_bersama() -> None:
    # May 2026: Friday 15 May is cuti bersama (Kenaikan Yesus Kristus): due Monday 18 May.
    due = CAL.contribution_due_date(Month(2026, 5))
    assert due == date(2026, 5, 18)
    schedule = reminder_schedule(due, date(2026, 5, 1), RULES, CAL)
    assert [r.on for r in schedule] == [date(2026, 5, 11), date(2026, 5, 19), date(2026, 5, 29)]


def test_a_reminder_on_or_before_the_issue_date_is_dropped() -> None:
    schedule = reminder_schedule(AUG_DUE, AUG_ISSUED, reminder_rules((15, 3), (1,)), CAL)
    assert [r.days_from_due for r in schedule] == [-3, 1]  # 15 working days back is in July


def test_each_reminder_on_its_day_once() -> None:
    sent: set[tuple[str, int]] = set()
    found = []
    day = date(2026, 8, 1)
    while day <= date(2026, 10, 31):
        reminder = due_on(day, sent)
        if reminder is not None:
            sent.add(reminder.key)
            found.append((reminder.kind, reminder.days_from_due, day))
        # the same day run again sends nothing more
        assert due_on(day, sent) is None
        day = date.fromordinal(day.toordinal() + 1)
    assert found == [
        ("due_soon", -3, date(2026, 8, 12)),
        ("overdue", 1, date(2026, 8, 19)),
        ("overdue", 7, date(2026, 8, 28)),
    ]


def test_none_before_the_first_day_and_none_once_paid() -> None:
    assert due_on(date(2026, 8, 11), set()) is None
    assert due_on(date(2026, 8, 12), set(), unpaid=False) is None
    assert due_on(date(2026, 8, 28), set(), unpaid=False) is None


def test_catch_up_sends_the_latest_come_never_a_stale_one() -> None:
    # The job's first run (or a day run after a gap it never ran for) on 24 Aug: "due soon" would
    # be wrong after the due date; the latest reminder come (overdue +1) is sent, once.
    reminder = due_on(date(2026, 8, 24), set())
    assert reminder is not None and reminder.key == ("overdue", 1)
    assert due_on(date(2026, 8, 25), {reminder.key}) is None
    # ... and the earlier one it superseded is never sent later.
    assert due_on(date(2026, 8, 26), {("overdue", 1)}) is None
    # Long after: the last reminder, once.
    last = due_on(date(2026, 12, 1), set())
    assert last is not None and last.key == ("overdue", 7)
    assert due_on(date(2026, 12, 2), {("overdue", 7)}) is None
    # A reminder sent is never followed by an earlier one (e.g. days changed in the settings).
    assert due_on(date(2026, 8, 19), {("overdue", 7)}) is None


def test_the_event_and_its_id() -> None:
    reminder = ScheduledReminder("overdue", 7, date(2026, 8, 28))
    at = datetime(2026, 8, 28, 1, 0, tzinfo=UTC)  # 08:00 WIB
    event = invoice_reminder(
        reminder,
        invoice_id="inv-1",
        invoice_number="INV-PT-HINDOLI-2026-08",
        company_id="pt-hindoli",
        company_name="PT Hindoli",
        company_email="keuangan@hindoli.example",
        company_webhook_url=None,
        month=Month(2026, 8),
        due_date=AUG_DUE,
        unpaid_lines=2,
        unpaid_idr=33_600,
        reminded_at=at,
    )
    assert (event.kind, event.days_from_due, event.month, event.unpaid_idr) == (
        "overdue",
        7,
        "2026-08",
        33_600,
    )
    assert contracts.of(event) is contracts.INVOICE_REMINDER
    assert reminder_event_id("inv-1", reminder) == reminder_event_id("inv-1", reminder)
    assert reminder_event_id("inv-1", reminder) != reminder_event_id(
        "inv-1", ScheduledReminder("overdue", 1, AUG_DUE)
    )
    assert reminder_event_id("inv-1", reminder) != reminder_event_id("inv-2", reminder)


def test_the_rules_refuse_a_day_that_is_not_before_or_after() -> None:
    with pytest.raises(ValueError):
        reminder_rules((0,), ())
    with pytest.raises(ValueError):
        reminder_rules((), (-1,))
    assert [r.working_days for r in reminder_rules((3, 3), (7, 1))] == [-3, 1, 7]


def test_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_days("1, 7") == (1, 7) and parse_days("") == ()
    assert [r.working_days for r in SponsorshipSettings().reminder_rules()] == [-3, 1, 7]
    monkeypatch.setenv("SPONSORSHIP_REMINDER_DAYS_BEFORE", "5,2")
    monkeypatch.setenv("SPONSORSHIP_REMINDER_DAYS_AFTER", "3")
    assert [r.working_days for r in SponsorshipSettings().reminder_rules()] == [-5, -2, 3]
    for bad in ("x", "-1", "0", "1;7"):
        monkeypatch.setenv("SPONSORSHIP_REMINDER_DAYS_AFTER", bad)
        with pytest.raises(ValueError):
            SponsorshipSettings()
