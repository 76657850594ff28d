"""BPJS's confirmation writes the enrollment's member-month lines (handlers.on_enrollment_confirmed,
in-memory store): once, in the confirmation's transaction, each month priced by the stored table,
and the commitment's use handed over from the reservation to the lines."""

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import date

import pytest

from services.sponsorship.domain.ledger import MemberMonth
from services.sponsorship.domain.tariffs import TariffTable
from services.sponsorship.repository import default_tariff_table
from shared import clock, contracts
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRequested
from shared.events.sponsorship import EnrollmentCompleted
from tests.fakes.sponsorship import InMemorySponsorshipStore
from tests.unit.test_sponsorship_handlers import Sponsorship, confirmation, of, rejection, worker

FULL, HALF = 16_800, 8_400  # JKK_JKM at the income floor, and with PP 50/2025's half off


@pytest.fixture(autouse=True)
def mid_december_2026(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: date(2026, 12, 15))


async def ojek_matched(table: TariffTable | None = None) -> tuple[Sponsorship, EnrollmentRequested]:
    service = Sponsorship(table or default_tariff_table())
    await service.commit("c", ["07"], slots=2)
    ojek = worker(1).model_copy(update={"occupation": "tukang ojek"})
    [request] = of(await service.register(ojek), EnrollmentRequested)
    return service, request


def lines_of(service: Sponsorship, request: EnrollmentRequested) -> list[MemberMonth]:
    enrollment_id = uuid.UUID(request.enrollment_id)
    return sorted(
        (x for x in service.data.member_months.values() if x.enrollment_id == enrollment_id),
        key=lambda x: x.month,
    )


def confirmed_mid_december(request: EnrollmentRequested) -> EnrollmentConfirmed:
    return confirmation(request, coverage_start=date(2026, 12, 15), coverage_end=date(2027, 12, 14))


async def test_a_confirmation_writes_the_enrollments_months_once() -> None:
    service, request = await ojek_matched()
    assert lines_of(service, request) == []  # requested only: nothing is owed yet
    [completed] = await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmed_mid_december(request))
    lines = lines_of(service, request)
    assert [x.month for x in lines] == [date(2026, 12, 1)] + [date(2027, m, 1) for m in range(1, 12)]
    assert [x.contribution_idr for x in lines] == [HALF] * 4 + [FULL] * 8
    assert {(x.state, x.commitment_id, x.company_id, str(x.worker_id)) for x in lines} == {
        ("expected", "c", "co-c", request.worker_id)
    }
    total = sum(x.contribution_idr for x in lines)
    assert total == request.total_contribution_idr  # the reservation, same table
    assert isinstance(completed, EnrollmentCompleted) and completed.contribution_idr == total
    assert service.data.commitments["c"].budget_used_idr == total

    again = await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmed_mid_december(request))
    assert again == []
    assert lines_of(service, request) == lines
    assert service.data.commitments["c"].budget_used_idr == total


async def test_the_reservation_hands_over_to_the_lines_priced_by_the_table_at_confirmation() -> None:
    """The office loaded a dearer JKM between the request and BPJS's answer: the lines follow the
    table for their months, and so does the commitment's use."""
    service, request = await ojek_matched()
    reserved = service.data.commitments["c"].budget_used_idr
    assert reserved == request.total_contribution_idr
    base = service.data.tariffs
    service.data.tariffs = TariffTable(
        [dataclasses.replace(base.tariffs[0], jkm_idr=7_000)], base.discounts, base.info
    )
    [completed] = await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmed_mid_december(request))
    lines = lines_of(service, request)
    assert [x.contribution_idr for x in lines] == [5_000 + 3_500] * 4 + [10_000 + 7_000] * 8
    total = sum(x.contribution_idr for x in lines)
    assert total == reserved + 4 * 100 + 8 * 200
    assert service.data.commitments["c"].budget_used_idr == total
    assert isinstance(completed, EnrollmentCompleted) and completed.contribution_idr == total


async def test_a_rejected_enrollment_has_no_lines_and_its_reservation_is_released() -> None:
    service, request = await ojek_matched()
    await service.deliver(contracts.ENROLLMENT_REJECTED, rejection(request))
    assert lines_of(service, request) == []
    assert service.data.commitments["c"].budget_used_idr == 0


class LedgerDown(InMemorySponsorshipStore):
    async def add_member_months(self, lines: Sequence[MemberMonth], reserved_idr: int) -> int:
        raise RuntimeError("the ledger's write failed")


async def test_the_lines_are_written_in_the_confirmations_transaction() -> None:
    """Writing the lines fails: the confirmation is undone with them, and redelivered later it
    writes both (never an enrolled worker without months)."""
    service, request = await ojek_matched()
    with pytest.raises(RuntimeError, match="ledger"):
        await service.batch([(contracts.ENROLLMENT_CONFIRMED, confirmed_mid_december(request))], LedgerDown)
    assert service.data.enrollments[uuid.UUID(request.enrollment_id)].status == "requested"
    assert lines_of(service, request) == []
    await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmed_mid_december(request))
    assert len(lines_of(service, request)) == 12
