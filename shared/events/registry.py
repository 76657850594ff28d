"""Events of the worker registry (and the partner-facing registration it consumes)."""

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from shared.events import EventModel


class RegistrationSubmitted(EventModel):
    """`registry.registration-submitted.v1.<partner>`: a partner system registers a worker (plain
    JSON) on its own intake topic.

    The registry validates the raw body itself so that it can name every problem at once; this
    model documents the contract (AsyncAPI) and is what partner tooling should produce.
    """

    submission_id: str = Field(description="Unique per partner (source)", max_length=100)
    source: str | None = Field(
        None,
        description="The partner system's id. Optional: the registry takes it from the intake topic"
        " (which only that partner may write); a body naming another partner is rejected"
        " (SOURCE_MISMATCH).",
        max_length=100,
    )
    nik: str = Field(description="16-digit NIK; spaces, dots and dashes between digits are ignored")
    full_name: str = Field(max_length=100, description="As on the KTP")
    birth_date: date
    sex: Literal["L", "P"]
    phone: str = Field(description="Indonesian mobile number: 08..., 628... or +628...")
    kecamatan: str = Field(description="Where the person works: a Muba kecamatan name or 2-digit code")
    desa: str | None = None
    occupation: str = Field(max_length=100)
    declared_income_idr: int | None = Field(None, ge=0, description="Monthly income in whole Rupiah")


class WorkerRegistered(EventModel):
    """`registry.worker-registered.v1`, key = worker_id. What sponsorship needs to match and enroll."""

    worker_id: str
    submission_id: str
    source: str
    nik: str
    full_name: str
    birth_date: date
    sex: Literal["L", "P"]
    phone: str = Field(description="E.164, +62...")
    kecamatan_code: str = Field(description="2-digit Muba kecamatan code where the worker works")
    kecamatan_name: str
    desa: str | None
    occupation: str
    declared_income_idr: int | None
    registered_at: datetime = Field(
        description="When the registry registered the worker, by the clock of the host that handled it:"
        " information for people, never an order (hosts' clocks differ and step)"
    )
    registration_seq: int | None = Field(
        None,
        ge=1,
        description="The registry's own registration order: a number from the registry database's"
        " sequence, increasing in the order workers were registered, whichever registry instance"
        " registered them. Order waiting workers by it. Added within v1: events published before"
        " it existed have none (null or absent); consumers put those first (they were registered"
        " before every numbered one), among themselves by registered_at.",
    )


class RejectionReason(EventModel):
    field: str
    code: str
    message: str


class RegistrationRejected(EventModel):
    """`registry.registration-rejected.v1`, key = source/submission_id: every reason, not only the first.

    `phone` is the normalised number when it was valid (so the worker can be told), else null;
    `full_name` likewise. The NIK never travels in a rejection.
    """

    submission_id: str | None
    source: str | None
    reasons: list[RejectionReason]
    full_name: str | None = None
    phone: str | None = None
    rejected_at: datetime
