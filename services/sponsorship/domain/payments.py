"""A company's payment: validating what its finance system (or the office's CLI) submits, and
allocating the money to the company's open invoice lines. Pure; money is integer Rupiah.

Allocation rules:

- **Oldest first**: lines are taken by month, then due date, invoice and enrollment, so
  the oldest debt is settled before a newer one (a worker's unpaid months are what lapses them).
- **Whole lines only**: a line is paid when the money covers it entirely. At the first line the
  money left cannot cover, allocation stops (it never skips ahead to a cheaper, newer line): what
  is left is the company's **credit**, carried to its next allocation (the next payment, or the
  next invoice), and the first line it waits for is named.
- **Once per reference**: a payment is known by (company, reference); allocating a reference
  already allocated changes nothing and says so.
- **On time or late** per line: paid on or before the line's due date (Jakarta dates).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from services.sponsorship.domain.ledger import MemberMonth
from shared.calendar import Month
from shared.events.sponsorship import PaymentRecorded, PaymentRejected
from shared.validation import (
    AMOUNT_INVALID,
    INVALID_CHARACTERS,
    INVALID_TYPE,
    MAX_COMMITMENT_TEXT,
    MAX_PAYMENT_IDR,
    MAX_PAYMENT_REFERENCE,
    MISSING_FIELD,
    PAID_ON_IN_FUTURE,
    PAID_ON_INVALID,
    VALUE_EMPTY,
    VALUE_TOO_LONG,
    Reason,
    has_control_characters,
    rejection_reasons,
)

# The namespace of payment ids (uuid5 of "<company_id>/<reference>"): fixed for ever.
PAYMENTS: Final = uuid.UUID("0c7f3a52-61d4-5e8b-a2c9-7b4e1d6f3a80")

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Payment:
    company_id: str
    reference: str
    amount_idr: int
    paid_on: date


# --- validation -----------------------------------------------------------------------------------


def _text(raw: Mapping[str, object], name: str, limit: int) -> tuple[str | None, list[Reason]]:
    value = raw.get(name)
    if value is None:
        return None, [Reason(name, MISSING_FIELD, f"Kolom {name} wajib diisi.")]
    if not isinstance(value, str):
        return None, [Reason(name, INVALID_TYPE, f"Kolom {name} harus berupa teks.")]
    value = value.strip()
    if has_control_characters(value):
        return None, [Reason(name, INVALID_CHARACTERS, f"Kolom {name} tidak boleh berisi karakter kontrol.")]
    if not value:
        return None, [Reason(name, VALUE_EMPTY, f"Kolom {name} tidak boleh kosong.")]
    if len(value) > limit:
        return None, [Reason(name, VALUE_TOO_LONG, f"Kolom {name} paling banyak {limit} karakter.")]
    return value, []


def _amount(raw: Mapping[str, object]) -> tuple[int | None, list[Reason]]:
    value = raw.get("amount_idr")
    if value is None:
        return None, [Reason("amount_idr", MISSING_FIELD, "Kolom amount_idr wajib diisi.")]
    if not isinstance(value, int) or isinstance(value, bool):
        return None, [
            Reason("amount_idr", INVALID_TYPE, "Kolom amount_idr harus berupa bilangan bulat (Rupiah).")
        ]
    if not 1 <= value <= MAX_PAYMENT_IDR:
        limit = f"{MAX_PAYMENT_IDR:,}".replace(",", ".")
        return None, [
            Reason("amount_idr", AMOUNT_INVALID, f"Jumlah pembayaran harus antara Rp1 dan Rp{limit}.")
        ]
    return value, []


def _paid_on(raw: Mapping[str, object], today: date) -> tuple[date | None, list[Reason]]:
    value = raw.get("paid_on")
    if value is None:
        return None, [Reason("paid_on", MISSING_FIELD, "Kolom paid_on wajib diisi.")]
    if not isinstance(value, str):
        return None, [Reason("paid_on", PAID_ON_INVALID, "Tanggal bayar ditulis YYYY-MM-DD.")]
    text = value.strip()
    try:
        day = date.fromisoformat(text) if _ISO_DATE.fullmatch(text) else None
    except ValueError:  # 2026-02-30
        day = None
    if day is None:
        return None, [Reason("paid_on", PAID_ON_INVALID, "Tanggal bayar ditulis YYYY-MM-DD.")]
    if day > today:
        return None, [Reason("paid_on", PAID_ON_IN_FUTURE, "Tanggal bayar tidak boleh setelah hari ini.")]
    return day, []


def validate_payment(raw: Mapping[str, object], *, today: date) -> Payment | list[Reason]:
    """A submitted payment, or every reason it is refused (in field order). `today` is the
    Jakarta date it arrived: a payment cannot be dated after it."""
    company_id, reasons = _text(raw, "company_id", MAX_COMMITMENT_TEXT)
    reference, found = _text(raw, "reference", MAX_PAYMENT_REFERENCE)
    reasons += found
    amount, found = _amount(raw)
    reasons += found
    paid_on, found = _paid_on(raw, today)
    reasons += found
    if reasons:
        return reasons
    assert company_id is not None and reference is not None and amount is not None and paid_on is not None
    return Payment(company_id, reference, amount, paid_on)


# --- allocation -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenLine:
    """A worker-month the company owes: invoiced, or missed (unpaid after its due date)."""

    invoice_id: str | None  # None: missed before it was ever invoiced
    enrollment_id: str
    month: Month
    amount_idr: int
    due_date: date  # its invoice's (an earlier month billed late is due with that invoice)


def open_line(month_line: MemberMonth, due_date: date) -> OpenLine:
    """A ledger line (services/sponsorship/domain/ledger.py) as allocation takes it."""
    if month_line.state not in ("invoiced", "missed"):
        raise ValueError(f"a {month_line.state} line is not open for payment")
    return OpenLine(
        invoice_id=month_line.invoice_id,
        enrollment_id=str(month_line.enrollment_id),
        month=Month.of(month_line.month),
        amount_idr=month_line.contribution_idr,
        due_date=due_date,
    )


@dataclass(frozen=True, slots=True)
class PaidLine:
    line: OpenLine
    paid_on: date

    @property
    def on_time(self) -> bool:
        return self.paid_on <= self.line.due_date


@dataclass(frozen=True, slots=True)
class Allocation:
    company_id: str
    reference: str | None  # None: credit applied to newly invoiced lines, without a payment
    applied: bool  # False: this reference was allocated before, nothing changed
    paid: tuple[PaidLine, ...]
    credit_idr: int  # the money left, carried to the next allocation
    waiting_for: OpenLine | None  # the first line left open, which the credit goes to next

    @property
    def paid_idr(self) -> int:
        return sum(p.line.amount_idr for p in self.paid)


def oldest_first(lines: Iterable[OpenLine]) -> list[OpenLine]:
    return sorted(lines, key=lambda x: (x.month, x.due_date, x.invoice_id or "", x.enrollment_id))


def _settle(
    company_id: str, reference: str | None, funds: int, lines: Iterable[OpenLine], on: date
) -> Allocation:
    paid: list[PaidLine] = []
    waiting_for = None
    for line in oldest_first(lines):
        if line.amount_idr > funds:
            waiting_for = line
            break
        funds -= line.amount_idr
        paid.append(PaidLine(line, on))
    return Allocation(company_id, reference, True, tuple(paid), funds, waiting_for)


def allocate(
    payment: Payment,
    open_lines: Iterable[OpenLine],
    *,
    credit_idr: int = 0,
    allocated_references: Collection[str] = (),
) -> Allocation:
    """Allocate `payment` (plus the company's credit so far) to its open lines, oldest first,
    whole lines only; `allocated_references` are the company's references allocated before."""
    if credit_idr < 0:
        raise ValueError("a credit is never negative")
    if payment.reference in allocated_references:
        return Allocation(payment.company_id, payment.reference, False, (), credit_idr, None)
    return _settle(
        payment.company_id, payment.reference, credit_idr + payment.amount_idr, open_lines, payment.paid_on
    )


def apply_credit(company_id: str, credit_idr: int, open_lines: Iterable[OpenLine], on: date) -> Allocation:
    """The company's credit applied to its open lines (when a new invoice adds lines), as above."""
    if credit_idr < 0:
        raise ValueError("a credit is never negative")
    return _settle(company_id, None, credit_idr, open_lines, on)


# --- the events -----------------------------------------------------------------------------------


def payment_id(company_id: str, reference: str) -> str:
    return str(uuid.uuid5(PAYMENTS, f"{company_id}/{reference}"))


def payment_recorded(payment: Payment, allocation: Allocation, *, recorded_at: datetime) -> PaymentRecorded:
    """Sponsorship's answer to an allocated payment (not to a repeat: that changes nothing)."""
    if not allocation.applied or allocation.reference != payment.reference:
        raise ValueError("only a payment's own, applied allocation is recorded")
    months = sorted({p.line.month for p in allocation.paid})
    return PaymentRecorded(
        payment_id=payment_id(payment.company_id, payment.reference),
        company_id=payment.company_id,
        reference=payment.reference,
        amount_idr=payment.amount_idr,
        paid_on=payment.paid_on,
        lines_paid=len(allocation.paid),
        lines_paid_late=sum(not p.on_time for p in allocation.paid),
        months_paid=[str(m) for m in months],
        credit_idr=allocation.credit_idr,
        recorded_at=recorded_at,
    )


def _given_text(raw: Mapping[str, object], name: str) -> str | None:
    value = raw.get(name)
    return (value.strip()[:MAX_COMMITMENT_TEXT] or None) if isinstance(value, str) else None


def payment_rejected(
    raw: Mapping[str, object], reasons: list[Reason], *, rejected_at: datetime
) -> PaymentRejected:
    return PaymentRejected(
        company_id=_given_text(raw, "company_id"),
        reference=_given_text(raw, "reference"),
        reasons=rejection_reasons(reasons),
        rejected_at=rejected_at,
    )
