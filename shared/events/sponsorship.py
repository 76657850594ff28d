"""Events of the sponsorship service (and the partner-facing commitment it consumes)."""

from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from shared import validation
from shared.events import EventModel
from shared.events.registry import RejectionReason
from shared.validation import MAX_COMMITMENT_TEXT, MAX_PAYMENT_IDR, MAX_PAYMENT_REFERENCE, rejection_codes

Package = Literal["JKK_JKM", "JKK_JKM_JHT"]
Membership = Literal["new", "continued", "resumed"]
"""What BPJS's confirmation did: `new` a new BPU membership (a new KPJ number); `continued` the
NIK already held an active membership, now paid for on its own KPJ number; `resumed` the NIK held
a lapsed (nonaktif) membership, which the payment makes active again, on its own KPJ number."""
Trimmed = BeforeValidator(validation.trimmed)

# A payment's or a renewal's reference: what makes a repeat of it harmless.
ReferenceText = Annotated[
    str,
    Trimmed,
    Field(
        min_length=1,
        max_length=MAX_PAYMENT_REFERENCE,
        pattern=validation.ONE_LINE_TEXT,
        json_schema_extra=rejection_codes(
            minLength=validation.VALUE_EMPTY,
            maxLength=validation.VALUE_TOO_LONG,
            pattern=validation.INVALID_CHARACTERS,
        ),
    ),
]
# A commitment's ids and the company's name.
CommitmentText = Annotated[
    str,
    Trimmed,
    Field(
        min_length=1,
        max_length=MAX_COMMITMENT_TEXT,
        pattern=validation.ONE_LINE_TEXT,
        json_schema_extra=rejection_codes(
            minLength=validation.VALUE_EMPTY,
            maxLength=validation.VALUE_TOO_LONG,
            pattern=validation.INVALID_CHARACTERS,
        ),
    ),
]


class CommitmentSubmitted(EventModel):
    """A company commits to sponsor workers (plain JSON).

    Every text is trimmed first; each field's limits are sponsorship's, and `x-rejection-codes`
    names the reason code it answers when a value breaks one of them. At least one contact
    (`email` or `webhook_url`, not blank) is required (CONTACT_MISSING).

    Rules the contract cannot express, checked by sponsorship only: each `kecamatan` entry is one
    of Musi Banyuasin's kecamatan (KECAMATAN_UNKNOWN), and "*" (the whole regency) stands alone
    (KECAMATAN_MIXED); a webhook URL has a host.
    """

    commitment_id: CommitmentText = Field(description="Unique id of this commitment")
    company_id: CommitmentText = Field(description="The company's id")
    company_name: CommitmentText = Field(description="The company's name")
    kecamatan: list[Annotated[str, Trimmed, Field(pattern=validation.ONE_LINE_TEXT)]] = Field(
        description='Kecamatan names or codes, or ["*"] for the whole regency',
        min_length=1,
        json_schema_extra=rejection_codes(
            minItems=validation.KECAMATAN_EMPTY, pattern=validation.INVALID_CHARACTERS
        ),
    )
    slots: int = Field(
        ge=1,
        le=validation.MAX_SLOTS,
        strict=True,
        description="How many workers the company sponsors",
        json_schema_extra=rejection_codes(minimum=validation.SLOTS_INVALID, maximum=validation.SLOTS_INVALID),
    )
    months: int = Field(
        ge=1,
        le=validation.MAX_MONTHS,
        strict=True,
        description="Months of coverage per worker",
        json_schema_extra=rejection_codes(
            minimum=validation.MONTHS_INVALID, maximum=validation.MONTHS_INVALID
        ),
    )
    package: Annotated[str, Trimmed] = Field(
        description="JKK_JKM or JKK_JKM_JHT (any case)",
        pattern=validation.PACKAGE,
        json_schema_extra=rejection_codes(pattern=validation.PACKAGE_UNKNOWN),
    )
    preferred_occupations: (
        list[Annotated[str, BeforeValidator(validation.collapsed), Field(pattern=validation.ONE_LINE_TEXT)]]
        | None
    ) = Field(
        None,
        description="Occupations to sponsor first (whitespace runs count as one space); null: none",
        json_schema_extra=rejection_codes(pattern=validation.INVALID_CHARACTERS),
    )
    email: Annotated[str | None, Trimmed] = Field(
        None,
        description="Where the company is told (e-mail); blank counts as absent",
        max_length=validation.MAX_EMAIL_LENGTH,
        pattern=validation.EMAIL,
        json_schema_extra=rejection_codes(
            maxLength=validation.EMAIL_INVALID, pattern=validation.EMAIL_INVALID
        ),
    )
    webhook_url: Annotated[str | None, Trimmed] = Field(
        None,
        description="Where the company is told (http or https URL); blank counts as absent",
        max_length=validation.MAX_WEBHOOK_URL_LENGTH,
        pattern=validation.WEBHOOK_URL,
        json_schema_extra=rejection_codes(
            maxLength=validation.WEBHOOK_INVALID, pattern=validation.WEBHOOK_INVALID
        ),
    )

    @model_validator(mode="after")
    def _a_contact(self) -> Self:
        if not self.email and not self.webhook_url:
            raise PydanticCustomError(
                "contact_missing",
                "Isi minimal satu kontak: e-mail atau URL webhook.",
                {"field": "contact", "code": validation.CONTACT_MISSING},
            )
        return self


