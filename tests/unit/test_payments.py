"""services/sponsorship/domain/payments.py: a company's payment validated with reason codes, and
allocated to its open lines oldest first, whole lines only, the rest a credit, once per reference."""

import uuid
from datetime import UTC, date, datetime

import pytest

from services.sponsorship.domain import ledger, payments
from services.sponsorship.domain.invoices import build_invoice, invoice_id, invoice_line
from services.sponsorship.domain.ledger import MemberMonth
from services.sponsorship.domain.payments import (
    Allocation,
    OpenLine,
    Payment,
    allocate,
    apply_credit,
    payment_id,
    payment_recorded,
    payment_rejected,
    validate_payment,
)
from shared import contracts, validation
from shared.calendar import Month, programme_calendar

TODAY = date(2026, 8, 20)
COMPANY = "pt-hindoli"
CAL = programme_calendar()
JUL, AUG, SEP = Month(2026, 7), Month(2026, 8), Month(2026, 9)
DUE = {JUL: date(2026, 7, 15), AUG: date(2026, 8, 18), SEP: date(2026, 9, 15)}


def open_line(month: Month, enrollment: str, amount: int) -> OpenLine:
    return OpenLine(invoice_id(COMPANY, month), enrollment, month, amount, DUE[month])


# July: two JKK+JKM workers (Rp16,800 each); August: one of them and a JHT worker (Rp36,800).
LINES = [
    open_line(AUG, "e-0003", 36_800),
    open_line(JUL, "e-0002", 16_800),
    open_line(AUG, "e-0001", 16_800),
    open_line(JUL, "e-0001", 16_800),
]


def pay(amount: int, reference: str = "TRF-001", paid_on: date = date(2026, 8, 18)) -> Payment:
    return Payment("pt-hindoli", reference, amount, paid_on)


def paid(allocation: Allocation) -> list[tuple[str, str]]:
    return [(str(p.line.month), p.line.enrollment_id) for p in allocation.paid]


def test_the_exact_amount_pays_every_line_and_leaves_no_credit() -> None:
    allocation = allocate(pay(16_800 * 3 + 36_800), LINES)
    assert allocation.paid_idr == 87_200
    assert (allocation.credit_idr, allocation.waiting_for) == (0, None)
    assert paid(allocation) == [
        ("2026-07", "e-0001"),
        ("2026-07", "e-0002"),
        ("2026-08", "e-0001"),
        ("2026-08", "e-0003"),
    ]


def test_oldest_month_first_whole_lines_only_the_rest_is_credit_carried_to_the_next_payment() -> None:
    first = allocate(pay(50_000), LINES)
    assert paid(first) == [("2026-07", "e-0001"), ("2026-07", "e-0002")]
    assert first.credit_idr == 50_000 - 33_600 == 16_400  # short of Rp16,800 for August's first line
    assert first.waiting_for == open_line(AUG, "e-0001", 16_800)

    still_open = [x for x in LINES if x.month == AUG]
    second = allocate(pay(20_000, "TRF-002"), still_open, credit_idr=first.credit_idr)
    assert paid(second) == [("2026-08", "e-0001")]
    assert second.credit_idr == 16_400 + 20_000 - 16_800 == 19_600
    assert second.waiting_for == open_line(AUG, "e-0003", 36_800)


def test_the_money_never_skips_an_older_line_for_a_cheaper_newer_one() -> None:
    lines = [open_line(JUL, "e-0003", 36_800), open_line(AUG, "e-0001", 16_800)]
    allocation = allocate(pay(20_000), lines)
    assert (allocation.paid, allocation.credit_idr) == ((), 20_000)
    assert allocation.waiting_for == lines[0]


def test_a_reference_allocated_before_changes_nothing() -> None:
    again = allocate(pay(87_200), LINES, credit_idr=400, allocated_references={"TRF-001"})
    assert not again.applied
    assert (again.paid, again.credit_idr) == ((), 400)
    other = allocate(pay(16_800, "TRF-009"), LINES, allocated_references={"TRF-001"})
    assert other.applied and paid(other) == [("2026-07", "e-0001")]


