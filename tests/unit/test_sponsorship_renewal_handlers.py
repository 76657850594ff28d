"""A company's renewal through sponsorship's handler (handlers.on_commitment_extension_submitted,
in-memory store): every live coverage of the commitment gets exactly the months after its last
line (none twice, no day's gap), its last day moves and its worker is told; an enrollment still
being answered gets the months at confirmation; the budget grows by the added months at the
commitment's slots; refused with every reason; the same (commitment, reference) again changes
nothing."""

import uuid
from datetime import date
from typing import Any

import pytest

from services.sponsorship.domain.ledger import contribution_months, coverage_end
from shared import clock, contracts, validation
from shared.consumer import Handler
from shared.events.bpjs import EnrollmentRequested
from shared.events.sponsorship import (
    CommitmentExtended,
    CommitmentExtensionRejected,
    CoverageExtended,
    EnrollmentCompleted,
)
from tests.unit.test_sponsorship_handlers import FULL_PRICE, Sponsorship, confirmation, of, worker

MONTH = 16_800  # JKK + JKM a month at the income floor, no discount (FULL_PRICE)
START = date(2026, 12, 15)


@pytest.fixture(autouse=True)
def mid_december_2026(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: date(2026, 12, 15))


class Renewals(Sponsorship):
    def _handler(self, contract: contracts.Contract[Any]) -> Handler:
        if contract is contracts.COMMITMENT_EXTENSION_SUBMITTED:
            return self.handlers.on_commitment_extension_submitted
        return super()._handler(contract)

    async def renew(self, body: dict[str, Any]) -> list[Any]:
        return await self.deliver(contracts.COMMITMENT_EXTENSION_SUBMITTED, body)

    def months_of(self, request: EnrollmentRequested) -> list[date]:
        eid = uuid.UUID(request.enrollment_id)
        return sorted(m for (e, m) in self.data.member_months if e == eid)

    def enrollment(self, request: EnrollmentRequested) -> Any:
        return self.data.enrollments[uuid.UUID(request.enrollment_id)]


def extension(reference: str = "SK-2027-01", months: int = 3, **change: Any) -> dict[str, Any]:
    return {"commitment_id": "c", "company_id": "co-c", "reference": reference, "months": months} | change


async def two_sponsored() -> tuple[Renewals, EnrollmentRequested, EnrollmentRequested]:
    """Commitment c (3 slots, 12 months): worker 1 confirmed from 15 December 2026, worker 2
    requested of BPJS and not answered yet."""
    service = Renewals(FULL_PRICE)
    await service.commit("c", ["07"], slots=3)
    first, second = of(await service.register(worker(1), worker(2)), EnrollmentRequested)
    await service.deliver(
        contracts.ENROLLMENT_CONFIRMED,
        confirmation(first, coverage_start=START, coverage_end=date(2027, 12, 14)),
    )
    return service, first, second


async def test_a_renewal_adds_exactly_the_next_months_and_moves_the_last_day() -> None:
    service, confirmed, _ = await two_sponsored()
    before = service.data.commitments["c"]
    assert service.months_of(confirmed) == contribution_months(START, 12)
    events = await service.renew(extension(months=3))

    # December 2026 .. February 2028: each month once, contiguous.
    assert service.months_of(confirmed) == contribution_months(START, 15)
    assert service.months_of(confirmed)[-3:] == [date(2027, 12, 1), date(2028, 1, 1), date(2028, 2, 1)]
    row = service.enrollment(confirmed)
    assert (row.months, row.coverage_end) == (15, date(2028, 3, 14))
    [told] = of(events, CoverageExtended)
    assert (told.worker_id, told.enrollment_id, told.months_added, told.coverage_end) == (
        confirmed.worker_id,
        confirmed.enrollment_id,
        3,
        date(2028, 3, 14),
    )
    [extended] = of(events, CommitmentExtended)
    assert extended.model_dump(exclude={"extended_at"}) == {
        "commitment_id": "c",
        "company_id": "co-c",
        "reference": "SK-2027-01",
        "months_added": 3,
        "months": 15,
        "budget_idr": before.budget_idr + 3 * 3 * MONTH,  # 3 more months at its 3 slots
        "workers_extended": 1,
    }
    after = service.data.commitments["c"]
    assert (after.months, after.budget_idr) == (15, before.budget_idr + 3 * 3 * MONTH)
    assert after.budget_used_idr == before.budget_used_idr + 3 * MONTH  # the confirmed worker's new lines


async def test_the_new_lines_are_expected_and_priced_for_their_month() -> None:
    service, confirmed, _ = await two_sponsored()
    await service.renew(extension(months=2))
    eid = uuid.UUID(confirmed.enrollment_id)
    new = [service.data.member_months[(eid, m)] for m in (date(2027, 12, 1), date(2028, 1, 1))]
    assert {(x.state, x.contribution_idr, x.commitment_id, x.company_id) for x in new} == {
        ("expected", MONTH, "c", "co-c")
    }


