"""The pure rules of the sponsorship service, in three modules:

- `tariffs`: dated tariffs (JKK by income band) and discounts, a worker's coverage cost
  (`Pricing.coverage`, the one home of the income floor), the table's document form, sectors;
- `commitments`: validating a company's commitment, and its budget;
- `matching`: which commitment sponsors a worker, and the waitlist's order.

Everything public of the three is re-exported here for callers that take the domain as one (the
validation vocabulary is shared/validation.py's, `Package` is the contract's)."""

from services.sponsorship.domain.commitments import (
    Commitment,
    budget_idr,
    commitment_budget,
    normalise_occupation,
    validate_commitment,
)
from services.sponsorship.domain.matching import (
    Offer,
    OpenCommitment,
    WaitlistPosition,
    WorkerToMatch,
    choose_commitment,
    covers,
    has_room,
    offers_for,
    prefers_occupation,
    waitlist_position,
)
from services.sponsorship.domain.tariffs import (
    PACKAGES,
    TRANSPORT_WORDS,
    Coverage,
    Discount,
    IncomeBand,
    Pricing,
    Problem,
    Sector,
    Tariff,
    TariffTable,
    TariffTableError,
    occupation_sector,
    occupation_words,
    table_document,
    table_from_document,
)

__all__ = [
    "PACKAGES",
    "TRANSPORT_WORDS",
    "Commitment",
    "Coverage",
    "Discount",
    "IncomeBand",
    "Offer",
    "OpenCommitment",
    "Pricing",
    "Problem",
    "Sector",
    "Tariff",
    "TariffTable",
    "TariffTableError",
    "WaitlistPosition",
    "WorkerToMatch",
    "budget_idr",
    "choose_commitment",
    "commitment_budget",
    "covers",
    "has_room",
    "normalise_occupation",
    "occupation_sector",
    "occupation_words",
    "offers_for",
    "prefers_occupation",
    "table_document",
    "table_from_document",
    "validate_commitment",
    "waitlist_position",
]
