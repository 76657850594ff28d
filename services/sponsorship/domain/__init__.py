"""The pure rules of the sponsorship service, in three modules:

- `tariffs`: dated tariffs and discounts, a worker's coverage cost (`Pricing.coverage`, the one
  home of the income floor), occupation sectors;
- `commitments`: validating a company's commitment, and its budget;
- `matching`: which commitment sponsors a worker, and the waitlist's order.

Everything public is re-exported here for callers that take the domain as one."""

from services.sponsorship.domain.commitments import (
    MAX_TEXT_LEN,
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
    DEFAULT_DISCOUNTS,
    DEFAULT_TARIFFS,
    PACKAGES,
    TRANSPORT_WORDS,
    Coverage,
    Discount,
    Pricing,
    Sector,
    Tariff,
    TariffTable,
    occupation_sector,
    occupation_words,
)
from shared.events.sponsorship import Package

# The validation vocabulary commitments are refused in (shared/validation.py), as the domain
# named it before it was shared.
from shared.validation import (
    CONTACT_MISSING,
    EMAIL_INVALID,
    INVALID_CHARACTERS,
    INVALID_TYPE,
    KECAMATAN_EMPTY,
    KECAMATAN_MIXED,
    KECAMATAN_UNKNOWN,
    MAX_COMMITMENT_TEXT,
    MAX_MONTHS,
    MAX_SLOTS,
    MAX_WEBHOOK_URL_LENGTH,
    MISSING_FIELD,
    MONTHS_INVALID,
    PACKAGE_UNKNOWN,
    SLOTS_INVALID,
    VALUE_EMPTY,
    VALUE_TOO_LONG,
    WEBHOOK_INVALID,
    Reason,
)

__all__ = [
    "CONTACT_MISSING",
    "DEFAULT_DISCOUNTS",
    "DEFAULT_TARIFFS",
    "EMAIL_INVALID",
    "INVALID_CHARACTERS",
    "INVALID_TYPE",
    "KECAMATAN_EMPTY",
    "KECAMATAN_MIXED",
    "KECAMATAN_UNKNOWN",
    "MAX_COMMITMENT_TEXT",
    "MAX_MONTHS",
    "MAX_SLOTS",
    "MAX_TEXT_LEN",
    "MAX_WEBHOOK_URL_LENGTH",
    "MISSING_FIELD",
    "MONTHS_INVALID",
    "PACKAGES",
    "PACKAGE_UNKNOWN",
    "SLOTS_INVALID",
    "TRANSPORT_WORDS",
    "VALUE_EMPTY",
    "VALUE_TOO_LONG",
    "WEBHOOK_INVALID",
    "Commitment",
    "Coverage",
    "Discount",
    "Offer",
    "OpenCommitment",
    "Package",
    "Pricing",
    "Reason",
    "Sector",
    "Tariff",
    "TariffTable",
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
    "validate_commitment",
    "waitlist_position",
]
