"""What sponsorship records of the months it tells BPJS (migration 0009, contribution_sent), over
PostgreSQL and the in-memory fake alike (the fixture of tests/services/test_sponsorship_store.py):
the first sending keeps the payment id, a re-send counts up, and the unconfirmed paid months are
read oldest payment first."""

from datetime import timedelta

import pytest

from tests.services.test_sponsorship_store import (
    DECEMBER,
    JANUARY,
    T0,
    Transaction,
    _confirmed_lines,
    transaction,
)

__all__ = ["transaction"]  # the fixture, used by name


async def test_a_paid_month_sent_then_re_sent_and_read_until_confirmed(transaction: Transaction) -> None:
    enrollment_id, lines = await _confirmed_lines(transaction)
    at = T0 + timedelta(days=31)
    async with transaction() as store:
        await store.add_member_months(lines, reserved_idr=201_600)
        for month, paid_at in ((DECEMBER, at + timedelta(days=1)), (JANUARY, at)):
            await store.mark_invoiced(enrollment_id, month, "inv-1", at)
            await store.mark_paid(enrollment_id, month, paid_at)
        with pytest.raises(LookupError):  # never sent: a re-send has no payment id to repeat
            await store.note_contribution_sent(enrollment_id, DECEMBER, None, at)
    async with transaction() as store:
        first = await store.note_contribution_sent(enrollment_id, DECEMBER, "pay-1", at + timedelta(days=1))
        assert (first.payment_id, first.attempts, first.kpj_number) == ("pay-1", 1, "1")
        assert first.first_sent_at == first.last_sent_at == at + timedelta(days=1)
        assert first.line.state == "paid" and first.line.month == DECEMBER
        again = await store.note_contribution_sent(enrollment_id, DECEMBER, None, at + timedelta(days=5))
        assert (again.payment_id, again.attempts) == ("pay-1", 2)
        assert (again.first_sent_at, again.last_sent_at) == (at + timedelta(days=1), at + timedelta(days=5))
        with pytest.raises(LookupError):
            await store.note_contribution_sent(enrollment_id, DECEMBER.replace(year=2030), "pay-1", at)
    async with transaction() as store:
        # January (paid first, never sent) then December; none paid before `at`.
        found = await store.unconfirmed_paid(at + timedelta(days=2))
        assert [(x.line.month, x.attempts, x.payment_id) for x in found] == [
            (JANUARY, 0, None),
            (DECEMBER, 2, "pay-1"),
        ]
        assert await store.unconfirmed_paid(at) == []
        assert len(await store.unconfirmed_paid(at + timedelta(days=2), limit=1)) == 1
        # The re-send's due lines: sent at or before the cutoff (January, never sent, is not).
        assert [x.line.month for x in await store.contributions_to_resend(at + timedelta(days=5))] == [
            DECEMBER
        ]
        assert await store.contributions_to_resend(at + timedelta(days=5) - timedelta(microseconds=1)) == []
        await store.mark_confirmed(enrollment_id, DECEMBER, at + timedelta(days=6))
    async with transaction() as store:
        assert [x.line.month for x in await store.unconfirmed_paid(at + timedelta(days=9))] == [JANUARY]
        assert await store.contributions_to_resend(at + timedelta(days=9)) == []  # confirmed
