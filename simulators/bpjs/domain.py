"""The BPJS Ketenagakerjaan side's rules, simulated (pure: no I/O).

Everything in an answer follows from the request and the rules: the answer's CloudEvents id is
uuid5(NAMESPACE, "bpjs-answer:" + enrollment_id), the answer's time is the request's
`requested_at` plus the simulated processing time. A new member's KPJ number is a hash of the
enrollment id; an existing member's is a hash of the NIK (`member_kpj_number`): the same person
keeps one KPJ number, whichever enrollment asks.

The rules (`decide`), in order; the serials and the percentages are settings:
1. NIK not 16 digits, or its serial (last 4 digits) is 9999 -> rejected NIK_NOT_FOUND.
2. The request carries a NIK warning that Dukcapil's record decides (NIK_BIRTH_DATE_MISMATCH,
   NIK_SEX_MISMATCH: the NIK's digits disagree with the stated birth date or sex): for
   SIMULATOR_WARNING_MISMATCH_PERCENT of such NIKs (50), chosen by a hash of the NIK (the same
   person, the same record, every time) -> rejected DATA_MISMATCH; the others are the corrected
   records a real check finds (a NIK never changes when Dukcapil corrects the birth date or sex,
   PP 40/2019 art. 30(2)) and go on to the next rules. NIK_AREA_UNKNOWN is not a data mismatch
   (the registry's table may lack the code) and decides nothing here.
3. NIK serial 9998 (SIMULATOR_ACTIVE_MEMBER_SERIAL) -> an active member: confirmed, membership
   "continued", on their own KPJ number.
4. NIK serial 9997 (SIMULATOR_LAPSED_MEMBER_SERIAL) -> a lapsed (nonaktif) member: confirmed,
   membership "resumed", on their own KPJ number.
5. SIMULATOR_REJECT_PERCENT of the remaining (new) requests, chosen by a hash of the enrollment
   id (so the same ones every time) -> rejected with SIMULATOR_REJECT_REASON_CODE (DATA_MISMATCH).
6. Otherwise confirmed, membership "new": a KPJ number of SIMULATOR_KPJ_DIGITS digits (11).

Coverage, for every confirmation: from the requested coverage_start for `months` calendar months:
it ends the day before the same day `months` later, or on the last day of that month when it has
no such day (31 Jan + 1 month -> 28/29 Feb). For a continued or resumed membership too: the
sponsor's months are paid from coverage_start on, whatever the member paid before (months an
active member paid in advance would in reality push the sponsored period back; the simulator
knows of none, and how BPJS counts such months is uncertain).

Contributions (`confirm_contribution`): each ContributionPaid (one member-month) is answered with a
ContributionConfirmed of the same ids and amount, confirmed at `paid_at` plus
SIMULATOR_CONTRIBUTION_DELAY_MS, with the CloudEvents id uuid5(NAMESPACE, "bpjs-contribution:" +
payment_id + enrollment_id + month) (`contribution_answer_id`): a redelivery or a re-send is the
same answer. SIMULATOR_CONTRIBUTION_LOSE_PERCENT of the months, chosen by a hash of the same three
(`contribution_loss_score`, the same ones every time), are never answered when first sent ("BPJS
loses a confirmation"); a re-send (attempt >= 2, sponsorship's reconciliation) is always answered.
No rejection: the simulator holds neither BPJS's bill nor its member register, so it could only
invent an amount mismatch or an unknown KPJ number; a month BPJS does not credit shows on
sponsorship's side as paid and unconfirmed (GET /api/reconciliation), where the office looks.
"""

import calendar
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from shared import contracts
from shared.events.bpjs import (
    ContributionConfirmed,
    ContributionPaid,
    EnrollmentConfirmed,
    EnrollmentRejected,
    EnrollmentRequested,
)
from shared.events.sponsorship import Membership

# The CloudEvents source of the answers: the BPJS office's (shared/contracts.py).
SOURCE: Final = contracts.SOURCES["bpjs-simulator"]
# The namespace of the answers' event ids; changing it would make every answer look new downstream.
NAMESPACE: Final = uuid.uuid5(
    uuid.NAMESPACE_URL, "https://www.bpjsketenagakerjaan.go.id/simulator/kc-musi-banyuasin"
)

NIK_NOT_FOUND: Final = "NIK_NOT_FOUND"
DATA_MISMATCH: Final = "DATA_MISMATCH"
REASON_MESSAGES: Final[Mapping[str, str]] = {
    NIK_NOT_FOUND: "NIK tidak ditemukan di Dukcapil",
    DATA_MISMATCH: "Data pekerja tidak sesuai dengan data kependudukan (Dukcapil)",
}
# The registry's warnings that Dukcapil's record decides (shared/validation.py NIK_WARNING_CODES
# less NIK_AREA_UNKNOWN, which says something of the registry's table, not of the person).
DUKCAPIL_DECIDES: Final = frozenset({"NIK_BIRTH_DATE_MISMATCH", "NIK_SEX_MISMATCH"})
DEFAULT_REASON_MESSAGE: Final = "Pendaftaran ditolak oleh BPJS Ketenagakerjaan"


@dataclass(frozen=True, slots=True)
class Rules:
    nik_not_found_serial: str = "9999"
    active_member_serial: str = "9998"
    lapsed_member_serial: str = "9997"
    reject_percent: float = 0.0
    warning_mismatch_percent: float = 50.0
    reject_reason_code: str = DATA_MISMATCH
    kpj_digits: int = 11
    processing_time: timedelta = timedelta(0)
    contribution_lose_percent: float = 0.0
    contribution_delay: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        serials = (self.nik_not_found_serial, self.active_member_serial, self.lapsed_member_serial)
        if len(set(serials)) != len(serials):
            raise ValueError(f"the not-found, active and lapsed member serials must differ: {serials}")


