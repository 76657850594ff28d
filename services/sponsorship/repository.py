"""The sponsorship schema: the store the handlers use (`SponsorshipStore`, `PgSponsorshipStore`)
and the operators' reads (api.py).

A store lives for one consumer transaction (a batch's, or one message's) and keeps what the
handlers need until it commits: the kecamatan locks it holds, and the open commitments as this
transaction left them."""

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import asyncpg

from services.sponsorship.domain import ledger
from services.sponsorship.domain.commitments import Commitment
from services.sponsorship.domain.invoices import Invoice, MemberMonthLine, ScheduledReminder, invoice_line
from services.sponsorship.domain.ledger import LineState, MemberMonth
from services.sponsorship.domain.matching import (
    OpenCommitment,
    WaitlistPosition,
    WorkerToMatch,
    waitlist_position,
)
from services.sponsorship.domain.payments import Allocation, Payment, payment_id
from services.sponsorship.domain.tariffs import TariffTable, table_document, table_from_document
from shared.db import Conn
from shared.events.registry import WorkerFundedElsewhere, WorkerRegistered
from shared.events.sponsorship import Membership, Package
from shared.kecamatan import KECAMATAN

# funded_elsewhere: another payer funds the worker (registry.worker-funded-elsewhere): withdrawn
# from the waitlist, never matched.
WorkerStatus = Literal["waitlisted", "matched", "enrolled", "failed", "funded_elsewhere"]
# ended: its months ran out; lapsed: 3 consecutive months unpaid (domain/coverage.py).
EnrollmentStatus = Literal["requested", "confirmed", "rejected", "ended", "lapsed"]
# What a WorkerFundedElsewhere did: a waitlisted worker withdrawn; one with an enrollment (or a
# failed one) flagged for the office; one not announced yet remembered (withdrawn on arrival);
# a worker noticed before: nothing.
FundedElsewhereOutcome = Literal["withdrawn", "flagged", "remembered", "again"]


def covered_codes(whole_regency: bool, kecamatan_codes: Iterable[str]) -> list[str]:
    return sorted(KECAMATAN) if whole_regency else sorted(kecamatan_codes)


@dataclass(frozen=True)
class StoredCommitment:
    """A company's commitment as stored, with its use so far."""

    commitment_id: str
    seq: int  # lower = older
    company_id: str
    company_name: str
    kecamatan_codes: frozenset[str]
    whole_regency: bool
    slots: int
    months: int
    package: Package
    preferred_occupations: tuple[str, ...]
    email: str | None
    webhook_url: str | None
    budget_idr: int
    slots_used: int
    budget_used_idr: int
    suspended_on: date | None = None  # its company let a membership lapse: matches no one

    @property
    def covered_codes(self) -> list[str]:
        """The kecamatan it sponsors in (every one, for the whole regency), sorted."""
        return covered_codes(self.whole_regency, self.kecamatan_codes)

    @property
    def free_slots(self) -> int:
        return self.slots - self.slots_used

    def open(self) -> OpenCommitment:
        """What matching needs of it."""
        return OpenCommitment(
            commitment_id=self.commitment_id,
            kecamatan_codes=self.kecamatan_codes,
            whole_regency=self.whole_regency,
            slots=self.slots,
            slots_used=self.slots_used,
            budget_idr=self.budget_idr,
            budget_used_idr=self.budget_used_idr,
            preferred_occupations=self.preferred_occupations,
            created_seq=self.seq,
            package=self.package,
            months=self.months,
        )

    def reserved(self, cost_idr: int) -> "StoredCommitment":
        """As it stands after one more slot at `cost_idr` was taken."""
        return dataclasses.replace(
            self, slots_used=self.slots_used + 1, budget_used_idr=self.budget_used_idr + cost_idr
        )


@dataclass(frozen=True)
class WorkerToEnroll:
    """A worker as the registry announced them: what matching, the waitlist and BPJS need."""

    worker_id: uuid.UUID
    seq: int  # the order the announcement arrived here
    nik: str
    full_name: str
    birth_date: date
    sex: Literal["L", "P"]
    phone: str
    kecamatan_code: str
    kecamatan_name: str
    desa: str | None
    occupation: str
    declared_income_idr: int | None
    registered_at: datetime
    registration_seq: int | None
    status: WorkerStatus
    # The codes of the registry's warnings (WorkerRegistered.warnings), in its order.
    warnings: tuple[str, ...] = ()

    @property
    def position(self) -> WaitlistPosition:
        """Where the worker stands in the waitlist (domain.waitlist_position)."""
        return waitlist_position(self.registration_seq, self.registered_at, self.seq)

    def to_match(self) -> WorkerToMatch:
        return WorkerToMatch(
            str(self.worker_id), self.kecamatan_code, self.occupation, self.declared_income_idr
        )


@dataclass(frozen=True)
class Enrollment:
    """An enrollment requested of BPJS, and where its answer left it."""

    enrollment_id: uuid.UUID
    worker_id: uuid.UUID
    commitment_id: str
    status: EnrollmentStatus
    contribution_idr: int


@dataclass(frozen=True)
class ConfirmedEnrollment:
    """What the announcement of a confirmed enrollment needs (worker, commitment, company), and
    what its ledger lines are priced from (the commitment's months, the worker's occupation and
    declared income)."""

    package: Package
    contribution_idr: int  # the reservation: what the request was priced at
    full_name: str
    phone: str
    nik: str
    kecamatan_code: str
    kecamatan_name: str
    company_id: str
    company_name: str
    email: str | None
    webhook_url: str | None
    commitment_id: str
    months: int
    occupation: str
    declared_income_idr: int | None

    def sponsored(
        self, enrollment_id: uuid.UUID, worker_id: uuid.UUID, coverage_start: date
    ) -> ledger.SponsoredEnrollment:
        """What the ledger prices the confirmed enrollment's lines from."""
        return ledger.SponsoredEnrollment(
            enrollment_id=enrollment_id,
            worker_id=worker_id,
            commitment_id=self.commitment_id,
            company_id=self.company_id,
            package=self.package,
            coverage_start=coverage_start,
            months=self.months,
            declared_income_idr=self.declared_income_idr,
            occupation=self.occupation,
        )


@dataclass(frozen=True)
class SentContribution:
    """A paid member-month and what BPJS was told of it (table contribution_sent): what a
    ContributionPaid is made of, and what the reconciliation shows. `attempts` 0: never sent."""

    line: MemberMonth
    kpj_number: str | None
    payment_id: str | None = None
    attempts: int = 0
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None


@dataclass(frozen=True)
class LiveEnrollment:
    """A requested or confirmed enrollment with what its lifecycle's notices need: the worker,
    the commitment and its company, its period and which notices went out for which last day."""

    enrollment_id: uuid.UUID
    worker_id: uuid.UUID
    commitment_id: str
    status: EnrollmentStatus
    package: Package
    months: int
    coverage_start: date
    coverage_end: date | None
    kpj_number: str | None
    notice_30_for: date | None
    notice_7_for: date | None
    full_name: str
    phone: str
    occupation: str
    declared_income_idr: int | None
    company_id: str
    company_name: str
    email: str | None
    webhook_url: str | None
    whole_regency: bool
    kecamatan_codes: list[str]

    def told(self) -> dict[str, Any]:
        """Who a lifecycle event names (CoverageEnding, CoverageEnded): the worker, the enrollment,
        the commitment and where its company is told."""
        return {
            "worker_id": str(self.worker_id),
            "enrollment_id": str(self.enrollment_id),
            "full_name": self.full_name,
            "phone": self.phone,
            "kpj_number": self.kpj_number,
            "commitment_id": self.commitment_id,
            "company_id": self.company_id,
            "company_name": self.company_name,
            "company_email": self.email,
            "company_webhook_url": self.webhook_url,
        }

    def notices_sent(self) -> set[int]:
        """The notices already sent for the current last day (domain/coverage.NOTICE_DAYS)."""
        sent = set()
        if self.coverage_end is not None and self.notice_30_for == self.coverage_end:
            sent.add(30)
        if self.coverage_end is not None and self.notice_7_for == self.coverage_end:
            sent.add(7)
        return sent

    def sponsored(self) -> ledger.SponsoredEnrollment:
        return ledger.SponsoredEnrollment(
            enrollment_id=self.enrollment_id,
            worker_id=self.worker_id,
            commitment_id=self.commitment_id,
            company_id=self.company_id,
            package=self.package,
            coverage_start=self.coverage_start,
            months=self.months,
            declared_income_idr=self.declared_income_idr,
            occupation=self.occupation,
        )


_LIVE_SELECT = (
    "SELECT e.enrollment_id, e.worker_id, e.commitment_id, e.status, e.package, e.months, e.coverage_start,"
    " e.coverage_end, e.kpj_number, e.notice_30_for, e.notice_7_for, w.full_name, w.phone, w.occupation,"
    " w.declared_income_idr, c.company_id, c.company_name, c.email, c.webhook_url, c.whole_regency,"
    " c.kecamatan_codes FROM enrollment e JOIN worker w USING (worker_id) JOIN commitment c USING (commitment_id)"
)


