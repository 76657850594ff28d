"""Sponsorship's scheduled jobs (shared/scheduler.py): each runs in the transaction that records
its run, so a crash leaves nothing behind and the moment runs again.

- **invoices**: at each month's issue moment (00:00 WIB on shared/calendar's invoice issue date,
  the 1st), one invoice per company for that month from the ledger's expected lines: the
  month's, and earlier months' still expected (a worker confirmed after that month's invoice went
  out). The lines are marked invoiced with the invoice's id, the invoice stored and InvoiceIssued
  put in the outbox. A company whose invoice for the month exists already is left alone (the
  month is never issued twice): lines that arrive later go on next month's invoice. A run of the
  same moment again finds no expected lines, so does nothing.
- **invoice-reminders**: every day at 08:00 WIB (office hours, when a company's finance staff
  read it), for each issued invoice with lines still unpaid (invoiced or missed), the reminder
  domain/invoices.invoice_reminder_due picks for that day (due_soon before the due date, overdue
  after it, in working days): recorded in invoice_reminder (one row per invoice, kind and days:
  a second run of the day, or another instance, finds it there) and InvoiceReminder put in the
  outbox with an id derived from the same three. Catch-up after downtime runs each missed day in
  order, so a reminder whose day passed while down is still sent once, if the invoice is still
  unpaid when the day is run (payments recorded meanwhile count); see the domain for the rest.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Final, Protocol

from services.sponsorship.domain.invoices import (
    Invoice,
    MemberMonthLine,
    ScheduledReminder,
    build_invoice,
    invoice_issued,
    invoice_reminder,
    invoice_reminder_due,
    reminder_event_id,
)
from services.sponsorship.domain.ledger import MemberMonth
from services.sponsorship.repository import CompanyContact, PgInvoiceStore, PgReminderStore, UnpaidInvoice
from shared.calendar import (
    Month,
    ReminderRule,
    WorkingCalendar,
    day_starts_at,
    jakarta_date,
    programme_calendar,
)
from shared.clock import JAKARTA
from shared.consumer import Publisher
from shared.db import Conn
from shared.outbox import add_rows
from shared.scheduler import Job, daily

log = logging.getLogger(__name__)

INVOICES_JOB = "invoices"
REMINDERS_JOB = "invoice-reminders"
REMINDERS_AT: Final = time(8, 0)  # WIB


class InvoiceStore(Protocol):
    """What the invoices job reads and writes, in the run's transaction (repository.PgInvoiceStore)."""

    async def companies_to_invoice(self, month: date) -> list[str]:
        """The companies with expected lines of `month` or earlier, in id order."""
        ...

    async def invoice_exists(self, company_id: str, month: date) -> bool: ...

    async def lines_to_invoice(self, company_id: str, month: date) -> list[MemberMonth]:
        """The company's expected lines of `month` and earlier, locked for this transaction."""
        ...

    async def invoice_lines(self, lines: Sequence[MemberMonth]) -> list[MemberMonthLine]:
        """The lines with the workers' particulars (NIK masked as taken, name, KPJ)."""
        ...

    async def company_contact(self, company_id: str) -> CompanyContact: ...

    async def add_invoice(self, invoice: Invoice, issued_at: datetime) -> bool:
        """Store the invoice; False when the company's invoice for the month is there already."""
        ...

    async def mark_invoiced(
        self, enrollment_id: uuid.UUID, month: date, invoice_id: str, at: datetime
    ) -> MemberMonth: ...


