"""The public outcome feed: what subscribers who must not see personal data build on (the
regency's data warehouse, the BPJS branch's reporting, a village information system).

Each event names the worker by `worker_ref`, a pseudonym (HMAC-SHA256 of the worker id with a key
of the programme's, services/sponsorship/domain/feed.py): the same worker has the same reference
on every feed event, and nothing links it to the worker, their NIK or the internal topics. No NIK,
name, phone, birth date, KPJ number or address is on the feed; kecamatan, occupation, sponsor,
months and amounts are. docs/subscribers.md is the subscribers' guide.
"""

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from shared.events import EventModel
from shared.events.sponsorship import CoverageEndReason, Membership, Package

WORKER_REF_PATTERN = r"^[0-9a-f]{32}$"
WorkerRef = Field(
    pattern=WORKER_REF_PATTERN,
    description="The worker's pseudonym on the feed: 32 hex digits, the same on each of their events,"
    " unlinkable to who they are",
)


class FeedWorkerEnrolled(EventModel):
    """A worker is a BPJS Ketenagakerjaan member, sponsored by a company for these months."""

    worker_ref: str = WorkerRef
    kecamatan_code: str = Field(description="2-digit Muba kecamatan code where the worker works")
    kecamatan_name: str
    occupation: str
    company_id: str = Field(description="The sponsor")
    company_name: str
    package: Package
    months: int = Field(ge=1, description="Months of coverage the sponsor pays for")
    coverage_start: date = Field(description="Asia/Jakarta")
    coverage_end: date = Field(description="Asia/Jakarta, the last day covered")
    contribution_idr: int = Field(ge=0, description="What the sponsor pays for these months, integer Rupiah")
    membership: Membership
    enrolled_at: datetime


class FeedWorkerWaitlisted(EventModel):
    """A registered worker waits for a sponsor (none covers their kecamatan with a slot free)."""

    worker_ref: str = WorkerRef
    kecamatan_code: str = Field(description="2-digit Muba kecamatan code where the worker works")
    kecamatan_name: str
    occupation: str
    waitlisted_at: datetime


class FeedCoverageEnded(EventModel):
    """A sponsored coverage ended (its months ran out, or it lapsed unpaid), and what came next."""

    worker_ref: str = WorkerRef
    company_id: str = Field(description="The sponsor whose coverage ended")
    company_name: str
    reason: CoverageEndReason
    last_covered_day: date = Field(description="Asia/Jakarta")
    months_unpaid: int = Field(ge=0, description="Consecutive months unpaid after their due dates (lapse)")
    next: Literal["fallback", "waitlisted"]
    next_company_id: str | None = Field(description="The fallback sponsor, when there is one")
    next_company_name: str | None
    next_coverage_start: date | None = Field(description="From when the fallback sponsor covers them")
    ended_at: datetime