def _live(row: asyncpg.Record) -> LiveEnrollment:
    return LiveEnrollment(**{**dict(row), "kecamatan_codes": list(row["kecamatan_codes"])})


class SponsorshipStore(Protocol):
    """What sponsorship's handlers do with their data, within one consumer transaction.

    Locks: a kecamatan's shared lock is held while a worker there is matched or waitlisted, its
    exclusive lock while slots open there (a new commitment, a released slot); kecamatan locks
    are always taken before a commitment's row lock. `open_commitments` is this transaction's view:
    read once, kept up to date by `reserve_slot`, read again after a lock is newly taken (slots may
    have opened while we waited for it), after a reservation failed (another instance took the
    slot), and after anything that opens slots (`add_commitment`, `release_slot`)."""

    async def tariff_table(self) -> TariffTable:
        """The tariff table in force, read once per transaction: every cost in it, one version."""
        ...

    async def lock_kecamatan_shared(self, kecamatan_code: str) -> None:
        """Taken once per transaction: a second call for the same kecamatan does nothing."""

    async def lock_kecamatan_exclusive(self, kecamatan_codes: Iterable[str]) -> None:
        """In code order, so two transactions never wait for each other's."""

    async def add_commitment(self, c: Commitment, budget_idr: int) -> bool:
        """False when this commitment id exists already: it stands as first received."""

    async def commitment(self, commitment_id: str) -> StoredCommitment | None:
        """Read now (not from this transaction's view)."""

    async def open_commitments(self) -> list[StoredCommitment]:
        """Commitments with a free slot, as this transaction left them (oldest first)."""

    async def reserve_slot(self, commitment_id: str, cost_idr: int) -> bool:
        """Take one slot and its cost, atomically; False when it is full or the budget left is
        short (another transaction took it)."""

    async def release_slot(self, commitment_id: str, cost_idr: int) -> None:
        """Give back one slot and its cost (an enrollment BPJS refused)."""

    async def add_worker(self, announced: WorkerRegistered) -> WorkerToEnroll | None:
        """The new worker, waitlisted (status funded_elsewhere, when a WorkerFundedElsewhere
        named them before); None when this worker was announced before."""

    async def note_funded_elsewhere(self, notice: WorkerFundedElsewhere) -> FundedElsewhereOutcome:
        """Record that another payer funds the worker (the first notice only) and withdraw them
        when waitlisted. Serialised with `add_worker` of the same worker, whichever comes first."""

    async def worker(self, worker_id: uuid.UUID) -> WorkerToEnroll:
        """LookupError when the worker is not known here."""

    async def set_worker_status(self, worker_id: uuid.UUID, status: WorkerStatus) -> None: ...

    async def waitlisted_covered_by(
        self, commitment: StoredCommitment, limit: int, after: WaitlistPosition | None = None
    ) -> list[WorkerToEnroll]:
        """Up to `limit` waitlisted workers the commitment covers, in waitlist order
        (domain.waitlist_position), after `after`; locked for this transaction."""

    async def add_enrollment(
        self,
        *,
        worker_id: uuid.UUID,
        commitment_id: str,
        package: Package,
        months: int,
        coverage_start: date,
        contribution_idr: int,
        follows: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Record the enrollment request and mark the worker matched, together. A worker holds at
        most one live (requested or confirmed) enrollment: a second one fails."""

    # --- renewals and suspension (migration 0010) ---

    async def lock_commitment(self, commitment_id: str) -> StoredCommitment | None:
        """The commitment, its row locked for this transaction."""
        ...

    async def extension_known(self, commitment_id: str, reference: str) -> bool: ...

    async def extend_commitment(
        self, commitment_id: str, reference: str, months_added: int, budget_added_idr: int, at: datetime
    ) -> None:
        """Add the months and budget, and record the renewal (once per reference)."""
        ...

    async def live_enrollments_of(self, commitment_id: str) -> list[LiveEnrollment]:
        """Its requested and confirmed enrollments, locked, oldest first."""
        ...

    async def extend_enrollment(
        self, enrollment_id: uuid.UUID, months: int, coverage_end: date | None
    ) -> None: ...

    async def resume_paid_up(self, company_id: str) -> list[str]:
        """Lift the suspension of the company's commitments with no missed line left unpaid;
        returns their ids."""
        ...

    async def lock_enrollment(self, enrollment_id: uuid.UUID) -> Enrollment | None: ...

    async def confirm_enrollment(
        self,
        enrollment_id: uuid.UUID,
        worker_id: uuid.UUID,
        kpj_number: str,
        coverage_start: date,
        coverage_end: date,
        decided_at: datetime,
        membership: Membership = "new",
    ) -> ConfirmedEnrollment | None:
        """Confirm a requested enrollment (with what BPJS did: a new, continued or resumed
        membership) and mark its worker enrolled, together; None when no requested enrollment of
        this worker has this id."""

    async def reject_enrollment(
        self, enrollment_id: uuid.UUID, reason_code: str, reason_message: str, decided_at: datetime
    ) -> None: ...

    # --- the member-month ledger (migration 0006) ---

    async def add_member_months(self, lines: Sequence[MemberMonth], reserved_idr: int) -> int:
        """Write a confirmed enrollment's lines and hand its reservation over to them: the
        commitment's budget_used_idr moves by (the lines' total - `reserved_idr`). Lines there
        already are left as they are, and then nothing moves (a redelivered confirmation).
        Returns how many lines were written."""

    async def member_months(self, enrollment_id: uuid.UUID) -> list[MemberMonth]:
        """An enrollment's lines, by month."""

    async def lines_of_month(
        self,
        month: date,
        *,
        company_id: str | None = None,
        commitment_id: str | None = None,
        state: LineState = "expected",
    ) -> list[MemberMonth]:
        """The lines of a calendar month (any day of it names it) in `state`, of one company or
        one commitment (or every one), locked for this transaction: what an invoice is made of.
        In (commitment, worker) order."""

    async def mark_invoiced(
        self, enrollment_id: uuid.UUID, month: date, invoice_id: str, at: datetime
    ) -> MemberMonth:
        """The line moved by ledger.invoiced (LedgerTransitionError when refused, LookupError
        when there is no such line); the same again changes nothing. So do the other marks."""

    async def mark_paid(self, enrollment_id: uuid.UUID, month: date, at: datetime) -> MemberMonth: ...

    async def mark_confirmed(self, enrollment_id: uuid.UUID, month: date, at: datetime) -> MemberMonth: ...

    async def mark_missed(
        self, enrollment_id: uuid.UUID, month: date, at: datetime, due_date: date
    ) -> MemberMonth: ...

    # --- payments (migration 0008) ---

    async def lock_company_credit(self, company_id: str) -> int:
        """The company's credit, its row locked for this transaction: one company's payments are
        allocated one after another, whichever instance takes them."""

    async def payment_known(self, company_id: str, reference: str) -> bool:
        """Whether the company's payment `reference` was recorded before."""

    async def invoice_due_dates(self, company_id: str) -> dict[str, date]:
        """The due date of each of the company's invoices, by invoice id."""
        ...

    async def open_lines(self, company_id: str) -> list[MemberMonth]:
        """The company's invoiced and missed lines, locked for this transaction, by month."""

    async def record_payment(self, payment: Payment, allocation: Allocation, recorded_at: datetime) -> None:
        """The payment, the lines it paid (marked paid by the caller) and the credit it leaves."""

    # --- contributions told to BPJS (migration 0009) ---

    async def note_contribution_sent(
        self, enrollment_id: uuid.UUID, month: date, payment_id: str | None, at: datetime
    ) -> SentContribution:
        """The month goes to BPJS now: the first time with the payment's id (attempts 1), every
        later time counts up and keeps the first payment id (a re-send; `payment_id` may then be
        None). LookupError when there is no such line, or a first sending has no payment id."""

    async def unconfirmed_paid(self, paid_before: datetime, limit: int = 1000) -> list[SentContribution]:
        """Paid lines BPJS has not confirmed, paid before `paid_before`, oldest payment first,
        with what was sent of them (a paid line never sent is there too, attempts 0)."""

    async def contributions_to_resend(
        self, sent_before: datetime, limit: int = 1000
    ) -> list[SentContribution]:
        """Paid lines BPJS has not confirmed whose last sending was at or before `sent_before`,
        oldest payment first (a line never sent is not among them: it has no payment to repeat)."""


_LINE_COLUMNS = (
    "enrollment_id, worker_id, commitment_id, company_id, month, contribution_idr, discount, state,"
    " invoice_id, invoiced_at, paid_at, confirmed_at, missed_at"
)


def _line(row: asyncpg.Record) -> MemberMonth:
    return MemberMonth(**dict(row))


def _commitment(row: asyncpg.Record) -> StoredCommitment:
    return StoredCommitment(
        commitment_id=row["commitment_id"],
        seq=row["seq"],
        company_id=row["company_id"],
        company_name=row["company_name"],
        kecamatan_codes=frozenset(row["kecamatan_codes"]),
        whole_regency=row["whole_regency"],
        slots=row["slots"],
        months=row["months"],
        package=row["package"],
        preferred_occupations=tuple(row["preferred_occupations"]),
        email=row["email"],
        webhook_url=row["webhook_url"],
        budget_idr=row["budget_idr"],
        slots_used=row["slots_used"],
        budget_used_idr=row["budget_used_idr"],
        suspended_on=row["suspended_on"],
    )


