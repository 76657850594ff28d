"""Events of the sponsorship service (and the partner-facing commitment it consumes)."""

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from shared.events import EventModel
from shared.events.registry import RejectionReason

Package = Literal["JKK_JKM", "JKK_JKM_JHT"]


class CommitmentSubmitted(EventModel):
    """`sponsorship.commitment-submitted.v1`: a company commits to sponsor workers (plain JSON)."""

    commitment_id: str
    company_id: str
    company_name: str
    kecamatan: list[str] = Field(description='Kecamatan names or codes, or ["*"] for the whole regency')
    slots: int = Field(gt=0)
    months: int = Field(gt=0)
    package: Package
    preferred_occupations: list[str] = Field(default_factory=list)
    email: str | None = None
    webhook_url: str | None = None


class CommitmentAccepted(EventModel):
    """`sponsorship.commitment-accepted.v1`, key = commitment_id."""

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
    """`sponsorship.commitment-rejected.v1`: every reason the commitment could not be taken."""

    commitment_id: str | None
    company_id: str | None
    reasons: list[RejectionReason]
    rejected_at: datetime


class SponsorMatched(EventModel):
    """`sponsorship.sponsor-matched.v1`, key = worker_id."""

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
    """`sponsorship.worker-waitlisted.v1`, key = worker_id. Name and phone so the worker can be told."""

    worker_id: str
    full_name: str
    phone: str
    kecamatan_code: str
    kecamatan_name: str
    waitlisted_at: datetime


class EnrollmentCompleted(EventModel):
    """`sponsorship.enrollment-completed.v1`, key = worker_id: BPJS confirmed; who to tell and what."""

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


class EnrollmentFailed(EventModel):
    """`sponsorship.enrollment-failed.v1`, key = worker_id: BPJS rejected; the slot was released."""

    worker_id: str
    enrollment_id: str
    full_name: str
    phone: str
    reason_code: str
    reason_message: str
    failed_at: datetime