def test_a_line_paid_after_its_due_date_is_late() -> None:
    on_due_date = allocate(pay(87_200, paid_on=date(2026, 8, 18)), LINES)
    assert [p.on_time for p in on_due_date.paid] == [False, False, True, True]  # July was due 15 Jul
    next_day = allocate(pay(87_200, paid_on=date(2026, 8, 19)), LINES)
    assert not any(p.on_time for p in next_day.paid)


def test_an_overpayment_is_credit_that_pays_the_next_invoice_when_it_is_issued() -> None:
    allocation = allocate(pay(100_000), LINES)
    assert (allocation.credit_idr, allocation.waiting_for) == (100_000 - 87_200, None)
    september = [open_line(SEP, "e-0001", 16_800), open_line(SEP, "e-0003", 36_800)]
    applied = apply_credit("pt-hindoli", allocation.credit_idr, september, on=date(2026, 9, 1))
    assert applied.reference is None
    assert paid(applied) == []  # Rp12,800 covers neither line: the credit waits for e-0001
    assert (applied.credit_idr, applied.waiting_for) == (12_800, september[0])
    with pytest.raises(ValueError):
        apply_credit("pt-hindoli", -1, september, on=date(2026, 9, 1))


# --- validation -----------------------------------------------------------------------------------

GOOD = {"company_id": " pt-hindoli ", "reference": "TRF-001", "amount_idr": 87_200, "paid_on": "2026-08-18"}


def codes(body: dict[str, object]) -> list[tuple[str, str]]:
    result = validate_payment(body, today=TODAY)
    assert isinstance(result, list), result
    return [(r.field, r.code) for r in result]


def test_a_good_payment_is_read_trimmed() -> None:
    assert validate_payment(GOOD, today=TODAY) == Payment("pt-hindoli", "TRF-001", 87_200, date(2026, 8, 18))


def test_every_problem_is_named_with_its_code() -> None:
    assert codes({}) == [
        ("company_id", validation.MISSING_FIELD),
        ("reference", validation.MISSING_FIELD),
        ("amount_idr", validation.MISSING_FIELD),
        ("paid_on", validation.MISSING_FIELD),
    ]
    assert codes({"company_id": "  ", "reference": "a\x00b", "amount_idr": 0, "paid_on": "18/08/2026"}) == [
        ("company_id", validation.VALUE_EMPTY),
        ("reference", validation.INVALID_CHARACTERS),
        ("amount_idr", validation.AMOUNT_INVALID),
        ("paid_on", validation.PAID_ON_INVALID),
    ]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("amount_idr", True, validation.INVALID_TYPE),
        ("amount_idr", 87_200.0, validation.INVALID_TYPE),
        ("amount_idr", "87200", validation.INVALID_TYPE),
        ("amount_idr", -1, validation.AMOUNT_INVALID),
        ("amount_idr", validation.MAX_PAYMENT_IDR + 1, validation.AMOUNT_INVALID),
        ("reference", "r" * (validation.MAX_PAYMENT_REFERENCE + 1), validation.VALUE_TOO_LONG),
        ("company_id", 7, validation.INVALID_TYPE),
        ("paid_on", "2026-02-30", validation.PAID_ON_INVALID),
        ("paid_on", "20260818", validation.PAID_ON_INVALID),
        ("paid_on", "2026-08-18T10:00:00+07:00", validation.PAID_ON_INVALID),
        ("paid_on", 20260818, validation.PAID_ON_INVALID),
        ("paid_on", "2026-08-21", validation.PAID_ON_IN_FUTURE),  # the day after TODAY
    ],
)
def test_a_field_out_of_its_limits(field: str, value: object, code: str) -> None:
    assert codes({**GOOD, field: value}) == [(field, code)]