def _worker(row: asyncpg.Record) -> WorkerToEnroll:
    return WorkerToEnroll(
        worker_id=row["worker_id"],
        seq=row["seq"],
        nik=row["nik"],
        full_name=row["full_name"],
        birth_date=row["birth_date"],
        sex=row["sex"],
        phone=row["phone"],
        kecamatan_code=row["kecamatan_code"],
        kecamatan_name=row["kecamatan_name"],
        desa=row["desa"],
        occupation=row["occupation"],
        declared_income_idr=row["declared_income_idr"],
        registered_at=row["registered_at"],
        registration_seq=row["registration_seq"],
        status=row["status"],
        warnings=tuple(row["warnings"]),
    )


def warning_codes(announced: WorkerRegistered) -> list[str]:
    """The codes of the registry's warnings on a worker, each once, in its order."""
    return list(dict.fromkeys(w.code for w in announced.warnings))


class PgSponsorshipStore:
    """`SponsorshipStore` on the sponsorship schema, over the consumer transaction's connection."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._shared_locks: set[str] = set()
        self._open: dict[str, StoredCommitment] | None = None  # None: read them again
        self._tariffs: TariffTable | None = None

    async def tariff_table(self) -> TariffTable:
        if self._tariffs is None:
            self._tariffs = (await current_tariff_table(self.conn)).table
        return self._tariffs

    async def lock_kecamatan_shared(self, kecamatan_code: str) -> None:
        if kecamatan_code in self._shared_locks:
            return
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock_shared(hashtext('sponsorship:kecamatan:' || $1))", kecamatan_code
        )
        self._shared_locks.add(kecamatan_code)
        self._open = None

    async def lock_kecamatan_exclusive(self, kecamatan_codes: Iterable[str]) -> None:
        """Without it a worker waitlisted in one transaction and a commitment arriving in another
        could miss each other: each commits without seeing the other, and the worker stays
        waitlisted."""
        for code in sorted(set(kecamatan_codes)):
            await self.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('sponsorship:kecamatan:' || $1))", code
            )
        self._open = None

    async def add_commitment(self, c: Commitment, budget_idr: int) -> bool:
        seq: int | None = await self.conn.fetchval(
            "INSERT INTO commitment (commitment_id, company_id, company_name, kecamatan_codes, whole_regency,"
            " slots, months, package, preferred_occupations, email, webhook_url, budget_idr)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (commitment_id) DO NOTHING RETURNING seq",
            c.commitment_id,
            c.company_id,
            c.company_name,
            sorted(c.kecamatan_codes),
            c.whole_regency,
            c.slots,
            c.months,
            c.package,
            list(c.preferred_occupations),
            c.email,
            c.webhook_url,
            budget_idr,
        )
        if seq is None:
            return False
        self._open = None
        return True

    async def commitment(self, commitment_id: str) -> StoredCommitment | None:
        row = await self.conn.fetchrow("SELECT * FROM commitment WHERE commitment_id = $1", commitment_id)
        return None if row is None else _commitment(row)

    async def open_commitments(self) -> list[StoredCommitment]:
        if self._open is None:
            # There are tens, not thousands: read them all at once.
            rows = await self.conn.fetch(
                "SELECT * FROM commitment WHERE slots_used < slots AND suspended_on IS NULL ORDER BY seq"
            )
            self._open = {r["commitment_id"]: _commitment(r) for r in rows}
        return [c for c in self._open.values() if c.free_slots > 0]

    async def reserve_slot(self, commitment_id: str, cost_idr: int) -> bool:
        taken = await self.conn.fetchval(
            "UPDATE commitment SET slots_used = slots_used + 1, budget_used_idr = budget_used_idr + $2"
            " WHERE commitment_id = $1 AND slots_used < slots AND budget_used_idr + $2 <= budget_idr"
            " RETURNING 1",
            commitment_id,
            cost_idr,
        )
        self._after_reservation(commitment_id, cost_idr, taken is not None)
        return taken is not None

    def _after_reservation(self, commitment_id: str, cost_idr: int, taken: bool) -> None:
        """The view shows the slot taken; it is read again when the reservation failed (another
        transaction took the slot) or the view does not hold the commitment."""
        if self._open is None:
            return
        if taken and commitment_id in self._open:
            self._open[commitment_id] = self._open[commitment_id].reserved(cost_idr)
        else:
            self._open = None

    async def release_slot(self, commitment_id: str, cost_idr: int) -> None:
        await self.conn.execute(
            "UPDATE commitment SET slots_used = slots_used - 1, budget_used_idr = budget_used_idr - $2"
            " WHERE commitment_id = $1",
            commitment_id,
            cost_idr,
        )
        self._open = None

    async def _lock_worker(self, worker_id: uuid.UUID) -> None:
        """One worker's announcement and funded-elsewhere notice take turns: without it each could
        commit without seeing the other (two topics, no order), and the worker stay waitlisted."""
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('sponsorship:worker'), hashtext($1::uuid::text))",
            worker_id,
        )

    async def add_worker(self, announced: WorkerRegistered) -> WorkerToEnroll | None:
        w = announced
        await self._lock_worker(uuid.UUID(w.worker_id))
        row = await self.conn.fetchrow(
            "INSERT INTO worker (worker_id, nik, full_name, birth_date, sex, phone, kecamatan_code,"
            " kecamatan_name, desa, occupation, declared_income_idr, registered_at, registration_seq, warnings,"
            " status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
            " CASE WHEN EXISTS (SELECT 1 FROM funded_elsewhere WHERE worker_id = $1)"
            " THEN 'funded_elsewhere' ELSE 'waitlisted' END)"
            " ON CONFLICT (worker_id) DO NOTHING RETURNING *",
            uuid.UUID(w.worker_id),
            w.nik,
            w.full_name,
            w.birth_date,
            w.sex,
            w.phone,
            w.kecamatan_code,
            w.kecamatan_name,
            w.desa,
            w.occupation,
            w.declared_income_idr,
            w.registered_at,
            w.registration_seq,
            warning_codes(w),
        )
        return None if row is None else _worker(row)

    async def note_funded_elsewhere(self, notice: WorkerFundedElsewhere) -> FundedElsewhereOutcome:
        worker_id = uuid.UUID(notice.worker_id)
        await self._lock_worker(worker_id)
        # The worker's row lock (FOR UPDATE): a commitment draining the waitlist meanwhile either
        # took them first (then they are matched, and flagged) or skips them (withdrawn).
        status: str | None = await self.conn.fetchval(
            "SELECT status FROM worker WHERE worker_id = $1 FOR UPDATE", worker_id
        )
        noted = await self.conn.fetchval(
            "INSERT INTO funded_elsewhere (worker_id, funder, source_code, description, import_id, noticed_at,"
            " status_then) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (worker_id) DO NOTHING RETURNING 1",
            worker_id,
            notice.funder,
            notice.source_code,
            notice.description,
            uuid.UUID(notice.import_id),
            notice.noticed_at,
            status,
        )
        if noted is None:
            return "again"
        if status is None:
            return "remembered"
        if status == "waitlisted":
            await self.set_worker_status(worker_id, "funded_elsewhere")
            return "withdrawn"
        return "flagged"

    async def worker(self, worker_id: uuid.UUID) -> WorkerToEnroll:
        row = await self.conn.fetchrow("SELECT * FROM worker WHERE worker_id = $1", worker_id)
        if row is None:
            raise LookupError(f"worker {worker_id} is not known here")
        return _worker(row)

    async def set_worker_status(self, worker_id: uuid.UUID, status: WorkerStatus) -> None:
        await self.conn.execute(
            "UPDATE worker SET status = $2, status_changed_at = now() WHERE worker_id = $1", worker_id, status
        )

    async def waitlisted_covered_by(
        self, commitment: StoredCommitment, limit: int, after: WaitlistPosition | None = None
    ) -> list[WorkerToEnroll]:
        """In the order of domain.waitlist_position, which the index `worker_waitlist` keeps."""
        after_rank, after_at, after_seq = after if after else (-1, datetime.min.replace(tzinfo=UTC), 0)
        rows = await self.conn.fetch(
            "SELECT * FROM worker WHERE status = 'waitlisted' AND ($1 OR kecamatan_code = ANY ($2::text[]))"
            " AND (coalesce(registration_seq, 0), registered_at, seq) > ($4, $5, $6)"
            # A commitment whose months a worker had (ended or lapsed) does not take them again.
            " AND NOT EXISTS (SELECT 1 FROM enrollment e WHERE e.worker_id = worker.worker_id"
            " AND e.commitment_id = $7 AND e.status IN ('ended', 'lapsed'))"
            " ORDER BY coalesce(registration_seq, 0), registered_at, seq LIMIT $3 FOR UPDATE",
            commitment.whole_regency,
            sorted(commitment.kecamatan_codes),
            limit,
            after_rank,
            after_at,
            after_seq,
            commitment.commitment_id,
        )
        return [_worker(r) for r in rows]

    async def add_enrollment(
        self,
        *,
        worker_id: uuid.UUID,
        commitment_id: str,
        package: Package,
        months: int,
        coverage_start: date,
        contribution_idr: int,
        follows: uuid.UUID | None = None,
    ) -> uuid.UUID:
        enrollment_id = uuid.uuid4()
        await self.conn.execute(
            "WITH requested AS (INSERT INTO enrollment (enrollment_id, worker_id, commitment_id, package,"
            " months, coverage_start, contribution_idr, status, follows)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8))"
            " UPDATE worker SET status = 'matched', status_changed_at = now() WHERE worker_id = $2",
            enrollment_id,
            worker_id,
            commitment_id,
            package,
            months,
            coverage_start,
            contribution_idr,
            follows,
        )
        return enrollment_id

    async def lock_commitment(self, commitment_id: str) -> StoredCommitment | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM commitment WHERE commitment_id = $1 FOR UPDATE", commitment_id
        )
        return None if row is None else _commitment(row)

    async def extension_known(self, commitment_id: str, reference: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM commitment_extension WHERE commitment_id = $1 AND reference = $2)",
                commitment_id,
                reference,
            )
        )

    async def extend_commitment(
        self, commitment_id: str, reference: str, months_added: int, budget_added_idr: int, at: datetime
    ) -> None:
        await self.conn.execute(
            "WITH applied AS (INSERT INTO commitment_extension (commitment_id, reference, months, budget_idr,"
            " workers, applied_at) SELECT $1, $2, $3, $4, count(*), $5 FROM enrollment"
            " WHERE commitment_id = $1 AND status IN ('requested', 'confirmed'))"
            " UPDATE commitment SET months = months + $3, budget_idr = budget_idr + $4 WHERE commitment_id = $1",
            commitment_id,
            reference,
            months_added,
            budget_added_idr,
            at,
        )
        self._open = None

    async def live_enrollments_of(self, commitment_id: str) -> list[LiveEnrollment]:
        rows = await self.conn.fetch(
            _LIVE_SELECT + " WHERE e.commitment_id = $1 AND e.status IN ('requested', 'confirmed')"
            " ORDER BY e.requested_at, e.enrollment_id FOR UPDATE OF e",
            commitment_id,
        )
        return [_live(r) for r in rows]

    async def extend_enrollment(
        self, enrollment_id: uuid.UUID, months: int, coverage_end: date | None
    ) -> None:
        await self.conn.execute(
            "UPDATE enrollment SET months = $2, coverage_end = coalesce($3, coverage_end) WHERE enrollment_id = $1",
            enrollment_id,
            months,
            coverage_end,
        )

    async def resume_paid_up(self, company_id: str) -> list[str]:
        rows = await self.conn.fetch(
            "UPDATE commitment c SET suspended_on = NULL WHERE c.company_id = $1 AND c.suspended_on IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM member_month m WHERE m.commitment_id = c.commitment_id"
            " AND m.state = 'missed') RETURNING c.commitment_id",
            company_id,
        )
        if rows:
            self._open = None
        return sorted(r["commitment_id"] for r in rows)

    async def lock_enrollment(self, enrollment_id: uuid.UUID) -> Enrollment | None:
        row = await self.conn.fetchrow(
            "SELECT enrollment_id, worker_id, commitment_id, status, contribution_idr FROM enrollment"
            " WHERE enrollment_id = $1 FOR UPDATE",
            enrollment_id,
        )
        return None if row is None else Enrollment(**dict(row))

    async def confirm_enrollment(
        self,
        enrollment_id: uuid.UUID,
        worker_id: uuid.UUID,
        kpj_number: str,
        coverage_start: date,
        coverage_end: date,
        decided_at: datetime,
        membership: Membership = "new",
    ) -> ConfirmedEnrollment | None:
        row = await self.conn.fetchrow(
            "WITH confirmed AS (UPDATE enrollment SET status = 'confirmed', kpj_number = $3,"
            " coverage_start = $4, coverage_end = $5, decided_at = $6, membership = $7"
            " WHERE enrollment_id = $1 AND worker_id = $2 AND status = 'requested' RETURNING *),"
            " enrolled AS (UPDATE worker w SET status = 'enrolled', status_changed_at = now() FROM confirmed e"
            " WHERE w.worker_id = e.worker_id RETURNING w.*)"
            " SELECT e.package, e.contribution_idr, w.full_name, w.phone, w.nik, w.kecamatan_code, w.kecamatan_name,"
            " c.company_id,"
            " c.company_name, c.email, c.webhook_url, e.commitment_id, e.months, w.occupation,"
            " w.declared_income_idr FROM confirmed e JOIN enrolled w USING (worker_id)"
            " JOIN commitment c USING (commitment_id)",
            enrollment_id,
            worker_id,
            kpj_number,
            coverage_start,
            coverage_end,
            decided_at,
            membership,
        )
        return None if row is None else ConfirmedEnrollment(**dict(row))

    async def reject_enrollment(
        self, enrollment_id: uuid.UUID, reason_code: str, reason_message: str, decided_at: datetime
    ) -> None:
        await self.conn.execute(
            "UPDATE enrollment SET status = 'rejected', reason_code = $2, reason_message = $3, decided_at = $4"
            " WHERE enrollment_id = $1",
            enrollment_id,
            reason_code,
            reason_message,
            decided_at,
        )

    async def add_member_months(self, lines: Sequence[MemberMonth], reserved_idr: int) -> int:
        if not lines:
            return 0
        first = lines[0]
        if any(
            (x.enrollment_id, x.worker_id, x.commitment_id, x.company_id)
            != (first.enrollment_id, first.worker_id, first.commitment_id, first.company_id)
            for x in lines
        ):
            raise ValueError("the lines of one enrollment are written together")
        written: int = await self.conn.fetchval(
            "WITH written AS (INSERT INTO member_month (enrollment_id, worker_id, commitment_id, company_id,"
            " month, contribution_idr, discount)"
            " SELECT $1, $2, $3, $4, m, c, d FROM unnest($5::date[], $6::bigint[], $7::text[]) AS l (m, c, d)"
            " ON CONFLICT (enrollment_id, month) DO NOTHING RETURNING 1)"
            " SELECT count(*) FROM written",
            first.enrollment_id,
            first.worker_id,
            first.commitment_id,
            first.company_id,
            [x.month for x in lines],
            [x.contribution_idr for x in lines],
            [x.discount for x in lines],
        )
        difference = sum(x.contribution_idr for x in lines) - reserved_idr
        if written and difference:
            # Only when the tariff table changed between request and confirmation: the commitment's
            # row is not locked by every confirmation (matching locks it after the kecamatan locks;
            # a batch of confirmations locking commitments in its own order would wait on them).
            await self.conn.execute(
                "UPDATE commitment SET budget_used_idr = budget_used_idr + $2 WHERE commitment_id = $1",
                first.commitment_id,
                difference,
            )
            self._open = None
        return written

    async def member_months(self, enrollment_id: uuid.UUID) -> list[MemberMonth]:
        rows = await self.conn.fetch(
            f"SELECT {_LINE_COLUMNS} FROM member_month WHERE enrollment_id = $1 ORDER BY month", enrollment_id
        )
        return [_line(r) for r in rows]

    async def lines_of_month(
        self,
        month: date,
        *,
        company_id: str | None = None,
        commitment_id: str | None = None,
        state: LineState = "expected",
    ) -> list[MemberMonth]:
        rows = await self.conn.fetch(
            f"SELECT {_LINE_COLUMNS} FROM member_month WHERE month = $1 AND state = $2"
            " AND ($3::text IS NULL OR company_id = $3) AND ($4::text IS NULL OR commitment_id = $4)"
            " ORDER BY commitment_id, worker_id, enrollment_id FOR UPDATE",
            ledger.month_start(month),
            state,
            company_id,
            commitment_id,
        )
        return [_line(r) for r in rows]

    async def _move(
        self, enrollment_id: uuid.UUID, month: date, change: Callable[[MemberMonth], MemberMonth]
    ) -> MemberMonth:
        row = await self.conn.fetchrow(
            f"SELECT {_LINE_COLUMNS} FROM member_month WHERE enrollment_id = $1 AND month = $2 FOR UPDATE",
            enrollment_id,
            ledger.month_start(month),
        )
        if row is None:
            raise LookupError(f"no {month:%Y-%m} line of enrollment {enrollment_id}")
        line = _line(row)
        moved = change(line)
        if moved != line:
            await self.conn.execute(
                "UPDATE member_month SET state = $3, invoice_id = $4, invoiced_at = $5, paid_at = $6,"
                " confirmed_at = $7, missed_at = $8 WHERE enrollment_id = $1 AND month = $2",
                moved.enrollment_id,
                moved.month,
                moved.state,
                moved.invoice_id,
                moved.invoiced_at,
                moved.paid_at,
                moved.confirmed_at,
                moved.missed_at,
            )
        return moved

    async def mark_invoiced(
        self, enrollment_id: uuid.UUID, month: date, invoice_id: str, at: datetime
    ) -> MemberMonth:
        return await self._move(enrollment_id, month, lambda line: ledger.invoiced(line, invoice_id, at))

    async def mark_paid(self, enrollment_id: uuid.UUID, month: date, at: datetime) -> MemberMonth:
        return await self._move(enrollment_id, month, lambda line: ledger.paid(line, at))

    async def mark_confirmed(self, enrollment_id: uuid.UUID, month: date, at: datetime) -> MemberMonth:
        return await self._move(enrollment_id, month, lambda line: ledger.confirmed(line, at))

    async def mark_missed(
        self, enrollment_id: uuid.UUID, month: date, at: datetime, due_date: date
    ) -> MemberMonth:
        return await self._move(enrollment_id, month, lambda line: ledger.missed(line, at, due_date))

    async def lock_company_credit(self, company_id: str) -> int:
        await self.conn.execute(
            "INSERT INTO company_credit (company_id) VALUES ($1) ON CONFLICT DO NOTHING", company_id
        )
        credit: int = await self.conn.fetchval(
            "SELECT credit_idr FROM company_credit WHERE company_id = $1 FOR UPDATE", company_id
        )
        return credit

    async def payment_known(self, company_id: str, reference: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM payment WHERE company_id = $1 AND reference = $2)",
                company_id,
                reference,
            )
        )

    async def invoice_due_dates(self, company_id: str) -> dict[str, date]:
        rows = await self.conn.fetch(
            "SELECT invoice_id, due_date FROM invoice WHERE company_id = $1", company_id
        )
        return {r["invoice_id"]: r["due_date"] for r in rows}

    async def open_lines(self, company_id: str) -> list[MemberMonth]:
        rows = await self.conn.fetch(
            f"SELECT {_LINE_COLUMNS} FROM member_month WHERE company_id = $1"
            " AND state IN ('invoiced', 'missed') ORDER BY month, enrollment_id FOR UPDATE",
            company_id,
        )
        return [_line(r) for r in rows]

    async def record_payment(self, payment: Payment, allocation: Allocation, recorded_at: datetime) -> None:
        paid_id = uuid.UUID(payment_id(payment.company_id, payment.reference))
        await self.conn.execute(
            "INSERT INTO payment (payment_id, company_id, reference, amount_idr, paid_on, credit_idr,"
            " recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            paid_id,
            payment.company_id,
            payment.reference,
            payment.amount_idr,
            payment.paid_on,
            allocation.credit_idr,
            recorded_at,
        )
        await self.conn.executemany(
            "INSERT INTO payment_line (payment_id, enrollment_id, month, amount_idr, on_time)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (
                    paid_id,
                    uuid.UUID(p.line.enrollment_id),
                    p.line.month.first_day,
                    p.line.amount_idr,
                    p.on_time,
                )
                for p in allocation.paid
            ],
        )
        await self.conn.execute(
            "UPDATE company_credit SET credit_idr = $2, updated_at = $3 WHERE company_id = $1",
            payment.company_id,
            allocation.credit_idr,
            recorded_at,
        )

    async def note_contribution_sent(
        self, enrollment_id: uuid.UUID, month: date, payment_id: str | None, at: datetime
    ) -> SentContribution:
        month = ledger.month_start(month)
        # The line locked first: a month that is not a line here is a LookupError, not a
        # foreign-key violation that would abort the caller's transaction.
        if not await self.conn.fetchval(
            "SELECT true FROM member_month WHERE enrollment_id = $1 AND month = $2 FOR UPDATE",
            enrollment_id,
            month,
        ):
            raise LookupError(f"no {month:%Y-%m} line of enrollment {enrollment_id}")
        if payment_id is None:
            sent = await self.conn.fetchrow(
                "UPDATE contribution_sent SET attempts = attempts + 1, last_sent_at = $3"
                " WHERE enrollment_id = $1 AND month = $2 RETURNING payment_id",
                enrollment_id,
                month,
                at,
            )
            if sent is None:
                raise LookupError(f"the {month:%Y-%m} line of enrollment {enrollment_id} was never sent")
        else:
            await self.conn.execute(
                "INSERT INTO contribution_sent (enrollment_id, month, payment_id, first_sent_at, last_sent_at)"
                " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (enrollment_id, month) DO UPDATE"
                " SET attempts = contribution_sent.attempts + 1, last_sent_at = excluded.last_sent_at",
                enrollment_id,
                month,
                payment_id,
                at,
            )
        found = await self._sent("m.enrollment_id = $1 AND m.month = $2", enrollment_id, month, limit=1)
        if not found:
            raise LookupError(f"no {month:%Y-%m} line of enrollment {enrollment_id}")
        return found[0]

    async def unconfirmed_paid(self, paid_before: datetime, limit: int = 1000) -> list[SentContribution]:
        return await self._sent("m.state = 'paid' AND m.paid_at < $1", paid_before, limit=limit)

    async def contributions_to_resend(
        self, sent_before: datetime, limit: int = 1000
    ) -> list[SentContribution]:
        # Locked, so a confirmation arriving meanwhile waits for the re-send's commit (or the line
        # is skipped while a confirmation holds it, and PostgreSQL rechecks `state` once locked):
        # a month confirmed since it was read is never re-sent.
        return await self._sent(
            "m.state = 'paid' AND s.last_sent_at <= $1", sent_before, limit=limit, lock=True
        )

    async def _sent(self, where: str, *args: Any, limit: int, lock: bool = False) -> list[SentContribution]:
        rows = await self.conn.fetch(
            f"SELECT {', '.join('m.' + c.strip() for c in _LINE_COLUMNS.split(','))}, e.kpj_number,"
            " s.payment_id, coalesce(s.attempts, 0) AS attempts, s.first_sent_at, s.last_sent_at"
            " FROM member_month m JOIN enrollment e USING (enrollment_id)"
            " LEFT JOIN contribution_sent s USING (enrollment_id, month)"
            f" WHERE {where} ORDER BY m.paid_at, m.enrollment_id, m.month LIMIT {int(limit)}"
            + (" FOR UPDATE OF m SKIP LOCKED" if lock else ""),
            *args,
        )
        return [_sent_contribution(r) for r in rows]


def _sent_contribution(row: asyncpg.Record) -> SentContribution:
    found = dict(row)
    sent = {
        k: found.pop(k) for k in ("kpj_number", "payment_id", "attempts", "first_sent_at", "last_sent_at")
    }
    return SentContribution(MemberMonth(**found), **sent)


# --- reads for operators (api.py) ----------------------------------------------------------------


async def worker_with_enrollment(
    conn: Conn, worker_id: uuid.UUID
) -> tuple[asyncpg.Record | None, asyncpg.Record | None]:
    worker = await conn.fetchrow("SELECT * FROM worker WHERE worker_id = $1", worker_id)
    enrollment = await conn.fetchrow(
        "SELECT e.*, c.company_id, c.company_name FROM enrollment e JOIN commitment c USING (commitment_id)"
        " WHERE e.worker_id = $1 ORDER BY e.requested_at DESC LIMIT 1",
        worker_id,
    )
    return worker, enrollment


async def commitments_with_use(conn: Conn, company_id: str | None = None) -> list[asyncpg.Record]:
    """Every commitment with its use, or only those of `company_id`."""
    return await conn.fetch(
        "SELECT c.*, count(e.*) FILTER (WHERE e.status = 'confirmed') AS enrolled,"
        " count(e.*) FILTER (WHERE e.status = 'requested') AS requested"
        " FROM commitment c LEFT JOIN enrollment e USING (commitment_id)"
        " WHERE $1::text IS NULL OR c.company_id = $1 GROUP BY c.commitment_id ORDER BY c.seq",
        company_id,
    )


async def enrollments_of(conn: Conn, commitment_id: str, limit: int, offset: int) -> list[asyncpg.Record]:
    """One commitment's enrollments, oldest request first (a page of them)."""
    return await conn.fetch(
        "SELECT e.*, w.kecamatan_name, w.occupation, w.nik, w.full_name, w.phone"
        " FROM enrollment e JOIN worker w USING (worker_id)"
        " WHERE e.commitment_id = $1 ORDER BY e.requested_at, e.enrollment_id LIMIT $2 OFFSET $3",
        commitment_id,
        limit,
        offset,
    )