class CommitmentAccepted(EventModel):
    """A company's commitment was accepted, with its budget."""

    commitment_id: str
    company_id: str
    company_name: str
    kecamatan_codes: list[str]
    whole_regency: bool
    slots: int
    months: int
    package: Package
    budget_idr: int
    accepted_at: datetime


class CommitmentRejected(EventModel):
    """A commitment was refused, with every reason it could not be taken."""

    commitment_id: str | None
    company_id: str | None
    reasons: list[RejectionReason]
    rejected_at: datetime


class SponsorMatched(EventModel):
    """A worker was given a slot of a company's commitment; BPJS is asked to enroll them."""

    worker_id: str
    enrollment_id: str
    commitment_id: str
    company_id: str
    company_name: str
    package: Package
    months: int
    contribution_idr: int = Field(description="Total for the coverage months, whole Rupiah")
    matched_at: datetime


class WorkerWaitlisted(EventModel):
    """No commitment covers the worker yet; name and phone so the worker can be told."""

    worker_id: str
    full_name: str
    phone: str
    kecamatan_code: str
    kecamatan_name: str
    waitlisted_at: datetime


class EnrollmentCompleted(EventModel):
    """BPJS confirmed the enrollment: who to tell and what."""

    worker_id: str
    enrollment_id: str
    full_name: str
    phone: str
    nik_masked: str
    kecamatan_name: str
    kpj_number: str
    coverage_start: date
    coverage_end: date
    package: Package
    contribution_idr: int
    company_id: str
    company_name: str
    company_email: str | None
    company_webhook_url: str | None
    completed_at: datetime
    membership: Membership = Field(
        "new",
        description="As BPJS confirmed it: new, continued (an existing active member, now"
        " sponsored) or resumed (a lapsed member, active again). Added within v1: absent means new.",
    )


class EnrollmentFailed(EventModel):
    """BPJS rejected the enrollment; the slot was released."""

    worker_id: str
    enrollment_id: str
    full_name: str
    phone: str
    reason_code: str
    reason_message: str
    failed_at: datetime