def test_the_limits_are_taken() -> None:
    top = {**GOOD, "amount_idr": validation.MAX_PAYMENT_IDR, "reference": "r" * 100, "paid_on": "2026-08-20"}
    assert isinstance(validate_payment(top, today=TODAY), Payment)
    assert isinstance(validate_payment({**GOOD, "amount_idr": 1}, today=TODAY), Payment)


# --- the events -----------------------------------------------------------------------------------

AT = datetime(2026, 8, 20, 3, 0, tzinfo=UTC)


def test_a_recorded_payment_says_what_it_paid_and_the_credit_left() -> None:
    payment = pay(50_000, paid_on=date(2026, 8, 18))
    event = payment_recorded(payment, allocate(payment, LINES), recorded_at=AT)
    assert contracts.of(event) is contracts.PAYMENT_RECORDED
    assert contracts.PAYMENT_RECORDED.key(event) == "pt-hindoli"
    assert (event.lines_paid, event.lines_paid_late, event.months_paid) == (2, 2, ["2026-07"])
    assert event.credit_idr == 16_400
    assert event.payment_id == payment_id("pt-hindoli", "TRF-001") != payment_id("medco", "TRF-001")
    repeat = allocate(payment, LINES, allocated_references={"TRF-001"})
    with pytest.raises(ValueError):
        payment_recorded(payment, repeat, recorded_at=AT)  # a repeat is not recorded twice


def test_a_rejected_payment_names_its_reasons_and_what_it_could_read() -> None:
    body = {"company_id": " pt-hindoli ", "reference": 7, "amount_idr": 0, "paid_on": "2026-08-18"}
    result = validate_payment(body, today=TODAY)
    assert isinstance(result, list)
    event = payment_rejected(body, result, rejected_at=AT)
    assert contracts.of(event) is contracts.PAYMENT_REJECTED
    assert (event.company_id, event.reference) == ("pt-hindoli", None)
    assert [(r.field, r.code) for r in event.reasons] == [
        ("reference", validation.INVALID_TYPE),
        ("amount_idr", validation.AMOUNT_INVALID),
    ]


# --- with the member-month ledger -----------------------------------------------------------------


def test_the_ledgers_lines_are_invoiced_allocated_and_paid() -> None:
    """The ledger's lines (domain/ledger.py) through invoice_line, build_invoice, open_line and
    allocate, and back into the ledger as paid: the seams the handlers will use."""
    enrollment, worker = uuid.uuid4(), uuid.uuid4()
    expected = [
        MemberMonth(enrollment, worker, "csr-1", COMPANY, m.first_day, amount)
        for m, amount in ((JUL, 16_800), (AUG, 16_800))
    ]
    lines = [
        invoice_line(x, nik="1606015208900003", full_name="Siti Aminah", kpj_number="26000000001")
        for x in expected
    ]
    assert {x.nik_masked for x in lines} == {"160601********03"}
    bill = build_invoice(COMPANY, "PT Hindoli", AUG, lines, CAL)  # July billed late, with August
    at = datetime(2026, 7, 31, 17, 0, tzinfo=UTC)
    on_invoice = [ledger.invoiced(x, bill.invoice_id, at) for x in expected]
    assert [
        ledger.invoiced(x, bill.invoice_id, at) for x in on_invoice
    ] == on_invoice  # issued again: no change
    with pytest.raises(ValueError):
        payments.open_line(expected[0], bill.due_date)  # an expected line is not owed yet

    allocation = allocate(pay(20_000), [payments.open_line(x, bill.due_date) for x in on_invoice])
    assert paid(allocation) == [("2026-07", str(enrollment))]
    assert allocation.credit_idr == 3_200
    settled = {p.line.month for p in allocation.paid}
    after = [ledger.paid(x, AT) if Month.of(x.month) in settled else x for x in on_invoice]
    assert [x.state for x in after] == ["paid", "invoiced"]