async def months_of_worker(conn: Conn, worker_id: uuid.UUID) -> list[asyncpg.Record]:
    """A worker's ledger lines, every enrollment's, by month: the proof of each paid month."""
    return await conn.fetch(
        f"SELECT {', '.join('m.' + c.strip() for c in _LINE_COLUMNS.split(','))}, c.company_name,"
        " e.kpj_number FROM member_month m JOIN commitment c USING (commitment_id)"
        " JOIN enrollment e USING (enrollment_id) WHERE m.worker_id = $1 ORDER BY m.month, m.enrollment_id",
        worker_id,
    )


async def ledger_by_commitment(conn: Conn, this_month: date) -> list[asyncpg.Record]:
    """Per commitment: its budget and use, what its requested enrollments reserve, its lines'
    sums by state, and the months from `this_month` on that still have lines (months left)."""
    return await conn.fetch(
        "SELECT c.commitment_id, c.company_id, c.company_name, c.budget_idr, c.budget_used_idr,"
        " (SELECT coalesce(sum(e.contribution_idr), 0)::bigint FROM enrollment e"
        "   WHERE e.commitment_id = c.commitment_id AND e.status = 'requested') AS reserved_idr,"
        " coalesce(sum(m.contribution_idr) FILTER (WHERE m.state = 'expected'), 0)::bigint AS expected_idr,"
        " coalesce(sum(m.contribution_idr) FILTER (WHERE m.state = 'invoiced'), 0)::bigint AS invoiced_idr,"
        " coalesce(sum(m.contribution_idr) FILTER (WHERE m.state = 'paid'), 0)::bigint AS paid_idr,"
        " coalesce(sum(m.contribution_idr) FILTER (WHERE m.state = 'confirmed'), 0)::bigint AS confirmed_idr,"
        " coalesce(sum(m.contribution_idr) FILTER (WHERE m.state = 'missed'), 0)::bigint AS missed_idr,"
        " count(DISTINCT m.month) FILTER (WHERE m.month >= $1) AS months_left,"
        " max(m.month) AS last_month"
        " FROM commitment c LEFT JOIN member_month m USING (commitment_id)"
        " GROUP BY c.commitment_id ORDER BY c.seq",
        ledger.month_start(this_month),
    )