class InvoiceIssued(EventModel):
    """A company's invoice for a month was issued: who to tell, how much and by when.

    The lines (and so the CSV of the company's workers) are not in the event: a company of
    thousands of workers would make a record of megabytes, and the names would stay on the topic
    for its retention. The company gets the CSV from sponsorship itself."""

    invoice_id: str = Field(description="uuid5 of company and month: the same invoice when issued again")
    invoice_number: str = Field(description="INV-<COMPANY>-<YYYY-MM>")
    company_id: str
    company_name: str
    company_email: str | None
    company_webhook_url: str | None
    month: str = Field(description="YYYY-MM")
    lines_count: int = Field(description="Worker-months on the invoice")
    total_idr: int = Field(description="Whole Rupiah")
    issue_date: date
    due_date: date = Field(description="The 15th, or the next working day (Asia/Jakarta); due by its end")
    issued_at: datetime


class PaymentSubmitted(EventModel):
    """A company's payment, as its finance system (or the office, `muba payments record`) reports
    it (plain JSON). Texts are trimmed first; `x-rejection-codes` names the code sponsorship
    answers when a value breaks a field's limits.

    Rules the contract cannot express, checked by sponsorship only: `paid_on` is not after the
    day the payment arrives (PAID_ON_IN_FUTURE, Asia/Jakarta). A repeated `reference` of the same
    company is recorded once."""

    company_id: CommitmentText = Field(description="The company's id, as in its commitments")
    reference: ReferenceText = Field(
        description="The transfer's reference: unique per company, what makes a repeat harmless"
    )
    amount_idr: int = Field(
        ge=1,
        le=MAX_PAYMENT_IDR,
        strict=True,
        description="Whole Rupiah",
        json_schema_extra=rejection_codes(
            minimum=validation.AMOUNT_INVALID, maximum=validation.AMOUNT_INVALID
        ),
    )
    paid_on: Annotated[date, BeforeValidator(validation.iso_date)] = Field(
        description="YYYY-MM-DD: the day (Asia/Jakarta) the money was sent",
        json_schema_extra=rejection_codes(type=validation.PAID_ON_INVALID),
    )


class PaymentRecorded(EventModel):
    """A payment was recorded and allocated to the company's open invoice lines, oldest month
    first, whole lines only; what is left is the company's credit."""

    payment_id: str = Field(description="uuid5 of company and reference")
    company_id: str
    reference: str
    amount_idr: int
    paid_on: date
    lines_paid: int = Field(description="Worker-months this payment (with the credit before it) paid")
    lines_paid_late: int = Field(description="Of those, paid after their due date")
    months_paid: list[str] = Field(
        description="The months (YYYY-MM) of the lines paid, oldest first, once each"
    )
    credit_idr: int = Field(description="Left after the allocation (whole Rupiah), carried to the next one")
    recorded_at: datetime


class PaymentRejected(EventModel):
    """A submitted payment was refused, with every reason."""

    company_id: str | None
    reference: str | None
    reasons: list[RejectionReason]
    rejected_at: datetime


class InvoiceReminder(EventModel):
    """A company's invoice still has unpaid lines: a few days before its due date (`due_soon`)
    and after it (`overdue`, each reminder once). Who to tell, how much and by when."""

    invoice_id: str
    invoice_number: str
    company_id: str
    company_name: str
    company_email: str | None
    company_webhook_url: str | None
    month: str = Field(description="YYYY-MM")
    due_date: date
    kind: Literal["due_soon", "overdue"]
    days_from_due: int = Field(description="Negative before the due date, positive after it")
    unpaid_lines: int = Field(description="Worker-months on the invoice not paid yet")
    unpaid_idr: int = Field(description="Whole Rupiah")
    reminded_at: datetime


class CommitmentExtensionSubmitted(EventModel):
    """A company renews a commitment: `months` more for every worker it sponsors and for the
    workers it will sponsor (plain JSON, written by the office on the company's behalf). A
    repeated `reference` of the same commitment is applied once.

    Rules the contract cannot express, checked by sponsorship only: the commitment exists and is
    the company's (COMMITMENT_UNKNOWN), and its months stay within the limit (MONTHS_INVALID)."""

    commitment_id: CommitmentText = Field(description="The commitment renewed")
    company_id: CommitmentText = Field(description="The company's id, as in the commitment")
    reference: ReferenceText = Field(
        description="The renewal's reference (e.g. the decree or letter): unique per commitment"
    )
    months: int = Field(
        ge=1,
        le=validation.MAX_MONTHS,
        strict=True,
        description="Months added to each worker's coverage",
        json_schema_extra=rejection_codes(
            minimum=validation.MONTHS_INVALID, maximum=validation.MONTHS_INVALID
        ),
    )


