"""Paid months told to BPJS and BPJS's confirmations in the ledger (services/sponsorship/
contributions.py and handlers.on_contribution_confirmed, in-memory store): a paid line sends one
ContributionPaid through the outbox, the confirmation marks it confirmed (a repeat changes nothing),
a confirmation that is not of a paid line of ours is parked with a clear code, and an unconfirmed
paid month is found by the reconciliation and re-sent as a new attempt."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.sponsorship import contributions
from services.sponsorship.domain.ledger import LedgerTransitionError, MemberMonth
from shared import clock, contracts
from shared.consumer import Handler, PoisonMessage, Publisher
from shared.events.bpjs import ContributionConfirmed, ContributionPaid, EnrollmentRequested
from tests.unit.test_sponsorship_handlers import Sponsorship
from tests.unit.test_sponsorship_ledger_handlers import confirmed_mid_december, ojek_matched

NOW = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
PAID_AT = datetime(2026, 12, 12, 2, 0, tzinfo=UTC)
DECEMBER, JANUARY = date(2026, 12, 1), date(2027, 1, 1)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: date(2026, 12, 15))
    monkeypatch.setattr(clock, "now", lambda: NOW)


class WithContributions(Sponsorship):
    def _handler(self, contract: contracts.Contract[Any]) -> Handler:
        if contract is contracts.CONTRIBUTION_CONFIRMED:
            return self.handlers.on_contribution_confirmed
        return super()._handler(contract)


async def enrolled() -> tuple[WithContributions, EnrollmentRequested]:
    base, request = await ojek_matched()
    service = WithContributions(base.data.tariffs)
    service.data = base.data
    await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmed_mid_december(request))
    return service, request


async def pay(service: Sponsorship, request: EnrollmentRequested, month: date) -> list[ContributionPaid]:
    """What the payment handler does for one allocated line: mark it paid, send it, one transaction."""
    publisher = Publisher("sponsorship")
    enrollment_id = uuid.UUID(request.enrollment_id)
    async with service.data.transaction() as store:
        await store.mark_invoiced(enrollment_id, month, f"inv-{month:%Y%m}", PAID_AT)
        await store.mark_paid(enrollment_id, month, PAID_AT)
        await contributions.send_paid_month(store, publisher, enrollment_id, month, "pay-1")
    assert [r.topic for r in publisher.rows] == [contracts.CONTRIBUTION_PAID.topic]
    return [e for e in publisher.events if isinstance(e, ContributionPaid)]


def confirmation(paid: ContributionPaid, **change: Any) -> ContributionConfirmed:
    return ContributionConfirmed(
        payment_id=paid.payment_id,
        enrollment_id=paid.enrollment_id,
        worker_id=paid.worker_id,
        kpj_number=paid.kpj_number,
        month=paid.month,
        amount_idr=paid.amount_idr,
        confirmed_at=PAID_AT + timedelta(hours=1),
    ).model_copy(update=change)


def line(service: Sponsorship, request: EnrollmentRequested, month: date) -> MemberMonth:
    return service.data.member_months[(uuid.UUID(request.enrollment_id), month)]


async def test_a_paid_month_is_sent_once_and_its_confirmation_marks_the_line_confirmed() -> None:
    service, request = await enrolled()
    [paid] = await pay(service, request, DECEMBER)
    assert paid == ContributionPaid(
        payment_id="pay-1",
        enrollment_id=request.enrollment_id,
        worker_id=request.worker_id,
        kpj_number="16001234567",
        month=DECEMBER,
        amount_idr=line(service, request, DECEMBER).contribution_idr,
        paid_at=PAID_AT,
        attempt=1,
    )
    assert line(service, request, DECEMBER).state == "paid"

    assert await service.deliver(contracts.CONTRIBUTION_CONFIRMED, confirmation(paid)) == []
    confirmed = line(service, request, DECEMBER)
    assert (confirmed.state, confirmed.confirmed_at) == ("confirmed", PAID_AT + timedelta(hours=1))
    assert line(service, request, JANUARY).state == "expected"  # only the month confirmed

    # The same confirmation again (a redelivery, or the answer to a re-send): nothing changes.
    later = confirmation(paid, confirmed_at=PAID_AT + timedelta(days=3))
    assert await service.deliver(contracts.CONTRIBUTION_CONFIRMED, later) == []
    assert line(service, request, DECEMBER) == confirmed


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"enrollment_id": str(uuid.uuid4())}, "UNKNOWN_ENROLLMENT"),
        ({"enrollment_id": "not-ours"}, "UNKNOWN_ENROLLMENT"),
        ({"month": date(2030, 1, 1)}, "UNKNOWN_MEMBER_MONTH"),
        ({"worker_id": str(uuid.uuid4())}, "WORKER_MISMATCH"),
        ({"amount_idr": 1}, "AMOUNT_MISMATCH"),
        ({"month": JANUARY}, "CONTRIBUTION_NOT_PAID"),  # January is only expected
    ],
)
async def test_a_confirmation_that_is_not_of_a_paid_line_of_ours_is_parked(
    change: dict[str, Any], code: str
) -> None:
    service, request = await enrolled()
    [paid] = await pay(service, request, DECEMBER)
    before = dict(service.data.member_months)
    with pytest.raises(PoisonMessage) as caught:
        await service.deliver(contracts.CONTRIBUTION_CONFIRMED, confirmation(paid, **change))
    assert caught.value.reason == code
    assert service.data.member_months == before  # nothing recorded


async def test_only_a_paid_line_is_sent() -> None:
    service, request = await enrolled()
    with pytest.raises(LedgerTransitionError):
        async with service.data.transaction() as store:
            await contributions.send_paid_month(
                store, Publisher("sponsorship"), uuid.UUID(request.enrollment_id), JANUARY, "pay-1"
            )
    assert service.data.contributions_sent == {}  # rolled back with the caller's transaction


async def test_a_lost_confirmation_shows_in_the_reconciliation_and_a_re_send_is_a_new_attempt() -> None:
    service, request = await enrolled()
    [paid] = await pay(service, request, DECEMBER)  # BPJS never answers it
    async with service.data.transaction() as store:
        assert await contributions.unconfirmed(store, older_than_days=30) == []  # paid 8 days ago
        [found] = await contributions.unconfirmed(store, older_than_days=3)
        assert (found.line.month, found.payment_id, found.attempts) == (DECEMBER, "pay-1", 1)
        publisher = Publisher("sponsorship")
        done = await contributions.resend_unconfirmed(store, publisher, older_than_days=3)
    [again] = done.resent
    assert again == paid.model_copy(update={"attempt": 2})
    # A new event (the outbox keeps it), not the first sending's id again.
    [envelope] = publisher.envelopes
    assert envelope.id == contributions.contribution_paid_id("pay-1", request.enrollment_id, DECEMBER, 2)
    assert envelope.id != contributions.contribution_paid_id("pay-1", request.enrollment_id, DECEMBER, 1)

    await service.deliver(contracts.CONTRIBUTION_CONFIRMED, confirmation(again))
    assert line(service, request, DECEMBER).state == "confirmed"
    async with service.data.transaction() as store:
        assert await contributions.unconfirmed(store, older_than_days=0) == []