async def payments_of(conn: Conn, company_id: str) -> list[asyncpg.Record]:
    """A company's payments, newest first."""
    return await conn.fetch(
        "SELECT * FROM payment WHERE company_id = $1 ORDER BY recorded_at DESC, reference", company_id
    )


async def paid_lines_of(conn: Conn, company_id: str) -> list[asyncpg.Record]:
    """The lines a company's payments paid: which payment paid each worker's month (the proof)."""
    return await conn.fetch(
        "SELECT p.reference, l.enrollment_id, l.month, l.amount_idr, l.on_time, m.state, m.worker_id,"
        " m.paid_at, m.confirmed_at, e.kpj_number FROM payment_line l JOIN payment p USING (payment_id)"
        " JOIN member_month m USING (enrollment_id, month) JOIN enrollment e USING (enrollment_id)"
        " WHERE p.company_id = $1 ORDER BY l.month, l.enrollment_id",
        company_id,
    )


async def credit_of(conn: Conn, company_id: str) -> int:
    credit = await conn.fetchval("SELECT credit_idr FROM company_credit WHERE company_id = $1", company_id)
    return int(credit or 0)


async def enrolled_by_membership(conn: Conn) -> dict[str, int]:
    """Confirmed enrollments: new memberships, and existing members' continued or resumed."""
    rows = await conn.fetch(
        "SELECT membership, count(*) AS n FROM enrollment WHERE status = 'confirmed' GROUP BY 1"
    )
    found = {"new": 0, "continued": 0, "resumed": 0}
    found.update({r["membership"]: r["n"] for r in rows})
    return found


