"""The benchmark's sponsors: a slot for every worker at any N, in commitments the sponsorship
service accepts (one commitment of a million slots would be rejected and every worker
waitlisted)."""

import pytest

from deploy.bench.workload import commitments
from services.sponsorship.domain.commitments import Commitment, validate_commitment
from shared import validation


@pytest.mark.parametrize("slots", [1, 10_030, validation.MAX_SLOTS, validation.MAX_SLOTS + 1, 1_000_030])
def test_every_slot_is_offered_in_commitments_the_service_accepts(slots: int) -> None:
    offers = commitments("a1b2c3d4", slots)
    checked = [validate_commitment(c) for c in offers]
    assert all(isinstance(c, Commitment) for c in checked), checked
    assert sum(int(c["slots"]) for c in offers) == slots
    assert len({c["commitment_id"] for c in offers}) == len(offers) == -(-slots // validation.MAX_SLOTS)
