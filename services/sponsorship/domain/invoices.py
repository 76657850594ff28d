"""A sponsor's monthly invoice: its lines, total, dates and number; the CSV the company receives;
which reminder is due on a day. Pure: the member-month ledger supplies the lines, the scheduler
the day, shared/calendar.py the dates.

- **One invoice per company per month.** Its id is a uuid5 of (company, month) and its number
  `INV-<COMPANY>-<YYYY-MM>`: issuing the month again gives the same invoice, never a second one.
- **Lines** are worker-months: the invoice's month, or an earlier month not invoiced before (a
  worker whose enrollment was confirmed after that month's invoice went out), never a later one.
  One line per enrollment and month; amounts are positive integer Rupiah, the total their sum.
- **The CSV** (for the company's e-mail or webhook): UTF-8 with a byte-order mark so that Excel
  shows names as written, comma-separated with CRLF line ends (RFC 4180), one header row, one
  row per line, amounts as plain integers (no thousands dots: a number in every locale), no
  total row (machines read it). The NIK is always masked when written, whatever the line holds,
  and no phone number is in it. A cell starting with = + - @ (a formula to Excel) is quoted
  with a leading apostrophe.
- **Reminders**: on a day, the latest reminder whose date has come and that was not sent yet
  (after downtime only the most recent one, not a burst of stale ones); none once paid.
- **Invoice reminders of the scheduled job** (`invoice_reminder_due`): `due_soon` a number of
  working days before the due date, `overdue` a number of working days after it (settings
  SPONSORSHIP_REMINDER_DAYS_BEFORE / _AFTER), counted in working days as shared/calendar's
  reminders are, so that none lands on a weekend, holiday or cuti bersama day. A reminder on or
  before the issue date is dropped (the invoice itself says it). Each (invoice, kind, days) is
  sent at most once, and only while some line of the invoice is unpaid. On a day, the one to send
  is the latest whose date has come, if no later or equal one was sent: the scheduler's catch-up
  runs each missed day in order, so after downtime every reminder still goes out once, in order;
  a day the job never ran for (its start) sends only the latest, never a stale "due soon" after
  the due date.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

from services.sponsorship.domain.ledger import MemberMonth
from shared.calendar import DEFAULT_REMINDERS, Month, ReminderRule, WorkingCalendar
from shared.events.sponsorship import InvoiceIssued, InvoiceReminder
from shared.masking import mask_nik

# The namespace of invoice ids (uuid5 of "<company_id>/<YYYY-MM>"): fixed for ever.
INVOICES: Final = uuid.UUID("5b0e6f1c-8a3d-5c61-9f0e-2f1d7a4c9b10")
_NUMBER_COMPANY_CHARS: Final = 24
CSV_HEADER: Final = ("no", "nomor_tagihan", "bulan", "nomor_kpj", "nik", "nama", "iuran_idr")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class MemberMonthLine:
    """One sponsored worker's contribution for one month, as the ledger holds it."""

    enrollment_id: str
    worker_id: str
    nik_masked: str
    full_name: str
    kpj_number: str
    month: Month
    contribution_idr: int


def invoice_line(month_line: MemberMonth, *, nik: str, full_name: str, kpj_number: str) -> MemberMonthLine:
    """A ledger line (services/sponsorship/domain/ledger.py) with the worker's particulars from
    sponsorship's worker and enrollment tables; the NIK is masked here, as it is taken."""
    return MemberMonthLine(
        enrollment_id=str(month_line.enrollment_id),
        worker_id=str(month_line.worker_id),
        nik_masked=mask_nik(nik),
        full_name=full_name,
        kpj_number=kpj_number,
        month=Month.of(month_line.month),
        contribution_idr=month_line.contribution_idr,
    )


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: str
    number: str
    company_id: str
    company_name: str
    month: Month
    lines: tuple[MemberMonthLine, ...]
    total_idr: int
    issue_date: date
    due_date: date