async def workers_by(conn: Conn, column: str) -> list[asyncpg.Record]:
    assert column in ("kecamatan_name", "occupation")
    return await conn.fetch(f"SELECT {column} AS k, status, count(*) AS n FROM worker GROUP BY 1, 2")


async def confirmed_by_day(conn: Conn) -> list[asyncpg.Record]:
    """Enrollments BPJS confirmed, by the Asia/Jakarta day of the confirmation (oldest first):
    the programme's progress over time (the dashboard's chart)."""
    return await conn.fetch(
        "SELECT (decided_at AT TIME ZONE 'Asia/Jakarta')::date AS day, count(*) AS n FROM enrollment"
        " WHERE status = 'confirmed' AND decided_at IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


async def funded_elsewhere(conn: Conn) -> dict[str, int]:
    """Workers another payer funds (registry.worker-funded-elsewhere): withdrawn from the waitlist,
    flagged with an enrollment requested or confirmed (the office decides), and noticed before
    sponsorship heard of them."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE w.status = 'funded_elsewhere') AS withdrawn,"
        " count(*) FILTER (WHERE w.status IN ('matched', 'enrolled')) AS flagged,"
        " count(*) FILTER (WHERE w.worker_id IS NULL) AS not_registered"
        " FROM funded_elsewhere f LEFT JOIN worker w USING (worker_id)"
    )
    assert row is not None
    return {"withdrawn": row["withdrawn"], "flagged": row["flagged"], "not_registered": row["not_registered"]}


async def flagged_enrollments(conn: Conn, limit: int = 100) -> list[asyncpg.Record]:
    """Workers with an enrollment requested or confirmed whom another payer funds too: what the
    office must decide on (the funder, the enrollment, the company), oldest notice first."""
    return await conn.fetch(
        "SELECT f.worker_id, f.funder, f.source_code, f.noticed_at, w.status, w.kecamatan_name,"
        " e.enrollment_id, e.status AS enrollment_status, c.company_name"
        " FROM funded_elsewhere f JOIN worker w USING (worker_id)"
        " LEFT JOIN enrollment e ON e.worker_id = f.worker_id AND e.status IN ('requested', 'confirmed')"
        " LEFT JOIN commitment c ON c.commitment_id = e.commitment_id"
        " WHERE w.status IN ('matched', 'enrolled') ORDER BY f.noticed_at, f.worker_id LIMIT $1",
        limit,
    )


async def funded_elsewhere_of(conn: Conn, worker_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM funded_elsewhere WHERE worker_id = $1", worker_id)


# --- the tariff table (migration 0004) --------------------------------------------------------
# The tariff table as stored in the sponsorship schema (migration 0004): one table for every
# instance, replaced by the office (PUT /api/tariffs), read cheaply by the handlers and the quote.
#
# Reading costs one index lookup of the newest row's version and digest; the parsed table is kept
# per process by digest, so the document itself is read and parsed only when it changed. Handlers
# read it once per consumer transaction (the store keeps it: `PgSponsorshipStore.tariff_table`), so
# every cost within a batch comes from the same version.
#
# The default is the repository's data file `tariffs/bpu.json`, stored as version 1 when the table
# is empty (the first instance to read it does; a concurrent one finds the row).

DEFAULT_TARIFF_FILE = Path(__file__).parent / "tariffs" / "bpu.json"
DEFAULT_TARIFFS_LOADED_BY = "default (services/sponsorship/tariffs/bpu.json)"
# Replacing the table, one at a time (pg_advisory_xact_lock): the next version is max + 1.
_REPLACE_LOCK = 0x7461_7269_6666  # "tariff"


@dataclass(frozen=True)
class StoredTable:
    """A version of the table as stored: the parsed table and who loaded it when."""

    version: int
    digest: str
    table: TariffTable
    loaded_by: str
    loaded_at: datetime | None

    def document(self) -> dict[str, Any]:
        return table_document(self.table)


def _canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _digest_of(document: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(document).encode()).hexdigest()


@lru_cache(maxsize=1)
def default_tariff_table() -> TariffTable:
    """The repository's default table (the data file), parsed once."""
    return table_from_document(json.loads(DEFAULT_TARIFF_FILE.read_text(encoding="utf-8")))


# Parsed tables by digest: a process serving several databases (tests) shares nothing else.
_parsed: dict[str, TariffTable] = {}


def _table(digest: str, document: Any) -> TariffTable:
    table = _parsed.get(digest)
    if table is None:
        table = table_from_document(document)
        if len(_parsed) > 64:
            _parsed.clear()
        _parsed[digest] = table
    return table


async def current_tariff_table(conn: Conn) -> StoredTable:
    """The version in force (the default stored first, if the table is empty)."""
    head = await conn.fetchrow(
        "SELECT version, digest, loaded_by, loaded_at FROM tariff_table ORDER BY version DESC LIMIT 1"
    )
    if head is None:
        return await _store_default(conn)
    digest = head["digest"]
    table = _parsed.get(digest)
    if table is None:
        document = await conn.fetchval(
            "SELECT document FROM tariff_table WHERE version = $1", head["version"]
        )
        table = _table(digest, document)
    return StoredTable(head["version"], digest, table, head["loaded_by"], head["loaded_at"])


async def _store_default(conn: Conn) -> StoredTable:
    document = table_document(default_tariff_table())
    digest = _digest_of(document)
    await conn.execute(
        "INSERT INTO tariff_table (version, document, digest, loaded_by) VALUES (1, $1, $2, $3)"
        " ON CONFLICT (version) DO NOTHING",
        document,
        digest,
        DEFAULT_TARIFFS_LOADED_BY,
    )
    return await current_tariff_table(conn)


async def replace_tariff_table(conn: Conn, document: object, loaded_by: str) -> StoredTable:
    """Store `document` as the next version (TariffTableError, naming the rows, if it is refused).

    What is stored is the canonical form of what was parsed, so the read-back is what prices."""
    table = table_from_document(document)
    canonical_document = table_document(table)
    digest = _digest_of(canonical_document)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _REPLACE_LOCK)
        if await conn.fetchval("SELECT count(*) FROM tariff_table") == 0:
            await _store_default(conn)
        version = await conn.fetchval(
            "INSERT INTO tariff_table (version, document, digest, loaded_by)"
            " SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM tariff_table RETURNING version",
            canonical_document,
            digest,
            loaded_by,
        )
        loaded_at = await conn.fetchval("SELECT loaded_at FROM tariff_table WHERE version = $1", version)
    _parsed.setdefault(digest, table)
    return StoredTable(version, digest, table, loaded_by, loaded_at)