class InvoiceIssueSchedule:
    """Due at 00:00 WIB of each month's invoice issue date (shared/calendar)."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar

    def next_after(self, moment: datetime) -> datetime:
        month = Month.of(jakarta_date(moment)).plus(-1)  # the issue date may precede the 1st
        while True:
            due = day_starts_at(self.calendar.invoice_issue_date(month))
            if due > moment:
                return due.astimezone(UTC)
            month = month.plus(1)


def invoice_month(due_at: datetime, calendar: WorkingCalendar) -> Month:
    """The month whose issue moment `due_at` is."""
    day = jakarta_date(due_at)
    for month in (Month.of(day), Month.of(day).plus(1)):
        if calendar.invoice_issue_date(month) == day:
            return month
    raise ValueError(f"{due_at.isoformat()} is no month's invoice issue moment")


async def issue_invoices(
    store: InvoiceStore, publisher: Publisher, due_at: datetime, calendar: WorkingCalendar
) -> list[Invoice]:
    """Issue the month's invoices (see the module's rules); the published events are in
    `publisher`. Returns the invoices issued now."""
    month = invoice_month(due_at, calendar)
    issued: list[Invoice] = []
    for company_id in await store.companies_to_invoice(month.first_day):
        if await store.invoice_exists(company_id, month.first_day):
            continue  # issued already: later lines wait for next month's invoice
        lines = await store.lines_to_invoice(company_id, month.first_day)
        if not lines:
            continue
        contact = await store.company_contact(company_id)
        invoice = build_invoice(
            company_id, contact.company_name, month, await store.invoice_lines(lines), calendar
        )
        if not await store.add_invoice(invoice, due_at):
            continue
        for line in lines:
            await store.mark_invoiced(line.enrollment_id, line.month, invoice.invoice_id, due_at)
        event = invoice_issued(
            invoice, company_email=contact.email, company_webhook_url=contact.webhook_url, issued_at=due_at
        )
        # The invoice's id is the event's: a second publication of it would be the same outbox row.
        publisher.publish(event, event_id=invoice.invoice_id)
        issued.append(invoice)
        log.info(
            "invoice issued",
            extra={
                "invoice": invoice.number,
                "month": str(month),
                "lines": len(invoice.lines),
                "total_idr": invoice.total_idr,
            },
        )
    return issued


def invoices_job(start: Month, topic_prefix: str, calendar: WorkingCalendar | None = None) -> Job:
    """The scheduled job: months before `start` are never invoiced by it (bounded catch-up)."""
    chosen = calendar or programme_calendar()

    async def run(conn: Conn, due_at: datetime) -> None:
        publisher = Publisher("sponsorship", topic_prefix)
        await issue_invoices(PgInvoiceStore(conn), publisher, due_at, chosen)
        await add_rows(conn, publisher.rows)

    return Job(
        INVOICES_JOB, InvoiceIssueSchedule(chosen), run, day_starts_at(chosen.invoice_issue_date(start))
    )


class ReminderStore(Protocol):
    """What the reminders job reads and writes, in the run's transaction (repository.PgReminderStore)."""

    async def unpaid_invoices(self, today: date) -> list[UnpaidInvoice]:
        """Invoices issued by `today` with lines invoiced or missed, with the reminders sent."""
        ...

    async def company_contact(self, company_id: str) -> CompanyContact: ...

    async def add_reminder(
        self, invoice: UnpaidInvoice, reminder: ScheduledReminder, reminded_at: datetime
    ) -> bool:
        """Record the reminder; False when it was recorded already."""
        ...


async def send_reminders(
    store: ReminderStore,
    publisher: Publisher,
    due_at: datetime,
    rules: tuple[ReminderRule, ...],
    calendar: WorkingCalendar,
) -> list[tuple[str, ScheduledReminder]]:
    """The reminders of the day of `due_at` (see the module's rules); the events are in
    `publisher`. Returns (invoice number, reminder) of each one sent now."""
    today = jakarta_date(due_at)
    sent: list[tuple[str, ScheduledReminder]] = []
    for invoice in await store.unpaid_invoices(today):
        reminder = invoice_reminder_due(
            due_date=invoice.due_date,
            issue_date=invoice.issue_date,
            today=today,
            unpaid=invoice.unpaid_lines > 0,
            sent=invoice.sent,
            rules=rules,
            calendar=calendar,
        )
        if reminder is None or not await store.add_reminder(invoice, reminder, due_at):
            continue
        contact = await store.company_contact(invoice.company_id)
        event = invoice_reminder(
            reminder,
            invoice_id=invoice.invoice_id,
            invoice_number=invoice.number,
            company_id=invoice.company_id,
            company_name=contact.company_name or invoice.company_name,
            company_email=contact.email,
            company_webhook_url=contact.webhook_url,
            month=Month.of(invoice.month),
            due_date=invoice.due_date,
            unpaid_lines=invoice.unpaid_lines,
            unpaid_idr=invoice.unpaid_idr,
            reminded_at=due_at,
        )
        publisher.publish(event, event_id=reminder_event_id(invoice.invoice_id, reminder))
        sent.append((invoice.number, reminder))
        log.info(
            "invoice reminder",
            extra={
                "invoice": invoice.number,
                "kind": reminder.kind,
                "days_from_due": reminder.days_from_due,
                "unpaid_lines": invoice.unpaid_lines,
            },
        )
    return sent


def reminders_job(
    start: Month,
    topic_prefix: str,
    rules: tuple[ReminderRule, ...],
    calendar: WorkingCalendar | None = None,
) -> Job:
    """The scheduled job: days before `start`'s first day are never run (bounded catch-up; the
    first run then sends each unpaid invoice's latest reminder come, once)."""
    chosen = calendar or programme_calendar()

    async def run(conn: Conn, due_at: datetime) -> None:
        publisher = Publisher("sponsorship", topic_prefix)
        await send_reminders(PgReminderStore(conn), publisher, due_at, rules, chosen)
        await add_rows(conn, publisher.rows)

    first = datetime.combine(start.first_day, REMINDERS_AT, JAKARTA).astimezone(UTC)
    return Job(REMINDERS_JOB, daily(REMINDERS_AT.hour, REMINDERS_AT.minute), run, first)
