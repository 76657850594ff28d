"""A company's payment through sponsorship's handler (handlers.on_payment_submitted, in-memory
store): validated (PaymentRejected with every reason), allocated to the company's open lines
oldest month first, those lines marked paid in the same transaction, PaymentRecorded published,
and the same (company, reference) again changes nothing."""

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.sponsorship import handlers
from services.sponsorship.domain.ledger import MemberMonth
from services.sponsorship.domain.payments import Allocation, Payment
from shared import clock, contracts, validation
from shared.consumer import Handler
from shared.events.bpjs import EnrollmentRequested
from shared.events.sponsorship import PaymentRecorded, PaymentRejected
from tests.fakes.sponsorship import InMemorySponsorshipStore
from tests.unit.test_sponsorship_handlers import Sponsorship
from tests.unit.test_sponsorship_ledger_handlers import HALF, confirmed_mid_december, lines_of, ojek_matched

COMPANY = "co-c"  # the company of tests.unit.test_sponsorship_handlers' commitments
INVOICED_AT = datetime(2026, 12, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def mid_december_2026(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: date(2026, 12, 15))


class Payments(Sponsorship):
    def _handler(self, contract: contracts.Contract[Any]) -> Handler:
        if contract is contracts.PAYMENT_SUBMITTED:
            return self.handlers.on_payment_submitted
        return super()._handler(contract)


async def enrolled_and_invoiced(*months: date) -> tuple[Payments, EnrollmentRequested]:
    """An ojek driver enrolled from mid-December 2026 (12 lines, the first four half price), the
    lines of `months` invoiced."""
    service, request = await ojek_matched()
    service.__class__ = Payments
    await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmed_mid_december(request))
    for line in lines_of(service, request):
        if line.month in months:
            key = (line.enrollment_id, line.month)
            service.data.member_months[key] = dataclasses.replace(
                line, state="invoiced", invoice_id=f"inv-{line.month:%Y-%m}", invoiced_at=INVOICED_AT
            )
    return service, request  # type: ignore[return-value]


def payment(reference: str, amount: int, paid_on: str = "2026-12-14", **change: Any) -> dict[str, Any]:
    return {"company_id": COMPANY, "reference": reference, "amount_idr": amount, "paid_on": paid_on} | change


def states(service: Sponsorship, request: EnrollmentRequested) -> dict[str, str]:
    return {f"{x.month:%Y-%m}": x.state for x in lines_of(service, request)[:4]}


DEC, JAN, FEB = date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)


async def test_a_payment_pays_the_oldest_invoiced_lines_whole_and_keeps_the_rest_as_credit() -> None:
    service, request = await enrolled_and_invoiced(DEC, JAN, FEB)
    recorded, *_sent = await service.deliver(contracts.PAYMENT_SUBMITTED, payment("TRF-1", 2 * HALF + 100))
    assert states(service, request) == {
        "2026-12": "paid",
        "2027-01": "paid",
        "2027-02": "invoiced",  # Rp100 does not cover it: whole lines only
        "2027-03": "expected",  # never invoiced: not open for payment
    }
    assert isinstance(recorded, PaymentRecorded)
    assert (recorded.company_id, recorded.reference, recorded.amount_idr) == (
        COMPANY,
        "TRF-1",
        2 * HALF + 100,
    )
    assert (recorded.lines_paid, recorded.lines_paid_late, recorded.credit_idr) == (2, 0, 100)
    assert recorded.months_paid == ["2026-12", "2027-01"]
    assert service.data.credits[COMPANY] == 100

    # The credit is carried: Rp8,300 more pays February's Rp8,400.
    second, *_sent = await service.deliver(contracts.PAYMENT_SUBMITTED, payment("TRF-2", HALF - 100))
    assert isinstance(second, PaymentRecorded)
    assert (second.months_paid, second.credit_idr) == (["2027-02"], 0)
    assert states(service, request)["2027-02"] == "paid"


async def test_the_same_reference_again_changes_nothing() -> None:
    service, request = await enrolled_and_invoiced(DEC, JAN)
    await service.deliver(contracts.PAYMENT_SUBMITTED, payment("TRF-1", HALF))
    before = (dict(service.data.member_months), dict(service.data.credits), dict(service.data.payments))
    # Redelivered, or typed again with another amount: the reference was recorded, nothing moves.
    for again in (payment("TRF-1", HALF), payment("TRF-1", 5 * HALF), payment(" TRF-1 ", HALF)):
        assert await service.deliver(contracts.PAYMENT_SUBMITTED, again) == []
    assert (
        dict(service.data.member_months),
        dict(service.data.credits),
        dict(service.data.payments),
    ) == before
    assert states(service, request)["2027-01"] == "invoiced"