def invoice_id(company_id: str, month: Month) -> str:
    return str(uuid.uuid5(INVOICES, f"{company_id}/{month}"))


def invoice_number(company_id: str, month: Month) -> str:
    """`INV-<COMPANY>-<YYYY-MM>`, e.g. INV-PT-HINDOLI-2026-08 for `pt-hindoli`: the company id in
    capitals, letters and digits with single dashes, at most 24 characters. An id that is not
    written so in lower case ("PT Hindoli", "PT-HINDOLI", a longer one) gets a short hash of
    itself after it, so that two companies never share a number."""
    slug = re.sub(r"[^A-Z0-9]+", "-", company_id.upper()).strip("-")[:_NUMBER_COMPANY_CHARS].strip("-")
    if slug.lower() != company_id:
        slug = f"{slug}-{hashlib.sha256(company_id.encode()).hexdigest()[:6].upper()}".lstrip("-")
    return f"INV-{slug}-{month}"


def build_invoice(
    company_id: str,
    company_name: str,
    month: Month,
    lines: Iterable[MemberMonthLine],
    calendar: WorkingCalendar,
) -> Invoice:
    """The company's invoice for `month`; ValueError for lines it cannot hold."""
    chosen = tuple(
        sorted(lines, key=lambda x: (x.full_name.casefold(), x.kpj_number, x.month, x.enrollment_id))
    )
    if not chosen:
        raise ValueError(f"no lines to invoice for {company_id} in {month}")
    seen: set[tuple[str, Month]] = set()
    for line in chosen:
        if line.month > month:
            raise ValueError(f"a line of {line.month} cannot be on the invoice of {month}")
        if (line.enrollment_id, line.month) in seen:
            raise ValueError(f"enrollment {line.enrollment_id} is twice on the invoice for {line.month}")
        seen.add((line.enrollment_id, line.month))
        amount = line.contribution_idr
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ValueError(f"a line's contribution is a positive whole Rupiah amount, got {amount!r}")
    return Invoice(
        invoice_id=invoice_id(company_id, month),
        number=invoice_number(company_id, month),
        company_id=company_id,
        company_name=company_name,
        month=month,
        lines=chosen,
        total_idr=sum(line.contribution_idr for line in chosen),
        issue_date=calendar.invoice_issue_date(month),
        due_date=calendar.contribution_due_date(month),
    )


