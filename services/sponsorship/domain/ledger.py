"""The member-month ledger: for every sponsored worker and calendar month, the contribution the
sponsor pays and where it stands (expected -> invoiced -> paid -> confirmed by BPJS, or missed).

No I/O here (services/sponsorship/repository.py stores the lines: table member_month).

Which months: BPU contributions are per calendar month. A coverage of `months` months from
`coverage_start` has one line for the calendar month coverage starts in (charged in full, even
when coverage starts on the 20th: that month's contribution is what makes the 20th covered) and
one for each of the `months - 1` calendar months after it: exactly the months `Pricing.coverage`
(TariffTable.coverage_cost) priced the reservation for, so the lines sum to the reservation while
the tariff table is the one it was priced with. BPJS's coverage of a mid-month start ends the day
before the same day `months` months later (`coverage_end`, as simulators/bpjs/domain.py
computes it): those last days, in the month after the last line, carry no line of their own; a
renewal from the next day starts in that month, and its first line is that month (never charged
twice, never skipped).

Each line is priced by the tariff table for THAT month: the tariff (JKK by income band, JKM, JHT
for JKK_JKM_JHT) and the discount of the worker's sector in force that month (PP 50/2025), so a
coverage spanning the discount's end is discounted only for the months inside it.

States (`TRANSITIONS`):
- expected: the month is owed, not billed yet;
- invoiced: on the sponsor's invoice `invoice_id` (services/sponsorship/domain/invoices.py's);
- paid: the sponsor paid it (recorded by the payments' allocation);
- confirmed: BPJS confirmed the contribution (the proof of a paid month);
- missed: unpaid after its due date (the due date comes from the caller: shared/calendar's rule
  of the 15th or the next working day); a late payment still moves it to paid.
Repeating the transition a line already made (same state, same invoice) changes nothing, so a
redelivered message is harmless; anything else not in `TRANSITIONS` is refused.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

from services.sponsorship.domain.tariffs import Sector, TariffTable, occupation_sector
from shared.events.sponsorship import Package

LineState = Literal["expected", "invoiced", "paid", "confirmed", "missed"]
LINE_STATES: Final[tuple[LineState, ...]] = get_args(LineState)
JAKARTA: Final = ZoneInfo("Asia/Jakarta")

TRANSITIONS: Final[Mapping[LineState, frozenset[LineState]]] = {
    "expected": frozenset({"invoiced", "missed"}),
    "invoiced": frozenset({"paid", "missed"}),
    "missed": frozenset({"paid"}),  # a late payment (within the grace: the lapse rules decide)
    "paid": frozenset({"confirmed"}),
    "confirmed": frozenset(),
}


class LedgerTransitionError(ValueError):
    """A line cannot make this transition (e.g. confirmed before it was paid, invoiced twice)."""


@dataclass(frozen=True)
class MemberMonth:
    """One worker's contribution for one calendar month of one sponsored enrollment."""

    enrollment_id: uuid.UUID
    worker_id: uuid.UUID
    commitment_id: str
    company_id: str
    month: date  # the calendar month it is for, its first day
    contribution_idr: int
    discount: str | None = None  # the discount's name (PP 50/2025) when one priced this month
    state: LineState = "expected"
    invoice_id: str | None = None
    invoiced_at: datetime | None = None
    paid_at: datetime | None = None
    confirmed_at: datetime | None = None
    missed_at: datetime | None = None


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + (month.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def coverage_end(start: date, months: int) -> date:
    """The last covered day of `months` calendar months from `start` (inclusive): the day before
    the same day `months` months later, or that month's last day when it has no such day. The
    arithmetic of simulators/bpjs/domain.coverage_end (BPJS's answer), kept equal by a test."""
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day > last_day:
        return date(year, month, last_day)
    return date(year, month, start.day) - timedelta(days=1)


def contribution_months(coverage_start: date, months: int) -> list[date]:
    """The calendar months (first days) a coverage is charged for: see the module's docstring."""
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    first = month_start(coverage_start)
    return [add_months(first, i) for i in range(months)]


@dataclass(frozen=True)
class SponsoredEnrollment:
    """What a confirmed enrollment's lines depend on: who, under which commitment, what package,
    from when and for how long (as BPJS confirmed), and what the worker's month costs."""

    enrollment_id: uuid.UUID
    worker_id: uuid.UUID
    commitment_id: str
    company_id: str
    package: Package
    coverage_start: date
    months: int
    declared_income_idr: int | None
    occupation: str


def member_months(
    enrollment: SponsoredEnrollment, tariffs: TariffTable, apply_discount: bool
) -> list[MemberMonth]:
    """The enrollment's lines, each priced by the table for its own month, all expected."""
    e = enrollment
    sector: Sector = occupation_sector(e.occupation)
    lines = []
    for month in contribution_months(e.coverage_start, e.months):
        discount = tariffs.discount_for(month, sector) if apply_discount else None
        lines.append(
            MemberMonth(
                enrollment_id=e.enrollment_id,
                worker_id=e.worker_id,
                commitment_id=e.commitment_id,
                company_id=e.company_id,
                month=month,
                contribution_idr=tariffs.monthly_contribution(
                    e.package, e.declared_income_idr, month, sector, apply_discount
                ),
                discount=discount.name if discount is not None and discount.percent > 0 else None,
            )
        )
    return lines


def _refuse(line: MemberMonth, to: LineState, why: str = "") -> LedgerTransitionError:
    allowed = ", ".join(sorted(TRANSITIONS[line.state])) or "none"
    return LedgerTransitionError(
        f"the {line.month:%Y-%m} line of enrollment {line.enrollment_id} is {line.state}: it cannot"
        f" become {to}{why} (from {line.state}: {allowed})"
    )


def check_transition(line: MemberMonth, to: LineState) -> bool:
    """True when the line moves to `to`, False when it is there already (nothing to do);
    LedgerTransitionError when the move is not allowed."""
    if to not in TRANSITIONS:
        raise LedgerTransitionError(f"{to!r} is not a ledger state (one of {', '.join(LINE_STATES)})")
    if line.state == to:
        return False
    if to not in TRANSITIONS[line.state]:
        raise _refuse(line, to)
    return True


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a ledger time must be timezone-aware")
    return at


def invoiced(line: MemberMonth, invoice_id: str, at: datetime) -> MemberMonth:
    """On the invoice `invoice_id`; the same invoice again changes nothing, another is refused
    (a month is never invoiced twice)."""
    if not invoice_id:
        raise ValueError("an invoice id is required")
    if line.state == "invoiced" and line.invoice_id != invoice_id:
        raise _refuse(line, "invoiced", f" on invoice {invoice_id} (it is on {line.invoice_id})")
    if not check_transition(line, "invoiced"):
        return line
    return replace(line, state="invoiced", invoice_id=invoice_id, invoiced_at=_aware(at))


def paid(line: MemberMonth, at: datetime) -> MemberMonth:
    if not check_transition(line, "paid"):
        return line
    return replace(line, state="paid", paid_at=_aware(at))


def confirmed(line: MemberMonth, at: datetime) -> MemberMonth:
    """BPJS confirmed the month's contribution: only a paid month is."""
    if not check_transition(line, "confirmed"):
        return line
    return replace(line, state="confirmed", confirmed_at=_aware(at))


def missed(line: MemberMonth, at: datetime, due_date: date) -> MemberMonth:
    """Unpaid after `due_date` (the month's due date, shared/calendar's): only once the due date
    has passed in Jakarta (a payment on the due date itself is on time)."""
    if not check_transition(line, "missed"):
        return line
    if _aware(at).astimezone(JAKARTA).date() <= due_date:
        raise _refuse(line, "missed", f" before its due date {due_date} has passed")
    return replace(line, state="missed", missed_at=at)


@dataclass(frozen=True)
class LedgerSums:
    """A commitment's (or worker's) lines summed by state, integer Rupiah."""

    expected_idr: int = 0
    invoiced_idr: int = 0
    paid_idr: int = 0
    confirmed_idr: int = 0
    missed_idr: int = 0

    @property
    def total_idr(self) -> int:
        """Everything the lines commit: the commitment's budget drawn from the ledger."""
        return self.expected_idr + self.invoiced_idr + self.paid_idr + self.confirmed_idr + self.missed_idr

    @classmethod
    def of(cls, by_state: Mapping[str, int]) -> LedgerSums:
        unknown = set(by_state) - set(LINE_STATES)
        if unknown:
            raise ValueError(f"not ledger states: {sorted(unknown)}")
        return cls(**{f"{state}_idr": by_state.get(state, 0) for state in LINE_STATES})
