"""A payment's lines go to BPJS in the payment's transaction (handlers.contributions_paid), and the
daily job "contribution-resend" sends an unconfirmed month again once it is
SPONSORSHIP_CONFIRMATION_RESEND_DAYS old (services/sponsorship/contributions.py; in-memory store):
once per line and attempt, never a confirmed month, and the same moment run twice re-sends
nothing."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.sponsorship import contributions
from services.sponsorship.settings import SponsorshipSettings
from shared import clock, contracts
from shared.clock import JAKARTA
from shared.consumer import Publisher
from shared.events.bpjs import ContributionPaid
from shared.events.sponsorship import PaymentRecorded
from tests.fakes.sponsorship import InMemorySponsorshipStore, SentContribution
from tests.unit.test_sponsorship_contributions import DECEMBER, PAID_AT, enrolled, pay
from tests.unit.test_sponsorship_ledger_handlers import HALF
from tests.unit.test_sponsorship_payment_handlers import DEC, JAN, enrolled_and_invoiced, payment

NOW = datetime(2026, 12, 14, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: date(2026, 12, 15))
    monkeypatch.setattr(clock, "now", lambda: NOW)


def test_the_cutoff_is_the_resend_days_before_the_run_and_at_least_one_day() -> None:
    due = datetime(2027, 1, 4, 23, 0, tzinfo=UTC)  # 06:00 WIB on the 5th
    assert contributions.resend_cutoff(due, 3) == datetime(2027, 1, 1, 23, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="at least 1"):
        contributions.resend_cutoff(due, 0)
    with pytest.raises(ValueError, match="at least 1"):
        contributions.resend_job(due, "", 0)


def test_the_job_runs_daily_at_six_in_jakarta_and_the_setting_defaults_to_three_days() -> None:
    start = datetime(2027, 1, 1, tzinfo=JAKARTA)
    job = contributions.resend_job(start, "", 3)
    assert (job.name, job.start) == ("contribution-resend", start)
    first = job.schedule.next_after(start)
    assert first == datetime(2027, 1, 1, 6, tzinfo=JAKARTA)
    assert job.schedule.next_after(first) == datetime(2027, 1, 2, 6, tzinfo=JAKARTA)
    assert SponsorshipSettings().confirmation_resend_days == 3


async def test_a_payment_sends_each_line_it_paid_naming_the_payment_in_its_transaction() -> None:
    service, request = await enrolled_and_invoiced(DEC, JAN)
    recorded, *sent = await service.deliver(contracts.PAYMENT_SUBMITTED, payment("TRF-1", 2 * HALF))
    assert isinstance(recorded, PaymentRecorded) and recorded.lines_paid == 2
    assert all(isinstance(x, ContributionPaid) for x in sent)
    assert [(x.month, x.attempt, x.payment_id, x.amount_idr, x.enrollment_id) for x in sent] == [
        (DEC, 1, recorded.payment_id, HALF, request.enrollment_id),
        (JAN, 1, recorded.payment_id, HALF, request.enrollment_id),
    ]
    enrollment_id = uuid.UUID(request.enrollment_id)
    recorded_sent = service.data.contributions_sent[(enrollment_id, DEC)]
    assert recorded_sent[:2] == (recorded.payment_id, 1)


class SendingDown(InMemorySponsorshipStore):
    async def note_contribution_sent(
        self, enrollment_id: uuid.UUID, month: date, payment_id: str | None, at: datetime
    ) -> SentContribution:
        raise RuntimeError("contribution_sent is down")


async def test_a_payment_whose_sending_fails_is_not_recorded() -> None:
    service, request = await enrolled_and_invoiced(DEC)
    with pytest.raises(RuntimeError, match="contribution_sent"):
        await service.batch([(contracts.PAYMENT_SUBMITTED, payment("TRF-1", HALF))], SendingDown)
    assert service.data.payments == {} and service.data.contributions_sent == {}
    line = service.data.member_months[(uuid.UUID(request.enrollment_id), DEC)]
    assert line.state == "invoiced"


async def run_job(service_data: object, due_at: datetime, days: int = 3) -> list[ContributionPaid]:
    publisher = Publisher("sponsorship")
    async with service_data.transaction() as store:  # type: ignore[attr-defined]
        resent = await contributions.resend_overdue(store, publisher, due_at, days)
    assert publisher.events == resent
    ids = [r.event_id for r in publisher.rows]
    assert ids == [
        contributions.contribution_paid_id(x.payment_id, x.enrollment_id, x.month, x.attempt) for x in resent
    ]
    return resent


async def test_an_unconfirmed_month_is_re_sent_once_per_attempt_after_the_resend_days() -> None:
    service, request = await enrolled()
    [first] = await pay(service, request, DECEMBER)  # sent at NOW (the programme clock)
    assert first.attempt == 1
    assert await run_job(service.data, NOW + timedelta(days=2, hours=23)) == []  # not yet 3 days
    due = NOW + timedelta(days=3)
    [second] = await run_job(service.data, due)
    assert (second.attempt, second.payment_id, second.month, second.paid_at) == (
        2,
        "pay-1",
        DECEMBER,
        PAID_AT,
    )
    assert await run_job(service.data, due) == []  # the same moment again: nothing more
    assert await run_job(service.data, due + timedelta(days=2)) == []  # 3 days from the re-send
    [third] = await run_job(service.data, due + timedelta(days=3))
    assert third.attempt == 3
    key = (uuid.UUID(request.enrollment_id), DECEMBER)
    payment_id, attempts, first_at, last_at = service.data.contributions_sent[key]
    assert (payment_id, attempts, first_at, last_at) == ("pay-1", 3, NOW, due + timedelta(days=3))


async def test_a_confirmed_month_is_not_re_sent() -> None:
    service, request = await enrolled()
    await pay(service, request, DECEMBER)
    async with service.data.transaction() as store:
        await store.mark_confirmed(uuid.UUID(request.enrollment_id), DECEMBER, NOW + timedelta(hours=1))
    assert await run_job(service.data, NOW + timedelta(days=10)) == []
