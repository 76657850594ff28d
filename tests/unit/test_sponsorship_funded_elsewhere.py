"""A worker another payer funds is not double-funded (issue 12, item 4): sponsorship's handler
for registry.worker-funded-elsewhere with the in-memory store (tests/fakes/sponsorship.py), in
the harness of test_sponsorship_handlers.py."""

import uuid
from datetime import UTC, datetime
from typing import Any

from shared import contracts
from shared.events.bpjs import EnrollmentRequested
from shared.events.registry import WorkerFundedElsewhere, WorkerRegistered
from shared.events.sponsorship import WorkerWaitlisted
from tests.unit.test_sponsorship_handlers import Sponsorship, confirmation, of, sponsored, worker

IMPORT_ID = str(uuid.UUID(int=0xFEED))


def funded(announced: WorkerRegistered, **change: Any) -> WorkerFundedElsewhere:
    return WorkerFundedElsewhere(
        worker_id=announced.worker_id,
        funder="PAKE KELAMBU",
        source_code="SA",
        description="APBD Kabupaten Musi Banyuasin",
        import_id=IMPORT_ID,
        noticed_at=datetime(2026, 11, 2, 1, 0, tzinfo=UTC),
    ).model_copy(update=change)


async def notice(s: Sponsorship, announced: WorkerRegistered, **change: Any) -> list[Any]:
    return await s.deliver(contracts.WORKER_FUNDED_ELSEWHERE, funded(announced, **change))


async def test_a_waitlisted_worker_funded_elsewhere_is_withdrawn_and_never_matched() -> None:
    s = Sponsorship()
    listed, other = worker(0), worker(1)
    await s.register(listed, other)
    assert s.status(listed) == s.status(other) == "waitlisted"

    assert await notice(s, listed) == []  # nothing to tell anyone
    assert s.status(listed) == "funded_elsewhere"

    # A company commits in their kecamatan: the slot goes to the other worker, never to them.
    events = await s.commit("c-1", ["07"], 2)
    assert sponsored(events) == [other.worker_id]
    assert s.status(listed) == "funded_elsewhere"


async def test_an_enrolled_or_requested_worker_keeps_the_enrollment_and_is_flagged() -> None:
    s = Sponsorship()
    requested, enrolled = worker(0), worker(1)
    await s.commit("c-1", ["07"], 2)
    requests = of(await s.register(requested, enrolled), EnrollmentRequested)
    await s.deliver(contracts.ENROLLMENT_CONFIRMED, confirmation(requests[1]))
    assert (s.status(requested), s.status(enrolled)) == ("matched", "enrolled")

    assert await notice(s, requested) == [] and await notice(s, enrolled) == []

    # BPJS has them: the enrollment and the slot stay (the office decides), the notice is kept.
    assert (s.status(requested), s.status(enrolled)) == ("matched", "enrolled")
    assert {str(w): status for w, (_, status) in s.data.funded_elsewhere.items()} == {
        requested.worker_id: "matched",
        enrolled.worker_id: "enrolled",
    }
    assert s.data.commitments["c-1"].slots_used == 2


async def test_the_same_notice_again_or_another_funder_s_changes_nothing() -> None:
    s = Sponsorship()
    listed = worker(0)
    await s.register(listed)
    await notice(s, listed)
    first = dict(s.data.funded_elsewhere)
    assert await notice(s, listed) == []
    assert (
        await notice(s, listed, funder="Desa Sukajadi", source_code="SD", import_id=str(uuid.uuid4())) == []
    )
    assert s.data.funded_elsewhere == first
    assert s.status(listed) == "funded_elsewhere"


async def test_funded_before_registered_the_worker_arrives_withdrawn_and_is_not_matched() -> None:
    s = Sponsorship()
    await s.commit("c-1", ["07"], 1)  # a free slot in their kecamatan
    listed = worker(0)
    assert await notice(s, listed) == []  # not announced here yet: remembered

    events = await s.register(listed)

    # Neither matched nor told to wait for a sponsor.
    assert sponsored(events) == [] and of(events, WorkerWaitlisted) == []
    assert s.status(listed) == "funded_elsewhere"
    assert s.data.commitments["c-1"].slots_used == 0
    later = worker(1)
    assert sponsored(await s.register(later)) == [later.worker_id]