class CommitmentExtended(EventModel):
    """A renewal was applied: the commitment's months and budget, and how many workers' coverage
    it extended (each told by CoverageExtended)."""

    commitment_id: str
    company_id: str
    reference: str
    months_added: int
    months: int = Field(description="The commitment's months per worker now")
    budget_idr: int = Field(description="The commitment's budget now, whole Rupiah")
    workers_extended: int
    extended_at: datetime


class CommitmentExtensionRejected(EventModel):
    """A renewal was refused, with every reason."""

    commitment_id: str | None
    company_id: str | None
    reference: str | None
    reasons: list[RejectionReason]
    rejected_at: datetime


class CoverageEnding(EventModel):
    """A worker's sponsored coverage ends soon (30 and 7 days before its last day): the worker
    and the company are told, so the company can renew in time."""

    worker_id: str
    enrollment_id: str
    full_name: str
    phone: str
    kpj_number: str | None
    commitment_id: str
    company_id: str
    company_name: str
    company_email: str | None
    company_webhook_url: str | None
    coverage_end: date = Field(description="The last covered day (Asia/Jakarta)")
    days_left: int = Field(description="Days from the notice's day to the last covered day")
    noticed_at: datetime


class CoverageExtended(EventModel):
    """A renewal extended the worker's coverage: no gap, the same KPJ number."""

    worker_id: str
    enrollment_id: str
    full_name: str
    phone: str
    commitment_id: str
    company_id: str
    company_name: str
    months_added: int
    coverage_end: date = Field(description="The new last covered day (Asia/Jakarta)")
    extended_at: datetime


CoverageEndReason = Literal["period_ended", "lapsed"]
"""`period_ended`: the sponsored months ran out and no renewal came; `lapsed`: three consecutive
months unpaid after their due dates, so the membership became inactive (nonaktif)."""


class CoverageEnded(EventModel):
    """A worker's sponsored coverage ended: the worker, the company and the office are told, and
    what happens next: another commitment covers them from the next day (`fallback`), or they
    wait for one (`waitlisted`)."""

    worker_id: str
    enrollment_id: str
    full_name: str
    phone: str
    kpj_number: str | None
    commitment_id: str
    company_id: str
    company_name: str
    company_email: str | None
    company_webhook_url: str | None
    reason: CoverageEndReason
    last_covered_day: date = Field(description="Asia/Jakarta")
    months_unpaid: int = Field(description="Consecutive months unpaid after their due dates (lapse)")
    next: Literal["fallback", "waitlisted"]
    next_company_name: str | None = Field(description="The fallback sponsor, when there is one")
    next_coverage_start: date | None = Field(description="From when the fallback sponsor covers them")
    ended_at: datetime


class CoverageReported(EventModel):
    """The programme's coverage numbers for one day (Asia/Jakarta), once a day."""

    day: date
    workers_covered: int = Field(description="Workers whose sponsored coverage includes the day")
    workers_uncovered: int = Field(
        description="Workers covered before and not on the day (their coverage ended or lapsed)"
    )
    coverage_days_lost: int = Field(description="Since the start: the sum of each day's workers_uncovered")
    unplanned_gaps: int = Field(
        description="Workers uncovered on the day while an open commitment with room covered them: must be 0"
    )
    unplanned_gap_days: int = Field(description="Since the start: the sum of each day's unplanned_gaps")
    members_at_risk: int = Field(description="Covered workers with a month unpaid after its due date")
    members_six_paid_months: int = Field(description="Workers with 6 or more paid months (BPJS's KPI)")
    reported_at: datetime