async def test_a_bad_payment_is_rejected_with_every_reason_and_pays_nothing() -> None:
    service, request = await enrolled_and_invoiced(DEC)
    bad = {"company_id": COMPANY, "reference": "", "amount_idr": 0, "paid_on": "2026-12-16"}
    [rejected] = await service.deliver(contracts.PAYMENT_SUBMITTED, bad)
    assert isinstance(rejected, PaymentRejected)
    assert (rejected.company_id, rejected.reference) == (COMPANY, None)
    assert [(r.field, r.code) for r in rejected.reasons] == [
        ("reference", validation.VALUE_EMPTY),
        ("amount_idr", validation.AMOUNT_INVALID),
        ("paid_on", validation.PAID_ON_IN_FUTURE),  # after today in Jakarta
    ]
    [missing] = await service.deliver(contracts.PAYMENT_SUBMITTED, {"amount_idr": "1000"})
    assert isinstance(missing, PaymentRejected)
    assert [(r.field, r.code) for r in missing.reasons] == [
        ("company_id", validation.MISSING_FIELD),
        ("reference", validation.MISSING_FIELD),
        ("amount_idr", validation.INVALID_TYPE),
        ("paid_on", validation.MISSING_FIELD),
    ]
    assert states(service, request)["2026-12"] == "invoiced"
    assert service.data.payments == {}


async def test_a_missed_line_is_paid_late_and_another_companys_lines_are_untouched() -> None:
    service, request = await enrolled_and_invoiced(JAN)
    [december] = [x for x in lines_of(service, request) if x.month == DEC]
    service.data.member_months[(december.enrollment_id, DEC)] = dataclasses.replace(
        december, state="missed", missed_at=datetime(2026, 12, 16, tzinfo=UTC)
    )
    assert await service.deliver(contracts.PAYMENT_SUBMITTED, payment("X", 5 * HALF, company_id="co-other"))
    assert states(service, request)["2026-12"] == "missed"  # another company's money pays none of it
    recorded, *_sent = await service.deliver(contracts.PAYMENT_SUBMITTED, payment("TRF-1", HALF))
    assert isinstance(recorded, PaymentRecorded)
    assert (recorded.months_paid, recorded.lines_paid_late) == (["2026-12"], 0)
    assert states(service, request)["2026-12"] == "paid"


async def test_the_paid_lines_reach_the_contribution_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[MemberMonth], str]] = []

    async def contributions_paid(ctx: Any, lines: list[MemberMonth], paid_from: str) -> None:
        seen.append((lines, paid_from))

    monkeypatch.setattr(handlers, "contributions_paid", contributions_paid)
    service, request = await enrolled_and_invoiced(DEC, JAN)
    recorded, *_sent = await service.deliver(contracts.PAYMENT_SUBMITTED, payment("TRF-1", 2 * HALF))
    [(lines, paid_from)] = seen
    assert isinstance(recorded, PaymentRecorded) and paid_from == recorded.payment_id
    assert [(x.month, x.state, str(x.enrollment_id)) for x in lines] == [
        (DEC, "paid", request.enrollment_id),
        (JAN, "paid", request.enrollment_id),
    ]


class PaymentsDown(InMemorySponsorshipStore):
    async def record_payment(self, payment: Payment, allocation: Allocation, recorded_at: datetime) -> None:
        raise RuntimeError("the payment's write failed")


async def test_the_lines_are_paid_in_the_payments_transaction() -> None:
    service, request = await enrolled_and_invoiced(DEC)
    with pytest.raises(RuntimeError, match="payment"):
        await service.batch([(contracts.PAYMENT_SUBMITTED, payment("TRF-1", HALF))], PaymentsDown)
    assert states(service, request)["2026-12"] == "invoiced"
    recorded, *_sent = await service.deliver(contracts.PAYMENT_SUBMITTED, payment("TRF-1", HALF))
    assert isinstance(recorded, PaymentRecorded) and recorded.lines_paid == 1
    assert uuid.UUID(recorded.payment_id)


async def test_a_month_billed_late_is_due_with_the_invoice_it_is_on() -> None:
    """December, confirmed after December's invoice, goes on January's (due 15 January): paid on
    5 January it is on time, though December's own due date (15 December) has passed."""
    service, _request = await enrolled_and_invoiced(DEC)
    service.data.invoice_due["inv-2026-12"] = date(2027, 1, 15)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "today_in_jakarta", lambda: date(2027, 1, 5))
        recorded, *_sent = await service.deliver(
            contracts.PAYMENT_SUBMITTED, payment("TRF-LATE-BILLED", HALF, paid_on="2027-01-05")
        )
    assert isinstance(recorded, PaymentRecorded)
    assert (recorded.lines_paid, recorded.lines_paid_late) == (1, 0)