Answer = EnrollmentConfirmed | EnrollmentRejected


def _digest(label: str, enrollment_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{label}:{enrollment_id}".encode()).digest()[:16], "big")


def _number(label: str, key: str, digits: int) -> str:
    if not 2 <= digits <= 30:
        raise ValueError(f"a KPJ number of {digits} digits is not supported")
    lowest = 10 ** (digits - 1)
    return str(lowest + _digest(label, key) % (9 * lowest))


def kpj_number(enrollment_id: str, digits: int = 11) -> str:
    """The member number BPJS gives a new member by this enrollment: `digits` digits, never a
    leading zero."""
    return _number("kpj", enrollment_id, digits)


def member_kpj_number(nik: str, digits: int = 11) -> str:
    """An existing member's own KPJ number, from their NIK: the same for every enrollment of the
    person (the sponsor pays on it)."""
    return _number("member-kpj", nik, digits)


def answer_id(enrollment_id: str) -> str:
    """The CloudEvents id of the answer to an enrollment: the same on every redelivery."""
    return str(uuid.uuid5(NAMESPACE, "bpjs-answer:" + enrollment_id))


def rejection_score(enrollment_id: str) -> float:
    """A fixed point in [0, 100) per enrollment: rejected when below SIMULATOR_REJECT_PERCENT."""
    return (_digest("reject", enrollment_id) % 10_000) / 100


def dukcapil_mismatch_score(nik: str) -> float:
    """A fixed point in [0, 100) per NIK: a warned NIK's record disagrees with the stated data
    when below SIMULATOR_WARNING_MISMATCH_PERCENT."""
    return (_digest("dukcapil", nik) % 10_000) / 100


def coverage_end(start: date, months: int) -> date:
    """The last covered day of `months` calendar months from `start` (inclusive)."""
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day > last_day:  # no such day in the last month: cover it to its end
        return date(year, month, last_day)
    return date(year, month, start.day) - timedelta(days=1)


def answered_at(request: EnrollmentRequested, rules: Rules) -> datetime:
    requested = request.requested_at
    if requested.tzinfo is None:  # the contract's times are UTC
        requested = requested.replace(tzinfo=UTC)
    return requested.astimezone(UTC) + rules.processing_time


def _rejected(request: EnrollmentRequested, code: str, at: datetime) -> EnrollmentRejected:
    return EnrollmentRejected(
        enrollment_id=request.enrollment_id,
        worker_id=request.worker_id,
        reason_code=code,
        reason_message=REASON_MESSAGES.get(code, DEFAULT_REASON_MESSAGE),
        rejected_at=at,
    )


DEFAULT_RULES: Final = Rules()


def decide(request: EnrollmentRequested, rules: Rules = DEFAULT_RULES) -> Answer:
    """BPJS's answer to one enrollment request. Raises ValueError when the request is unusable."""
    end = coverage_end(request.coverage_start, request.months)
    at = answered_at(request, rules)
    nik = request.nik.strip()
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit() or nik[-4:] == rules.nik_not_found_serial:
        return _rejected(request, NIK_NOT_FOUND, at)
    if DUKCAPIL_DECIDES.intersection(request.nik_warnings) and (
        dukcapil_mismatch_score(nik) < rules.warning_mismatch_percent
    ):
        return _rejected(request, DATA_MISMATCH, at)
    membership: Membership = "new"
    if nik[-4:] == rules.active_member_serial:
        membership = "continued"
    elif nik[-4:] == rules.lapsed_member_serial:
        membership = "resumed"
    elif rejection_score(request.enrollment_id) < rules.reject_percent:
        return _rejected(request, rules.reject_reason_code, at)
    return EnrollmentConfirmed(
        enrollment_id=request.enrollment_id,
        worker_id=request.worker_id,
        kpj_number=kpj_number(request.enrollment_id, rules.kpj_digits)
        if membership == "new"
        else member_kpj_number(nik, rules.kpj_digits),
        coverage_start=request.coverage_start,
        coverage_end=end,
        confirmed_at=at,
        membership=membership,
    )


def _contribution(paid: ContributionPaid) -> str:
    return f"{paid.payment_id}:{paid.enrollment_id}:{paid.month.isoformat()}"


def contribution_answer_id(payment_id: str, enrollment_id: str, month: date) -> str:
    """The CloudEvents id of the confirmation of one paid month: the same on every redelivery
    and re-send. The enrollment is part of it: one payment pays many workers' same month."""
    return str(uuid.uuid5(NAMESPACE, f"bpjs-contribution:{payment_id}:{enrollment_id}:{month.isoformat()}"))


def contribution_loss_score(paid: ContributionPaid) -> float:
    """A fixed point in [0, 100) per paid month: its first sending is lost when below
    SIMULATOR_CONTRIBUTION_LOSE_PERCENT."""
    return (_digest("lose", _contribution(paid)) % 10_000) / 100


def confirm_contribution(
    paid: ContributionPaid, rules: Rules = DEFAULT_RULES
) -> ContributionConfirmed | None:
    """BPJS's answer to one paid month, or None when BPJS loses it (first sending only)."""
    if paid.attempt == 1 and contribution_loss_score(paid) < rules.contribution_lose_percent:
        return None
    at = paid.paid_at if paid.paid_at.tzinfo is not None else paid.paid_at.replace(tzinfo=UTC)
    return ContributionConfirmed(
        payment_id=paid.payment_id,
        enrollment_id=paid.enrollment_id,
        worker_id=paid.worker_id,
        kpj_number=paid.kpj_number,
        month=paid.month,
        amount_idr=paid.amount_idr,
        confirmed_at=at.astimezone(UTC) + rules.contribution_delay,
    )