# --- invoices (migration 0007; the scheduled job services/sponsorship/jobs.py) -------------------


@dataclass(frozen=True, slots=True)
class CompanyContact:
    """Who an invoice is addressed to: the company's name and channels, from its latest commitment."""

    company_name: str
    email: str | None
    webhook_url: str | None


_INVOICE_COLUMNS = "invoice_id, number, company_id, company_name, month, total_idr, lines_count, issue_date, due_date, issued_at"


class PgInvoiceStore:
    """jobs.InvoiceStore on the sponsorship schema, over the scheduled run's connection."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def companies_to_invoice(self, month: date) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT company_id FROM member_month WHERE state = 'expected' AND month <= $1"
            " ORDER BY company_id",
            ledger.month_start(month),
        )
        return [r["company_id"] for r in rows]

    async def invoice_exists(self, company_id: str, month: date) -> bool:
        found: bool = await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invoice WHERE company_id = $1 AND month = $2)",
            company_id,
            ledger.month_start(month),
        )
        return found

    async def lines_to_invoice(self, company_id: str, month: date) -> list[MemberMonth]:
        rows = await self.conn.fetch(
            f"SELECT {_LINE_COLUMNS} FROM member_month WHERE company_id = $1 AND month <= $2"
            " AND state = 'expected' ORDER BY month, commitment_id, worker_id, enrollment_id FOR UPDATE",
            company_id,
            ledger.month_start(month),
        )
        return [_line(r) for r in rows]

    async def invoice_lines(self, lines: Sequence[MemberMonth]) -> list[MemberMonthLine]:
        return await _invoice_lines(self.conn, lines)

    async def company_contact(self, company_id: str) -> CompanyContact:
        row = await self.conn.fetchrow(
            "SELECT company_name, email, webhook_url FROM commitment WHERE company_id = $1"
            " ORDER BY seq DESC LIMIT 1",
            company_id,
        )
        if row is None:
            raise LookupError(f"no commitment of company {company_id}")
        return CompanyContact(row["company_name"], row["email"], row["webhook_url"])

    async def add_invoice(self, invoice: Invoice, issued_at: datetime) -> bool:
        added = await self.conn.fetchval(
            f"INSERT INTO invoice ({_INVOICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT DO NOTHING RETURNING true",
            invoice.invoice_id,
            invoice.number,
            invoice.company_id,
            invoice.company_name,
            invoice.month.first_day,
            invoice.total_idr,
            len(invoice.lines),
            invoice.issue_date,
            invoice.due_date,
            issued_at,
        )
        return bool(added)

    async def mark_invoiced(
        self, enrollment_id: uuid.UUID, month: date, invoice_id: str, at: datetime
    ) -> MemberMonth:
        return await PgSponsorshipStore(self.conn).mark_invoiced(enrollment_id, month, invoice_id, at)


async def _invoice_lines(conn: Conn, lines: Sequence[MemberMonth]) -> list[MemberMonthLine]:
    rows = await conn.fetch(
        "SELECT e.enrollment_id, w.nik, w.full_name, e.kpj_number FROM enrollment e JOIN worker w USING (worker_id)"
        " WHERE e.enrollment_id = ANY($1::uuid[])",
        list({x.enrollment_id for x in lines}),
    )
    who = {r["enrollment_id"]: r for r in rows}
    return [
        invoice_line(
            x,
            nik=who[x.enrollment_id]["nik"],
            full_name=who[x.enrollment_id]["full_name"],
            kpj_number=who[x.enrollment_id]["kpj_number"] or "",
        )
        for x in lines
    ]


async def invoices_of(conn: Conn, company_id: str | None, month: date | None) -> list[asyncpg.Record]:
    """The invoices of a company (or every one), of a month (or every one), newest month first."""
    return await conn.fetch(
        f"SELECT {_INVOICE_COLUMNS} FROM invoice WHERE ($1::text IS NULL OR company_id = $1)"
        " AND ($2::date IS NULL OR month = $2) ORDER BY month DESC, company_id",
        company_id,
        month,
    )


async def stored_invoice(conn: Conn, invoice_id: str) -> tuple[asyncpg.Record, list[MemberMonthLine]] | None:
    """An invoice with its lines (the workers' particulars, NIK masked): what its CSV is made of."""
    row = await conn.fetchrow(f"SELECT {_INVOICE_COLUMNS} FROM invoice WHERE invoice_id = $1", invoice_id)
    if row is None:
        return None
    lines = await conn.fetch(
        f"SELECT {_LINE_COLUMNS} FROM member_month WHERE invoice_id = $1 ORDER BY month, enrollment_id",
        invoice_id,
    )
    return row, await _invoice_lines(conn, [_line(r) for r in lines])


# --- the daily coverage job (services/sponsorship/coverage.py; migration 0010) -------------------


class PgCoverageStore:
    """What the daily coverage job reads and writes, in the run's transaction."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def mark_missed(self, day: date, at: datetime) -> int:
        """Invoiced lines whose invoice's due date is before `day` become missed (ledger.missed's
        rule, for every such line at once). Returns how many."""
        missed: int = await self.conn.fetchval(
            "WITH moved AS (UPDATE member_month m SET state = 'missed', missed_at = $2 FROM invoice i"
            " WHERE m.invoice_id = i.invoice_id AND m.state = 'invoiced' AND i.due_date < $1 RETURNING 1)"
            " SELECT count(*) FROM moved",
            day,
            at,
        )
        return missed

    async def anything_ends(self, day: date, missed_months: int) -> bool:
        """Whether a confirmed coverage ends by `day` or has `missed_months` missed lines (read
        without locks: the caller then locks and reads them again)."""
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM enrollment WHERE status = 'confirmed' AND coverage_end <= $1)"
                " OR EXISTS (SELECT 1 FROM member_month m JOIN enrollment e USING (enrollment_id)"
                " WHERE m.state = 'missed' AND e.status = 'confirmed' GROUP BY m.enrollment_id"
                " HAVING count(*) >= $2)",
                day,
                missed_months,
            )
        )

    async def lapse_candidates(self, missed_months: int) -> list[LiveEnrollment]:
        """Confirmed enrollments with at least `missed_months` missed lines, locked."""
        rows = await self.conn.fetch(
            _LIVE_SELECT + " WHERE e.status = 'confirmed' AND (SELECT count(*) FROM member_month m"
            " WHERE m.enrollment_id = e.enrollment_id AND m.state = 'missed') >= $1"
            " ORDER BY e.enrollment_id FOR UPDATE OF e",
            missed_months,
        )
        return [_live(r) for r in rows]

    async def line_states(self, enrollment_id: uuid.UUID) -> list[tuple[date, LineState]]:
        rows = await self.conn.fetch(
            "SELECT month, state FROM member_month WHERE enrollment_id = $1 ORDER BY month", enrollment_id
        )
        return [(r["month"], r["state"]) for r in rows]

    async def ending_by(self, day: date) -> list[LiveEnrollment]:
        """Confirmed enrollments whose last covered day is `day` or before, locked, by that day."""
        rows = await self.conn.fetch(
            _LIVE_SELECT + " WHERE e.status = 'confirmed' AND e.coverage_end <= $1"
            " ORDER BY e.coverage_end, e.enrollment_id FOR UPDATE OF e",
            day,
        )
        return [_live(r) for r in rows]

    async def end_enrollment(
        self, enrollment_id: uuid.UUID, status: EnrollmentStatus, ended_on: date
    ) -> None:
        await self.conn.execute(
            "UPDATE enrollment SET status = $2, ended_on = $3 WHERE enrollment_id = $1 AND status = 'confirmed'",
            enrollment_id,
            status,
            ended_on,
        )

    async def drop_future_lines(self, enrollment_id: uuid.UUID, commitment_id: str, from_month: date) -> int:
        """A lapsed membership's lines of `from_month` on that were never invoiced: not owed. Their
        budget goes back to the commitment. Returns the Rupiah released."""
        released: int = await self.conn.fetchval(
            "WITH dropped AS (DELETE FROM member_month WHERE enrollment_id = $1 AND month >= $2"
            " AND state = 'expected' RETURNING contribution_idr)"
            " SELECT coalesce(sum(contribution_idr), 0) FROM dropped",
            enrollment_id,
            from_month,
        )
        if released:
            await self.conn.execute(
                "UPDATE commitment SET budget_used_idr = budget_used_idr - $2 WHERE commitment_id = $1",
                commitment_id,
                released,
            )
        return released

    async def suspend_commitment(self, commitment_id: str, day: date) -> None:
        await self.conn.execute(
            "UPDATE commitment SET suspended_on = $2 WHERE commitment_id = $1 AND suspended_on IS NULL",
            commitment_id,
            day,
        )

    async def ending_within(self, day: date, days: int) -> list[LiveEnrollment]:
        """Confirmed enrollments whose last covered day is from `day` to `days` days after it."""
        rows = await self.conn.fetch(
            _LIVE_SELECT + " WHERE e.status = 'confirmed' AND e.coverage_end BETWEEN $1 AND $1 + $2::int"
            " ORDER BY e.coverage_end, e.enrollment_id",
            day,
            days,
        )
        return [_live(r) for r in rows]

    async def record_notice(self, enrollment_id: uuid.UUID, days: int, coverage_end: date) -> None:
        column = {30: "notice_30_for", 7: "notice_7_for"}[days]
        await self.conn.execute(
            f"UPDATE enrollment SET {column} = $2 WHERE enrollment_id = $1", enrollment_id, coverage_end
        )

    async def periods(self) -> list[asyncpg.Record]:
        """Every enrollment that covers or will cover someone: (worker_id, start, last covered day
        or None when not known yet, months, pending)."""
        return await self.conn.fetch(
            "SELECT worker_id::text, coverage_start, months, status = 'requested' AS pending,"
            " CASE WHEN status IN ('ended', 'lapsed') THEN least(coverage_end, ended_on - 1)"
            " ELSE coverage_end END AS last FROM enrollment WHERE status <> 'rejected'"
        )

    async def waiting(self) -> list[tuple[WorkerToEnroll, frozenset[str]]]:
        """Waitlisted workers, each with the commitments that may not take them again."""
        rows = await self.conn.fetch(
            "SELECT w.*, coalesce((SELECT array_agg(e.commitment_id) FROM enrollment e"
            " WHERE e.worker_id = w.worker_id AND e.status IN ('ended', 'lapsed')), '{}') AS had"
            " FROM worker w WHERE w.status = 'waitlisted'"
        )
        return [(_worker(r), frozenset(r["had"])) for r in rows]

    async def at_risk(self) -> set[str]:
        """Workers of confirmed enrollments with a missed line not paid."""
        rows = await self.conn.fetch(
            "SELECT DISTINCT m.worker_id::text AS w FROM member_month m JOIN enrollment e USING (enrollment_id)"
            " WHERE m.state = 'missed' AND e.status = 'confirmed'"
        )
        return {r["w"] for r in rows}

    async def paid_months(self) -> dict[str, int]:
        rows = await self.conn.fetch(
            "SELECT worker_id::text AS w, count(*) AS n FROM member_month"
            " WHERE state IN ('paid', 'confirmed') GROUP BY worker_id"
        )
        return {r["w"]: r["n"] for r in rows}

    async def add_day(self, day: date, counts: Any, at: datetime) -> bool:
        """Store day D's numbers once; False when the day is there already."""
        done = await self.conn.fetchval(
            "INSERT INTO coverage_day (day, workers_covered, workers_uncovered, unplanned_gaps, members_at_risk,"
            " members_six_paid_months, reported_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (day) DO NOTHING RETURNING 1",
            day,
            counts.workers_covered,
            counts.workers_uncovered,
            counts.unplanned_gaps,
            counts.members_at_risk,
            counts.members_six_paid_months,
            at,
        )
        return done is not None

    async def totals(self, through: date) -> tuple[int, int]:
        """Coverage-days lost and unplanned gap-days up to `through`."""
        row = await self.conn.fetchrow(
            "SELECT coalesce(sum(workers_uncovered), 0) AS lost, coalesce(sum(unplanned_gaps), 0) AS gaps"
            " FROM coverage_day WHERE day <= $1",
            through,
        )
        assert row is not None
        return int(row["lost"]), int(row["gaps"])


