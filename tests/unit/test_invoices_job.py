"""The scheduled job "invoices" (services/sponsorship/jobs.py) with an in-memory store: one
invoice per company for the month, earlier months' late lines on it, lines marked, one
InvoiceIssued each (event id = invoice id), and a second run of the same moment does nothing."""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.sponsorship.domain import ledger
from services.sponsorship.domain.invoices import Invoice, MemberMonthLine, invoice_id, invoice_line
from services.sponsorship.domain.ledger import MemberMonth
from services.sponsorship.jobs import InvoiceIssueSchedule, invoice_month, issue_invoices
from services.sponsorship.repository import CompanyContact
from shared.calendar import Month, day_starts_at, programme_calendar
from shared.clock import JAKARTA
from shared.consumer import Publisher
from shared.events.sponsorship import InvoiceIssued

CAL = programme_calendar()
FEB, MAR = date(2027, 2, 1), date(2027, 3, 1)
MARCH_ISSUE = day_starts_at(date(2027, 3, 1))


class FakeInvoices:
    def __init__(self, lines: Sequence[MemberMonth]) -> None:
        self.lines = {(x.enrollment_id, x.month): x for x in lines}
        self.invoices: dict[tuple[str, date], tuple[Invoice, datetime]] = {}

    async def companies_to_invoice(self, month: date) -> list[str]:
        return sorted(
            {x.company_id for x in self.lines.values() if x.state == "expected" and x.month <= month}
        )

    async def invoice_exists(self, company_id: str, month: date) -> bool:
        return (company_id, month) in self.invoices

    async def lines_to_invoice(self, company_id: str, month: date) -> list[MemberMonth]:
        return [
            x
            for x in self.lines.values()
            if x.company_id == company_id and x.state == "expected" and x.month <= month
        ]

    async def invoice_lines(self, lines: Sequence[MemberMonth]) -> list[MemberMonthLine]:
        return [
            invoice_line(x, nik="1606012345670003", full_name=f"W {x.worker_id}", kpj_number="KPJ1")
            for x in lines
        ]

    async def company_contact(self, company_id: str) -> CompanyContact:
        return CompanyContact(company_id.upper(), f"finance@{company_id}.id", None)

    async def add_invoice(self, invoice: Invoice, issued_at: datetime) -> bool:
        key = (invoice.company_id, invoice.month.first_day)
        if key in self.invoices:
            return False
        self.invoices[key] = (invoice, issued_at)
        return True

    async def mark_invoiced(
        self, enrollment_id: uuid.UUID, month: date, invoice_id: str, at: datetime
    ) -> MemberMonth:
        moved = ledger.invoiced(self.lines[(enrollment_id, month)], invoice_id, at)
        self.lines[(enrollment_id, month)] = moved
        return moved


def line(company: str, month: date, amount: int, enrollment: uuid.UUID | None = None) -> MemberMonth:
    e = enrollment or uuid.uuid4()
    return MemberMonth(e, uuid.uuid4(), f"{company}-c1", company, month, amount)


def ledger_of_two_companies() -> tuple[list[MemberMonth], MemberMonth]:
    a1, a2 = uuid.uuid4(), uuid.uuid4()
    late = line("co-b", FEB, 16_800)  # confirmed after February's invoice went out
    lines = [
        line("co-a", FEB, 16_800, a1),
        line("co-a", MAR, 16_800, a1),
        line("co-a", MAR, 20_000, a2),
        line("co-a", date(2027, 4, 1), 16_800, a1),  # a later month: never on March's invoice
        late,
        line("co-b", MAR, 16_800, late.enrollment_id),
    ]
    return lines, late


async def test_march_issues_one_invoice_per_company_with_the_late_joiners_february_on_it() -> None:
    lines, late = ledger_of_two_companies()
    store = FakeInvoices(lines)
    feb_a = lines[0]
    store.lines[(feb_a.enrollment_id, FEB)] = replace(
        feb_a, state="invoiced", invoice_id="feb-a"
    )  # billed in February
    publisher = Publisher("sponsorship", "t.")
    issued = await issue_invoices(store, publisher, MARCH_ISSUE, CAL)

    assert [(i.company_id, str(i.month), i.total_idr, len(i.lines)) for i in issued] == [
        ("co-a", "2027-03", 36_800, 2),
        ("co-b", "2027-03", 33_600, 2),
    ]
    b = issued[1]
    assert {str(x.month) for x in b.lines} == {"2027-02", "2027-03"}
    assert b.due_date == date(2027, 3, 16) and b.issue_date == MAR  # the 15th: cuti bersama (Idulfitri)
    assert store.lines[(late.enrollment_id, FEB)].invoice_id == invoice_id("co-b", Month(2027, 3))
    april = [x for x in store.lines.values() if x.month == date(2027, 4, 1)]
    assert [x.state for x in april] == ["expected"]
    events = publisher.events
    assert all(isinstance(e, InvoiceIssued) for e in events)
    assert [(e.invoice_number, e.total_idr, e.company_email) for e in events] == [  # type: ignore[attr-defined]
        ("INV-CO-A-2027-03", 36_800, "finance@co-a.id"),
        ("INV-CO-B-2027-03", 33_600, "finance@co-b.id"),
    ]
    assert [env.id for env in publisher.envelopes] == [i.invoice_id for i in issued]
    assert [e.issued_at for e in events] == [MARCH_ISSUE, MARCH_ISSUE]  # type: ignore[attr-defined]


async def test_a_second_run_of_the_same_moment_issues_nothing() -> None:
    store = FakeInvoices(ledger_of_two_companies()[0])
    await issue_invoices(store, Publisher("sponsorship"), MARCH_ISSUE, CAL)
    before = dict(store.lines)
    again = Publisher("sponsorship")
    assert await issue_invoices(store, again, MARCH_ISSUE, CAL) == []
    assert again.rows == [] and store.lines == before


async def test_a_line_arriving_after_the_months_invoice_waits_for_the_next_one() -> None:
    store = FakeInvoices([line("co-a", MAR, 16_800)])
    await issue_invoices(store, Publisher("sponsorship"), MARCH_ISSUE, CAL)
    newcomer = line("co-a", MAR, 20_000)
    store.lines[(newcomer.enrollment_id, MAR)] = newcomer
    assert await issue_invoices(store, Publisher("sponsorship"), MARCH_ISSUE, CAL) == []
    [april] = await issue_invoices(store, Publisher("sponsorship"), day_starts_at(date(2027, 4, 1)), CAL)
    assert [(str(x.month), x.contribution_idr) for x in april.lines] == [("2027-03", 20_000)]


def test_the_schedule_is_due_at_midnight_jakarta_on_each_first() -> None:
    schedule = InvoiceIssueSchedule(CAL)
    due = schedule.next_after(datetime(2027, 2, 14, 12, tzinfo=UTC))
    assert due == datetime(2027, 2, 28, 17, tzinfo=UTC)  # 1 March 00:00 WIB
    assert due.astimezone(JAKARTA).date() == MAR
    assert schedule.next_after(due) == day_starts_at(date(2027, 4, 1))
    assert invoice_month(due, CAL) == Month(2027, 3)
    with pytest.raises(ValueError):
        invoice_month(datetime(2027, 3, 2, tzinfo=UTC), CAL)