async def test_an_enrollment_still_being_answered_gets_the_months_at_confirmation() -> None:
    service, _, requested = await two_sponsored()
    events = await service.renew(extension(months=3))
    assert [e.worker_id for e in of(events, CoverageExtended)] != [requested.worker_id]
    assert service.enrollment(requested).months == 15
    assert service.months_of(requested) == []  # nothing owed before BPJS answers
    # BPJS answers with the 12 months it was asked for; the sponsored period follows the 15.
    [completed] = of(
        await service.deliver(
            contracts.ENROLLMENT_CONFIRMED,
            confirmation(requested, coverage_start=START, coverage_end=date(2027, 12, 14)),
        ),
        EnrollmentCompleted,
    )
    assert service.months_of(requested) == contribution_months(START, 15)
    assert completed.coverage_end == coverage_end(START, 15) == date(2028, 3, 14)
    assert service.enrollment(requested).coverage_end == date(2028, 3, 14)


async def test_two_renewals_follow_each_other_without_a_month_twice() -> None:
    service, confirmed, _ = await two_sponsored()
    await service.renew(extension("SK-1", months=3))
    events = await service.renew(extension("SK-2", months=12))
    assert service.months_of(confirmed) == contribution_months(START, 27)
    assert len(set(service.months_of(confirmed))) == 27
    [told] = of(events, CoverageExtended)
    assert told.coverage_end == date(2029, 3, 14)
    assert service.data.commitments["c"].months == 27


async def test_the_same_reference_again_changes_nothing() -> None:
    service, confirmed, _ = await two_sponsored()
    await service.renew(extension(months=3))
    commitment = service.data.commitments["c"]
    lines = dict(service.data.member_months)
    assert await service.renew(extension(months=3)) == []
    assert await service.renew(extension(months=6)) == []  # the reference decides, not the months
    assert service.data.commitments["c"] == commitment
    assert service.data.member_months == lines
    assert service.enrollment(confirmed).coverage_end == date(2028, 3, 14)


async def test_a_redelivered_renewal_up_to_the_limit_is_not_rejected() -> None:
    service, _, _ = await two_sponsored()
    assert of(await service.renew(extension(months=validation.MAX_MONTHS - 12)), CommitmentExtended)
    assert service.data.commitments["c"].months == validation.MAX_MONTHS
    assert (
        of(await service.renew(extension(months=validation.MAX_MONTHS - 12)), CommitmentExtensionRejected)
        == []
    )


@pytest.mark.parametrize(
    "body",
    [
        extension(commitment_id="nope"),
        extension(company_id="co-other"),  # another company's commitment: the same answer
    ],
)
async def test_an_unknown_or_anothers_commitment_is_refused_as_unknown(body: dict[str, Any]) -> None:
    service, confirmed, _ = await two_sponsored()
    commitment = service.data.commitments["c"]
    [rejected] = await service.renew(body)
    assert isinstance(rejected, CommitmentExtensionRejected)
    assert [(r.field, r.code) for r in rejected.reasons] == [("commitment_id", validation.COMMITMENT_UNKNOWN)]
    assert (rejected.commitment_id, rejected.company_id, rejected.reference) == (
        body["commitment_id"],
        body["company_id"],
        "SK-2027-01",
    )
    assert service.data.commitments["c"] == commitment
    assert service.months_of(confirmed) == contribution_months(START, 12)


async def test_months_beyond_the_limit_are_refused_and_up_to_it_taken() -> None:
    service, confirmed, _ = await two_sponsored()
    room = validation.MAX_MONTHS - 12
    [rejected] = await service.renew(extension(months=room + 1))
    assert isinstance(rejected, CommitmentExtensionRejected)
    assert [(r.field, r.code) for r in rejected.reasons] == [("months", validation.MONTHS_INVALID)]
    assert service.data.commitments["c"].months == 12
    assert of(await service.renew(extension("SK-max", months=room)), CommitmentExtended)
    assert service.data.commitments["c"].months == validation.MAX_MONTHS
    assert service.months_of(confirmed) == contribution_months(START, validation.MAX_MONTHS)


async def test_a_malformed_renewal_is_refused_with_every_reason() -> None:
    service, confirmed, _ = await two_sponsored()
    commitment = service.data.commitments["c"]
    body = {"commitment_id": "  ", "company_id": 7, "reference": "x" * 101, "months": "3"}
    [rejected] = await service.renew(body)
    assert isinstance(rejected, CommitmentExtensionRejected)
    assert [(r.field, r.code) for r in rejected.reasons] == [
        ("commitment_id", validation.VALUE_EMPTY),
        ("company_id", validation.INVALID_TYPE),
        ("reference", validation.VALUE_TOO_LONG),
        ("months", validation.INVALID_TYPE),
    ]
    assert (rejected.commitment_id, rejected.company_id) == ("  ", None)
    [missing] = await service.renew({})
    assert isinstance(missing, CommitmentExtensionRejected)
    assert [(r.field, r.code) for r in missing.reasons] == [
        (name, validation.MISSING_FIELD) for name in ("commitment_id", "company_id", "reference", "months")
    ]
    [zero] = await service.renew(extension(months=0))
    assert isinstance(zero, CommitmentExtensionRejected)
    assert [(r.field, r.code) for r in zero.reasons] == [("months", validation.MONTHS_INVALID)]
    assert service.data.commitments["c"] == commitment
    assert service.months_of(confirmed) == contribution_months(START, 12)
