"""Events exchanged with the BPJS Ketenagakerjaan side (KC Musi Banyuasin dan Banyuasin)."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shared.events import EventModel
from shared.events.sponsorship import Membership, Package


class Payer(EventModel):
    company_id: str
    company_name: str
    commitment_id: str


class EnrollmentRequested(EventModel):
    """What BPJS needs to enroll a BPU member."""

    enrollment_id: str
    worker_id: str
    nik: str
    full_name: str
    birth_date: date
    sex: Literal["L", "P"]
    phone: str
    address: str = Field(description="Desa, kecamatan, Kabupaten Musi Banyuasin, Sumatera Selatan")
    kecamatan_code: str
    occupation: str
    declared_income_idr: int
    package: Package
    months: int
    coverage_start: date
    monthly_contribution_idr: int
    total_contribution_idr: int
    payer: Payer
    requested_at: datetime
    nik_warnings: list[str] = Field(
        default_factory=list,
        description="Codes of the registry's warnings on this worker's NIK (NIK_BIRTH_DATE_MISMATCH,"
        " NIK_SEX_MISMATCH, NIK_AREA_UNKNOWN): for BPJS's Dukcapil check to decide, which may"
        " answer DATA_MISMATCH. Added within v1: absent means none.",
    )


class EnrollmentConfirmed(EventModel):
    """BPJS Ketenagakerjaan enrolled the worker: their KPJ number and coverage."""

    enrollment_id: str
    worker_id: str
    kpj_number: str = Field(min_length=8, max_length=16, pattern=r"^\d+$")
    coverage_start: date
    coverage_end: date
    confirmed_at: datetime
    membership: Membership = Field(
        "new",
        description="new: a new membership; continued: an active member's own KPJ number now paid"
        " for by the sponsor; resumed: a lapsed member's KPJ number active again. Added within v1:"
        " absent means new.",
    )


class EnrollmentRejected(EventModel):
    """BPJS Ketenagakerjaan refused the enrollment, with its reason."""

    enrollment_id: str
    worker_id: str
    reason_code: str = Field(
        description="NIK_NOT_FOUND, DATA_MISMATCH (the Dukcapil check disagrees: the worker brings"
        " KTP and KK to the office), AGE_NOT_ELIGIBLE, ...; ALREADY_MEMBER is no longer sent (an"
        " existing member is confirmed with membership continued/resumed) but stays understood"
    )
    reason_message: str
    rejected_at: datetime


KpjNumber = Annotated[str, Field(min_length=8, max_length=16, pattern=r"^\d+$")]


def _first_of_month(value: date) -> date:
    if value.day != 1:
        raise ValueError("a contribution month is named by its first day")
    return value


ContributionMonth = Annotated[
    date, AfterValidator(_first_of_month), Field(description="The calendar month, by its first day")
]


class ContributionPaid(EventModel):
    """The sponsor paid one member's month: sponsorship tells BPJS which KPJ number and month the
    money is for. One event per member-month line, sent in the transaction that marks it paid."""

    payment_id: str = Field(description="The sponsor's payment the month was paid from")
    enrollment_id: str
    worker_id: str
    kpj_number: KpjNumber
    month: ContributionMonth
    amount_idr: int = Field(ge=1, description="The month's contribution, integer Rupiah")
    paid_at: datetime
    attempt: int = Field(
        1,
        ge=1,
        description="1 when first sent; a re-send of a month BPJS has not confirmed (reconciliation)"
        " counts up. BPJS answers a re-send with the same confirmation.",
    )


class ContributionConfirmed(EventModel):
    """BPJS Ketenagakerjaan credited the month's contribution to the member: the proof of a paid
    month. Its CloudEvents id follows from payment, enrollment and month, so a re-sent month is
    confirmed by the same event."""

    payment_id: str
    enrollment_id: str
    worker_id: str
    kpj_number: KpjNumber
    month: ContributionMonth
    amount_idr: int = Field(ge=1)
    confirmed_at: datetime
