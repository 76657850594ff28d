"""Events of the worker registry (and the partner-facing registration it consumes)."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from shared import validation
from shared.events import EventModel
from shared.validation import MAX_REGISTRATION_TEXT, rejection_codes

Trimmed = BeforeValidator(validation.trimmed)
Collapsed = BeforeValidator(validation.collapsed)


class RegistrationSubmitted(EventModel):
    """A partner system registers a worker (plain JSON) on its own intake topic.

    The registry validates the raw body itself so that it can name every problem at once; this
    model documents the contract (AsyncAPI) and is what partner tooling should produce. Every
    text is trimmed first (and, where a description says so, whitespace runs become one space); each field's limits are the registry's, and `x-rejection-codes` names
    the reason code the registry answers when a value breaks one of them.

    Rules the contract cannot express, checked by the registry only. Refused: a NIK whose first
    two digits are no province code (NIK_PROVINCE), whose digits 7-12 are no date in any century
    (DDMMYY, day + 40 for women: NIK_FORMAT) or whose last four digits are 0000 (NIK_SERIAL); a
    birth date in the future, an age outside the programme's limits (15 to 60 by default); a name
    with anything but letters, spaces, apostrophes, dots and dashes; a `kecamatan` that is none of
    Musi Banyuasin's (KECAMATAN_UNKNOWN, naming the closest known names); a NIK already
    registered (DUPLICATE_NIK).

    Registered with a warning (WorkerRegistered.warnings), never refused, because a NIK never
    changes even when Dukcapil corrects the data behind it (PP 40/2019 art. 30(2)) and BPJS's
    Dukcapil check decides: NIK digits 7-12 that disagree with `birth_date`
    (NIK_BIRTH_DATE_MISMATCH), a day coding (+ 40 for women) that disagrees with `sex`
    (NIK_SEX_MISMATCH), regency/kecamatan digits (1-6) in no table of Kemendagri codes, current
    or retired (NIK_AREA_UNKNOWN).
    """

    submission_id: Annotated[str, Trimmed] = Field(
        description="Unique per partner (source)",
        min_length=1,
        max_length=MAX_REGISTRATION_TEXT,
        pattern=validation.ONE_LINE_TEXT,
        json_schema_extra=rejection_codes(
            minLength=validation.MISSING_FIELD,
            maxLength=validation.INVALID_TYPE,
            pattern=validation.INVALID_TYPE,
        ),
    )
    source: str | None = Field(
        None,
        description="The partner system's id. Optional: the registry takes it from the intake topic"
        " (which only that partner may write); a body naming another partner is rejected"
        " (SOURCE_MISMATCH).",
        pattern=f"^{validation.PARTNER_NAME.pattern}$",
        json_schema_extra=rejection_codes(
            pattern=validation.SOURCE_MISMATCH, type=validation.SOURCE_MISMATCH
        ),
    )
    nik: Annotated[str, Trimmed] = Field(
        description="16-digit NIK; spaces, dots and dashes between digits are ignored",
        max_length=validation.MAX_NIK_LENGTH,
        pattern=validation.NIK,
        json_schema_extra=rejection_codes(
            minLength=validation.MISSING_FIELD, maxLength=validation.NIK_FORMAT, pattern=validation.NIK_FORMAT
        ),
    )
    full_name: Annotated[str, BeforeValidator(validation.collapsed_name)] = Field(
        description="As on the KTP; limits apply with whitespace runs as one space (Unicode NFC)",
        min_length=1,
        max_length=MAX_REGISTRATION_TEXT,
        pattern=validation.ONE_LINE_TEXT,
        json_schema_extra=rejection_codes(
            minLength=validation.MISSING_FIELD,
            maxLength=validation.NAME_TOO_LONG,
            pattern=validation.NAME_INVALID,
        ),
    )
    birth_date: Annotated[date, BeforeValidator(validation.iso_date)] = Field(
        description="YYYY-MM-DD", json_schema_extra=rejection_codes(type=validation.BIRTH_DATE_FORMAT)
    )
    sex: Annotated[Literal["L", "P", "l", "p"], Trimmed] = Field(
        description="L (laki-laki) or P (perempuan); lower case is accepted",
        json_schema_extra=rejection_codes(enum=validation.SEX_INVALID),
    )
    phone: Annotated[str, Trimmed] = Field(
        description="Indonesian mobile number: 08..., 628..., +628..., or +62 08... / +62 (0)8..."
        " (spaces, dashes, dots and brackets are ignored; no letters); a mobile range, 9 to 12"
        " digits after +62: not 080x (0800 toll-free, 0809 premium) nor 084x",
        max_length=validation.MAX_PHONE_LENGTH,
        pattern=validation.PHONE,
        json_schema_extra=rejection_codes(
            minLength=validation.MISSING_FIELD,
            maxLength=validation.PHONE_INVALID,
            pattern=validation.PHONE_INVALID,
        ),
    )
    kecamatan: Annotated[str, Trimmed] = Field(
        description="Where the person works: a Muba kecamatan name or 2-digit code (the spellings of"
        " Kepmendagri 300.2.2-2138/2025, e.g. Lawan Wetan, and common variants such as Lawang Wetan,"
        " Sei Lilin, Bayung Lincir, Babattoman are accepted)",
        min_length=1,
        json_schema_extra=rejection_codes(minLength=validation.MISSING_FIELD),
    )
    desa: Annotated[str | None, Collapsed] = Field(
        None,
        description="The village (desa/kelurahan); blank means not given; limits apply with"
        " whitespace runs as one space",
        max_length=MAX_REGISTRATION_TEXT,
        pattern=validation.ONE_LINE_TEXT,
        json_schema_extra=rejection_codes(
            type=validation.DESA_INVALID, maxLength=validation.DESA_INVALID, pattern=validation.DESA_INVALID
        ),
    )
    occupation: Annotated[str, Collapsed] = Field(
        description="Limits apply with whitespace runs as one space",
        min_length=1,
        max_length=MAX_REGISTRATION_TEXT,
        pattern=validation.ONE_LINE_TEXT,
        json_schema_extra=rejection_codes(
            minLength=validation.MISSING_FIELD,
            maxLength=validation.OCCUPATION_INVALID,
            pattern=validation.OCCUPATION_INVALID,
        ),
    )
    declared_income_idr: int | None = Field(
        None,
        ge=0,
        le=validation.MAX_INCOME_IDR,
        strict=True,
        description="Monthly income in whole Rupiah",
        json_schema_extra=rejection_codes(
            type=validation.INCOME_INVALID,
            minimum=validation.INCOME_INVALID,
            maximum=validation.INCOME_INVALID,
        ),
    )


class RegistrationWarning(EventModel):
    """Something the registry could not confirm but must not refuse: the worker is registered,
    and BPJS's civil-registry (Dukcapil) check decides. Codes: NIK_BIRTH_DATE_MISMATCH,
    NIK_SEX_MISMATCH, NIK_AREA_UNKNOWN (shared/validation.py)."""

    field: str
    code: str
    message: str


class WorkerRegistered(EventModel):
    """A worker was registered: what sponsorship needs to match and enroll them."""

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
    warnings: list[RegistrationWarning] = Field(
        default_factory=list,
        description="What the registry could not confirm but did not refuse (the NIK's birth-date or"
        " sex digits disagree with birth_date/sex; its area digits are in no table): carried onward"
        " so that BPJS's Dukcapil check decides. Added within v1: absent means none.",
    )


class RejectionReason(EventModel):
    field: str
    code: str
    message: str


class RegistrationRejected(EventModel):
    """A registration was refused, with every reason, not only the first.

    `phone` is the normalised number when it was valid (so the worker can be told), else null;
    `full_name` likewise. The NIK never travels in a rejection.
    """

    submission_id: str | None
    source: str | None
    reasons: list[RejectionReason]
    full_name: str | None = None
    phone: str | None = None
    rejected_at: datetime


class WorkerFundedElsewhere(EventModel):
    """A registered worker's NIK is on a funder's list imported after they registered (the
    office's `muba funders import`, PUT /api/funders): another payer (the regency's APBD scheme
    PAKE KELAMBU, a village's APBDes, another sponsor) already pays their contributions, so the
    programme must not pay twice. Published once per worker and import, in the import's
    transaction; the NIK does not travel (the worker_id names the worker).

    Sponsorship withdraws a waitlisted worker (never matched again) and flags one whose
    enrollment is requested or confirmed for the office, which decides."""

    worker_id: str
    funder: str = Field(description="The funder as the office named it, e.g. PAKE KELAMBU")
    source_code: str = Field(
        description="BPJS Ketenagakerjaan's funding-source code: SA (APBD), SD (APBDes), SG"
        " (pemerintah), SC (perusahaan/CSR), SB (perbankan), SL (sumber lain)"
    )
    description: str | None = Field(None, description="Who pays, as the list says")
    import_id: str = Field(description="The funder-list import that named the worker")
    noticed_at: datetime = Field(description="When the registry matched the list to the worker (UTC)")