async def coverage_days(
    conn: Conn, first: date | None = None, last: date | None = None, limit: int = 400
) -> list[asyncpg.Record]:
    """The daily numbers from `first` to `last` (inclusive, either open), newest first
    (GET /api/coverage, `muba report`)."""
    return await conn.fetch(
        "SELECT * FROM coverage_day WHERE ($1::date IS NULL OR day >= $1) AND ($2::date IS NULL OR day <= $2)"
        " ORDER BY day DESC LIMIT $3",
        first,
        last,
        limit,
    )


async def coverage_totals(conn: Conn, first: date | None = None, last: date | None = None) -> asyncpg.Record:
    """Coverage-days lost and unplanned gap-days (sums of the daily numbers) from `first` to `last`."""
    row = await conn.fetchrow(
        "SELECT count(*) AS days, coalesce(sum(workers_uncovered), 0)::bigint AS coverage_days_lost,"
        " coalesce(sum(unplanned_gaps), 0)::bigint AS unplanned_gap_days FROM coverage_day"
        " WHERE ($1::date IS NULL OR day >= $1) AND ($2::date IS NULL OR day <= $2)",
        first,
        last,
    )
    assert row is not None
    return row


async def coverage_by_commitment(conn: Conn) -> list[asyncpg.Record]:
    """Per commitment, for its budget burn: the budget, its ledger's total and what is paid of it
    (paid or confirmed by BPJS), whether it is suspended, the latest last day of its confirmed
    enrollments and how many are live (requested or confirmed)."""
    return await conn.fetch(
        "SELECT c.commitment_id, c.company_id, c.company_name, c.months, c.budget_idr, c.budget_used_idr,"
        " c.suspended_on,"
        " (SELECT coalesce(sum(m.contribution_idr), 0)::bigint FROM member_month m"
        "   WHERE m.commitment_id = c.commitment_id) AS ledger_idr,"
        " (SELECT coalesce(sum(m.contribution_idr), 0)::bigint FROM member_month m"
        "   WHERE m.commitment_id = c.commitment_id AND m.state IN ('paid', 'confirmed')) AS paid_idr,"
        " (SELECT coalesce(sum(m.contribution_idr), 0)::bigint FROM member_month m"
        "   WHERE m.commitment_id = c.commitment_id AND m.state = 'missed') AS missed_idr,"
        " (SELECT max(e.coverage_end) FROM enrollment e"
        "   WHERE e.commitment_id = c.commitment_id AND e.status = 'confirmed') AS confirmed_until,"
        " (SELECT count(*) FROM enrollment e"
        "   WHERE e.commitment_id = c.commitment_id AND e.status IN ('requested', 'confirmed')) AS live"
        " FROM commitment c ORDER BY c.seq"
    )


async def requested_periods(conn: Conn) -> list[asyncpg.Record]:
    """The (commitment, start, months) of enrollments BPJS has not answered yet: their last day
    is the months' end (ledger.coverage_end), not stored until the answer."""
    return await conn.fetch(
        "SELECT DISTINCT commitment_id, coverage_start, months FROM enrollment WHERE status = 'requested'"
    )


# --- invoice reminders ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnpaidInvoice:
    """An issued invoice with lines still unpaid (invoiced or missed), and the reminders sent."""

    invoice_id: str
    number: str
    company_id: str
    company_name: str
    month: date
    issue_date: date
    due_date: date
    unpaid_lines: int
    unpaid_idr: int
    sent: frozenset[tuple[str, int]]


class PgReminderStore:
    """jobs.ReminderStore on the sponsorship schema, over the scheduled run's connection."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def unpaid_invoices(self, today: date) -> list[UnpaidInvoice]:
        """Invoices issued by `today` with unpaid lines, in number order (their lines are read, not
        locked: a payment that commits meanwhile is seen by the next day's run)."""
        rows = await self.conn.fetch(
            "SELECT i.invoice_id, i.number, i.company_id, i.company_name, i.month, i.issue_date,"
            " i.due_date, u.unpaid_lines, u.unpaid_idr,"
            " coalesce((SELECT array_agg(r.kind || ':' || r.days_from_due) FROM invoice_reminder r"
            "  WHERE r.invoice_id = i.invoice_id), '{}') AS sent"
            " FROM invoice i JOIN LATERAL (SELECT count(*) AS unpaid_lines,"
            "  coalesce(sum(m.contribution_idr), 0) AS unpaid_idr FROM member_month m"
            "  WHERE m.invoice_id = i.invoice_id AND m.state IN ('invoiced', 'missed')) u ON u.unpaid_lines > 0"
            " WHERE i.issue_date <= $1 ORDER BY i.number",
            today,
        )
        found = []
        for r in rows:
            sent = frozenset((k, int(d)) for k, d in (x.split(":", 1) for x in r["sent"]))
            found.append(
                UnpaidInvoice(
                    r["invoice_id"],
                    r["number"],
                    r["company_id"],
                    r["company_name"],
                    r["month"],
                    r["issue_date"],
                    r["due_date"],
                    int(r["unpaid_lines"]),
                    int(r["unpaid_idr"]),
                    sent,
                )
            )
        return found

    async def company_contact(self, company_id: str) -> CompanyContact:
        return await PgInvoiceStore(self.conn).company_contact(company_id)

    async def add_reminder(
        self, invoice: UnpaidInvoice, reminder: ScheduledReminder, reminded_at: datetime
    ) -> bool:
        """Record the reminder; False when it was recorded already (sent before)."""
        added = await self.conn.fetchval(
            "INSERT INTO invoice_reminder (invoice_id, kind, days_from_due, reminder_day, unpaid_lines,"
            " unpaid_idr, reminded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
            invoice.invoice_id,
            reminder.kind,
            reminder.days_from_due,
            reminder.on,
            invoice.unpaid_lines,
            invoice.unpaid_idr,
            reminded_at,
        )
        return bool(added)