def invoice_issued(
    invoice: Invoice, *, company_email: str | None, company_webhook_url: str | None, issued_at: datetime
) -> InvoiceIssued:
    """The event telling the company (through notifications) that its invoice is out."""
    return InvoiceIssued(
        invoice_id=invoice.invoice_id,
        invoice_number=invoice.number,
        company_id=invoice.company_id,
        company_name=invoice.company_name,
        company_email=company_email,
        company_webhook_url=company_webhook_url,
        month=str(invoice.month),
        lines_count=len(invoice.lines),
        total_idr=invoice.total_idr,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        issued_at=issued_at,
    )


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def invoice_csv(invoice: Invoice) -> bytes:
    """The invoice's lines as the company receives them (see the module's rules)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for number, line in enumerate(invoice.lines, start=1):
        writer.writerow(
            (
                number,
                invoice.number,
                str(line.month),
                _cell(line.kpj_number),
                mask_nik(line.nik_masked),
                _cell(line.full_name),
                line.contribution_idr,
            )
        )
    return out.getvalue().encode("utf-8-sig")


# --- reminders ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderDue:
    """A reminder to send for an invoice; `key` is what the sender records it was sent under."""

    invoice_number: str
    rule: ReminderRule
    on: date

    @property
    def key(self) -> str:
        return f"{self.invoice_number}/{self.rule.working_days:+d}"


def reminder_due(
    invoice: Invoice,
    today: date,
    *,
    paid: bool,
    sent: Collection[str] = (),
    calendar: WorkingCalendar,
    rules: tuple[ReminderRule, ...] = DEFAULT_REMINDERS,
) -> ReminderDue | None:
    """Which reminder to send for `invoice` on `today` (a Jakarta date): the latest one whose date
    has come, unless it was sent already; None when paid or when none has come yet."""
    if paid:
        return None
    come = [r for r in calendar.reminder_dates(invoice.month, rules) if r.on <= today]
    if not come:
        return None
    latest = come[-1]
    due = ReminderDue(invoice.number, latest.rule, latest.on)
    return None if due.key in sent else due


ReminderKind = Literal["due_soon", "overdue"]


def reminder_rules(days_before: Sequence[int], days_after: Sequence[int]) -> tuple[ReminderRule, ...]:
    """The job's rules: each `days_before` working days before the due date (due_soon), each
    `days_after` after it (overdue). Every count is at least 1: "on the due date" is neither."""
    counts = [*days_before, *days_after]
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in counts):
        raise ValueError(f"reminder days are whole working days, at least 1, got {counts}")
    rules = {ReminderRule(-n) for n in days_before} | {ReminderRule(n) for n in days_after}
    return tuple(sorted(rules, key=lambda r: r.working_days))


@dataclass(frozen=True, slots=True)
class ScheduledReminder:
    """One reminder of an invoice: its kind, signed working days from the due date, and its day."""

    kind: ReminderKind
    days_from_due: int
    on: date

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.days_from_due)


def reminder_schedule(
    due_date: date, issue_date: date, rules: Sequence[ReminderRule], calendar: WorkingCalendar
) -> tuple[ScheduledReminder, ...]:
    """An invoice's reminders in date order (see the module's rules)."""
    found = []
    for rule in rules:
        if rule.working_days == 0:
            raise ValueError("a reminder is before or after the due date, not on it")
        on = calendar.add_working_days(due_date, rule.working_days)
        if on > issue_date:
            kind: ReminderKind = "due_soon" if rule.working_days < 0 else "overdue"
            found.append(ScheduledReminder(kind, rule.working_days, on))
    return tuple(sorted(found, key=lambda r: (r.on, r.days_from_due)))


def invoice_reminder_due(
    *,
    due_date: date,
    issue_date: date,
    today: date,
    unpaid: bool,
    sent: Collection[tuple[str, int]],
    rules: Sequence[ReminderRule],
    calendar: WorkingCalendar,
) -> ScheduledReminder | None:
    """The reminder to send on `today` (a Jakarta date) for an invoice, or None: none while paid,
    none before the first reminder's day, none when the latest come (or a later one) was sent."""
    if not unpaid:
        return None
    schedule = reminder_schedule(due_date, issue_date, rules, calendar)
    come = [i for i, r in enumerate(schedule) if r.on <= today]
    if not come:
        return None
    latest = come[-1]
    if any(r.key in sent for r in schedule[latest:]):
        return None  # sent already, or superseded by a later one sent before
    return schedule[latest]


def invoice_reminder(
    reminder: ScheduledReminder,
    *,
    invoice_id: str,
    invoice_number: str,
    company_id: str,
    company_name: str,
    company_email: str | None,
    company_webhook_url: str | None,
    month: Month,
    due_date: date,
    unpaid_lines: int,
    unpaid_idr: int,
    reminded_at: datetime,
) -> InvoiceReminder:
    return InvoiceReminder(
        invoice_id=invoice_id,
        invoice_number=invoice_number,
        company_id=company_id,
        company_name=company_name,
        company_email=company_email,
        company_webhook_url=company_webhook_url,
        month=str(month),
        due_date=due_date,
        kind=reminder.kind,
        days_from_due=reminder.days_from_due,
        unpaid_lines=unpaid_lines,
        unpaid_idr=unpaid_idr,
        reminded_at=reminded_at,
    )


def reminder_event_id(invoice_id: str, reminder: ScheduledReminder) -> str:
    """The reminder event's id: one per (invoice, kind, days), so a second publication of it would
    be the same outbox row."""
    return str(uuid.uuid5(INVOICES, f"{invoice_id}/reminder/{reminder.kind}/{reminder.days_from_due:+d}"))
