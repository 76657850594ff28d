"""`InMemorySponsorshipStore`: sponsorship's store without PostgreSQL, for handler unit tests.

Faithful to `PgSponsorshipStore` within one event loop (tests/services/test_sponsorship_store.py
runs the same contract tests over both): ON CONFLICT (a commitment or worker announced again, a
confirmation's ledger lines written again),
the reservation's conditions (a free slot and enough budget), the waitlist's order and paging,
one live enrollment per worker, and the per-transaction view of the open commitments. Locks are
recorded (`locks`), not waited for: one handler runs at a time. `SponsorshipData.transaction()`
rolls everything back when the block raises, as the consumer's transaction would.
"""

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

import asyncpg

from services.sponsorship.domain import ledger
from services.sponsorship.domain.commitments import Commitment
from services.sponsorship.domain.ledger import LineState, MemberMonth
from services.sponsorship.domain.matching import WaitlistPosition
from services.sponsorship.domain.payments import Allocation, Payment
from services.sponsorship.domain.tariffs import Package, TariffTable
from services.sponsorship.repository import (
    ConfirmedEnrollment,
    Enrollment,
    EnrollmentStatus,
    FundedElsewhereOutcome,
    LiveEnrollment,
    SentContribution,
    StoredCommitment,
    WorkerStatus,
    WorkerToEnroll,
    default_tariff_table,
    warning_codes,
)
from shared.events.registry import WorkerFundedElsewhere, WorkerRegistered
from shared.events.sponsorship import Membership


@dataclass(frozen=True)
class EnrollmentRow:
    """An enrollment with every column the schema keeps."""

    enrollment_id: uuid.UUID
    worker_id: uuid.UUID
    commitment_id: str
    package: Package
    months: int
    coverage_start: date
    contribution_idr: int
    status: EnrollmentStatus
    kpj_number: str | None = None
    coverage_end: date | None = None
    reason_code: str | None = None
    reason_message: str | None = None
    decided_at: datetime | None = None
    membership: Membership | None = None
    follows: uuid.UUID | None = None


@dataclass
class SponsorshipData:
    """The tables, shared by every transaction (store) of one test."""

    commitments: dict[str, StoredCommitment] = field(default_factory=dict)
    workers: dict[uuid.UUID, WorkerToEnroll] = field(default_factory=dict)
    enrollments: dict[uuid.UUID, EnrollmentRow] = field(default_factory=dict)
    # Workers another payer funds: the first notice, and the worker's status when it came.
    funded_elsewhere: dict[uuid.UUID, tuple[WorkerFundedElsewhere, WorkerStatus | None]] = field(
        default_factory=dict
    )
    # The member-month ledger, by (enrollment, month).
    member_months: dict[tuple[uuid.UUID, date], MemberMonth] = field(default_factory=dict)
    # Payments by (company, reference) with what they paid, and each company's credit.
    payments: dict[tuple[str, str], tuple[Payment, Allocation]] = field(default_factory=dict)
    credits: dict[str, int] = field(default_factory=dict)
    # contribution_sent: (payment_id, attempts, first_sent_at, last_sent_at) by (enrollment, month).
    contributions_sent: dict[tuple[uuid.UUID, date], tuple[str, int, datetime, datetime]] = field(
        default_factory=dict
    )
    extensions: set[tuple[str, str]] = field(default_factory=set)  # (commitment, reference) applied
    invoice_due: dict[str, date] = field(default_factory=dict)  # invoices' due dates, by invoice id
    last_commitment_seq: int = 0
    last_worker_seq: int = 0
    tariffs: TariffTable = field(default_factory=default_tariff_table)  # the stored tariff table

    @asynccontextmanager
    async def transaction(
        self, store: Callable[["SponsorshipData"], "InMemorySponsorshipStore"] | None = None
    ) -> AsyncIterator["InMemorySponsorshipStore"]:
        """A store for one transaction; what it changed is undone when the block raises."""
        saved = (
            dict(self.commitments),
            dict(self.workers),
            dict(self.enrollments),
            dict(self.funded_elsewhere),
            dict(self.member_months),
            dict(self.payments),
            dict(self.credits),
            dict(self.contributions_sent),
            set(self.extensions),
        )
        try:
            yield (store or InMemorySponsorshipStore)(self)
        except BaseException:
            (
                self.commitments,
                self.workers,
                self.enrollments,
                self.funded_elsewhere,
                self.member_months,
                self.payments,
                self.credits,
                self.contributions_sent,
                self.extensions,
            ) = saved
            raise

    def worker_status(self, worker_id: str | uuid.UUID) -> WorkerStatus:
        return self.workers[uuid.UUID(str(worker_id))].status


class InMemorySponsorshipStore:
    """`SponsorshipStore` over `SponsorshipData`, for one transaction."""

    def __init__(self, data: SponsorshipData) -> None:
        self.data = data
        self.locks: list[tuple[Literal["shared", "exclusive"], str]] = []  # in the order taken
        self._shared_locks: set[str] = set()
        self._open: dict[str, StoredCommitment] | None = None

    async def tariff_table(self) -> TariffTable:
        return self.data.tariffs

    async def lock_kecamatan_shared(self, kecamatan_code: str) -> None:
        if kecamatan_code in self._shared_locks:
            return
        self.locks.append(("shared", kecamatan_code))
        self._shared_locks.add(kecamatan_code)
        self._open = None

    async def lock_kecamatan_exclusive(self, kecamatan_codes: Iterable[str]) -> None:
        for code in sorted(set(kecamatan_codes)):
            self.locks.append(("exclusive", code))
        self._open = None

    async def add_commitment(self, c: Commitment, budget_idr: int) -> bool:
        if c.commitment_id in self.data.commitments:
            return False
        if c.slots <= 0 or c.months <= 0 or budget_idr < 0:
            raise asyncpg.exceptions.CheckViolationError("commitment violates a CHECK")
        self.data.last_commitment_seq += 1
        self.data.commitments[c.commitment_id] = StoredCommitment(
            commitment_id=c.commitment_id,
            seq=self.data.last_commitment_seq,
            company_id=c.company_id,
            company_name=c.company_name,
            kecamatan_codes=frozenset(c.kecamatan_codes),
            whole_regency=c.whole_regency,
            slots=c.slots,
            months=c.months,
            package=c.package,
            preferred_occupations=tuple(c.preferred_occupations),
            email=c.email,
            webhook_url=c.webhook_url,
            budget_idr=budget_idr,
            slots_used=0,
            budget_used_idr=0,
        )
        self._open = None
        return True

    async def commitment(self, commitment_id: str) -> StoredCommitment | None:
        return self.data.commitments.get(commitment_id)

    async def open_commitments(self) -> list[StoredCommitment]:
        if self._open is None:
            by_age = sorted(self.data.commitments.values(), key=lambda c: c.seq)
            self._open = {c.commitment_id: c for c in by_age if c.free_slots > 0 and c.suspended_on is None}
        return [c for c in self._open.values() if c.free_slots > 0]

    async def reserve_slot(self, commitment_id: str, cost_idr: int) -> bool:
        c = self.data.commitments.get(commitment_id)
        taken = c is not None and c.free_slots > 0 and c.budget_used_idr + cost_idr <= c.budget_idr
        if c is not None and taken:
            self.data.commitments[commitment_id] = c.reserved(cost_idr)
        if self._open is not None:
            if taken and commitment_id in self._open:
                self._open[commitment_id] = self._open[commitment_id].reserved(cost_idr)
            else:
                self._open = None
        return taken

    async def release_slot(self, commitment_id: str, cost_idr: int) -> None:
        c = self.data.commitments.get(commitment_id)
        if c is not None:
            if c.slots_used < 1 or c.budget_used_idr < cost_idr:
                raise asyncpg.exceptions.CheckViolationError("commitment use would be negative")
            self.data.commitments[commitment_id] = dataclasses.replace(
                c, slots_used=c.slots_used - 1, budget_used_idr=c.budget_used_idr - cost_idr
            )
        self._open = None

    async def add_worker(self, announced: WorkerRegistered) -> WorkerToEnroll | None:
        worker_id = uuid.UUID(announced.worker_id)
        if worker_id in self.data.workers:
            return None
        self.data.last_worker_seq += 1
        worker = WorkerToEnroll(
            worker_id=worker_id,
            seq=self.data.last_worker_seq,
            nik=announced.nik,
            full_name=announced.full_name,
            birth_date=announced.birth_date,
            sex=announced.sex,
            phone=announced.phone,
            kecamatan_code=announced.kecamatan_code,
            kecamatan_name=announced.kecamatan_name,
            desa=announced.desa,
            occupation=announced.occupation,
            declared_income_idr=announced.declared_income_idr,
            registered_at=announced.registered_at,
            registration_seq=announced.registration_seq,
            status="funded_elsewhere" if worker_id in self.data.funded_elsewhere else "waitlisted",
            warnings=tuple(warning_codes(announced)),
        )
        self.data.workers[worker_id] = worker
        return worker

    async def note_funded_elsewhere(self, notice: WorkerFundedElsewhere) -> FundedElsewhereOutcome:
        worker_id = uuid.UUID(notice.worker_id)
        if worker_id in self.data.funded_elsewhere:
            return "again"
        found = self.data.workers.get(worker_id)
        self.data.funded_elsewhere[worker_id] = (notice, None if found is None else found.status)
        if found is None:
            return "remembered"
        if found.status == "waitlisted":
            await self.set_worker_status(worker_id, "funded_elsewhere")
            return "withdrawn"
        return "flagged"

    async def worker(self, worker_id: uuid.UUID) -> WorkerToEnroll:
        found = self.data.workers.get(worker_id)
        if found is None:
            raise LookupError(f"worker {worker_id} is not known here")
        return found

    async def set_worker_status(self, worker_id: uuid.UUID, status: WorkerStatus) -> None:
        found = self.data.workers.get(worker_id)
        if found is not None:
            self.data.workers[worker_id] = dataclasses.replace(found, status=status)

    async def waitlisted_covered_by(
        self, commitment: StoredCommitment, limit: int, after: WaitlistPosition | None = None
    ) -> list[WorkerToEnroll]:
        waiting = [
            w
            for w in self.data.workers.values()
            if w.status == "waitlisted"
            and (commitment.whole_regency or w.kecamatan_code in commitment.kecamatan_codes)
            and (after is None or w.position > after)
            and not any(
                e.worker_id == w.worker_id
                and e.commitment_id == commitment.commitment_id
                and e.status in ("ended", "lapsed")
                for e in self.data.enrollments.values()
            )
        ]
        return sorted(waiting, key=lambda w: w.position)[:limit]

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
        if worker_id not in self.data.workers or commitment_id not in self.data.commitments:
            raise asyncpg.exceptions.ForeignKeyViolationError("enrollment names an unknown row")
        if any(
            e.worker_id == worker_id and e.status in ("requested", "confirmed")
            for e in self.data.enrollments.values()
        ):
            raise asyncpg.exceptions.UniqueViolationError(
                'duplicate key value violates unique constraint "enrollment_one_live_per_worker"'
            )
        enrollment_id = uuid.uuid4()
        self.data.enrollments[enrollment_id] = EnrollmentRow(
            enrollment_id,
            worker_id,
            commitment_id,
            package,
            months,
            coverage_start,
            contribution_idr,
            "requested",
            follows=follows,
        )
        await self.set_worker_status(worker_id, "matched")
        return enrollment_id

    async def lock_commitment(self, commitment_id: str) -> StoredCommitment | None:
        return self.data.commitments.get(commitment_id)

    async def extension_known(self, commitment_id: str, reference: str) -> bool:
        return (commitment_id, reference) in self.data.extensions

    async def extend_commitment(
        self, commitment_id: str, reference: str, months_added: int, budget_added_idr: int, at: datetime
    ) -> None:
        if (commitment_id, reference) in self.data.extensions:
            raise asyncpg.exceptions.UniqueViolationError("commitment_extension_pkey")
        self.data.extensions.add((commitment_id, reference))
        c = self.data.commitments[commitment_id]
        self.data.commitments[commitment_id] = dataclasses.replace(
            c, months=c.months + months_added, budget_idr=c.budget_idr + budget_added_idr
        )
        self._open = None

    async def live_enrollments_of(self, commitment_id: str) -> list[LiveEnrollment]:
        c = self.data.commitments[commitment_id]
        found = []
        for e in self.data.enrollments.values():
            if e.commitment_id != commitment_id or e.status not in ("requested", "confirmed"):
                continue
            w = self.data.workers[e.worker_id]
            found.append(
                LiveEnrollment(
                    enrollment_id=e.enrollment_id,
                    worker_id=e.worker_id,
                    commitment_id=e.commitment_id,
                    status=e.status,
                    package=e.package,
                    months=e.months,
                    coverage_start=e.coverage_start,
                    coverage_end=e.coverage_end,
                    kpj_number=e.kpj_number,
                    notice_30_for=None,
                    notice_7_for=None,
                    full_name=w.full_name,
                    phone=w.phone,
                    occupation=w.occupation,
                    declared_income_idr=w.declared_income_idr,
                    company_id=c.company_id,
                    company_name=c.company_name,
                    email=c.email,
                    webhook_url=c.webhook_url,
                    whole_regency=c.whole_regency,
                    kecamatan_codes=sorted(c.kecamatan_codes),
                )
            )
        return found

    async def extend_enrollment(
        self, enrollment_id: uuid.UUID, months: int, coverage_end: date | None
    ) -> None:
        e = self.data.enrollments[enrollment_id]
        self.data.enrollments[enrollment_id] = dataclasses.replace(
            e, months=months, coverage_end=coverage_end or e.coverage_end
        )

    async def resume_paid_up(self, company_id: str) -> list[str]:
        resumed = []
        for c in list(self.data.commitments.values()):
            if c.company_id != company_id or c.suspended_on is None:
                continue
            if any(
                m.commitment_id == c.commitment_id and m.state == "missed"
                for m in self.data.member_months.values()
            ):
                continue
            self.data.commitments[c.commitment_id] = dataclasses.replace(c, suspended_on=None)
            resumed.append(c.commitment_id)
        if resumed:
            self._open = None
        return sorted(resumed)

    async def lock_enrollment(self, enrollment_id: uuid.UUID) -> Enrollment | None:
        e = self.data.enrollments.get(enrollment_id)
        if e is None:
            return None
        return Enrollment(e.enrollment_id, e.worker_id, e.commitment_id, e.status, e.contribution_idr)

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
        e = self.data.enrollments.get(enrollment_id)
        if e is None or e.worker_id != worker_id or e.status != "requested":
            return None
        if membership not in ("new", "continued", "resumed"):
            raise asyncpg.exceptions.CheckViolationError("enrollment membership violates a CHECK")
        self.data.enrollments[enrollment_id] = dataclasses.replace(
            e,
            status="confirmed",
            kpj_number=kpj_number,
            coverage_start=coverage_start,
            coverage_end=coverage_end,
            decided_at=decided_at,
            membership=membership,
        )
        await self.set_worker_status(worker_id, "enrolled")
        w, c = self.data.workers[worker_id], self.data.commitments[e.commitment_id]
        return ConfirmedEnrollment(
            package=e.package,
            contribution_idr=e.contribution_idr,
            full_name=w.full_name,
            phone=w.phone,
            nik=w.nik,
            kecamatan_code=w.kecamatan_code,
            kecamatan_name=w.kecamatan_name,
            company_id=c.company_id,
            company_name=c.company_name,
            email=c.email,
            webhook_url=c.webhook_url,
            commitment_id=e.commitment_id,
            months=e.months,
            occupation=w.occupation,
            declared_income_idr=w.declared_income_idr,
        )

    async def reject_enrollment(
        self, enrollment_id: uuid.UUID, reason_code: str, reason_message: str, decided_at: datetime
    ) -> None:
        e = self.data.enrollments.get(enrollment_id)
        if e is not None:
            self.data.enrollments[enrollment_id] = dataclasses.replace(
                e,
                status="rejected",
                reason_code=reason_code,
                reason_message=reason_message,
                decided_at=decided_at,
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
        if (
            first.enrollment_id not in self.data.enrollments
            or first.worker_id not in self.data.workers
            or first.commitment_id not in self.data.commitments
        ):
            raise asyncpg.exceptions.ForeignKeyViolationError("a line names an unknown row")
        if any(x.month.day != 1 or x.contribution_idr < 0 for x in lines):
            raise asyncpg.exceptions.CheckViolationError("member_month violates a CHECK")
        new = [x for x in lines if (x.enrollment_id, x.month) not in self.data.member_months]
        for x in new:
            self.data.member_months[(x.enrollment_id, x.month)] = dataclasses.replace(
                x,
                state="expected",
                invoice_id=None,
                invoiced_at=None,
                paid_at=None,
                confirmed_at=None,
                missed_at=None,
            )
        if new:
            c = self.data.commitments[first.commitment_id]
            used = c.budget_used_idr + sum(x.contribution_idr for x in lines) - reserved_idr
            if used < 0:
                raise asyncpg.exceptions.CheckViolationError("commitment use would be negative")
            self.data.commitments[c.commitment_id] = dataclasses.replace(c, budget_used_idr=used)
            self._open = None
        return len(new)

    async def member_months(self, enrollment_id: uuid.UUID) -> list[MemberMonth]:
        return sorted(
            (x for x in self.data.member_months.values() if x.enrollment_id == enrollment_id),
            key=lambda x: x.month,
        )

    async def lines_of_month(
        self,
        month: date,
        *,
        company_id: str | None = None,
        commitment_id: str | None = None,
        state: LineState = "expected",
    ) -> list[MemberMonth]:
        first = ledger.month_start(month)
        found = [
            x
            for x in self.data.member_months.values()
            if x.month == first
            and x.state == state
            and (company_id is None or x.company_id == company_id)
            and (commitment_id is None or x.commitment_id == commitment_id)
        ]
        return sorted(found, key=lambda x: (x.commitment_id, x.worker_id, x.enrollment_id))

    async def _move(
        self, enrollment_id: uuid.UUID, month: date, change: Callable[[MemberMonth], MemberMonth]
    ) -> MemberMonth:
        key = (enrollment_id, ledger.month_start(month))
        line = self.data.member_months.get(key)
        if line is None:
            raise LookupError(f"no {month:%Y-%m} line of enrollment {enrollment_id}")
        moved = change(line)
        self.data.member_months[key] = moved
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
        return self.data.credits.setdefault(company_id, 0)

    async def payment_known(self, company_id: str, reference: str) -> bool:
        return (company_id, reference) in self.data.payments

    async def invoice_due_dates(self, company_id: str) -> dict[str, date]:
        return dict(self.data.invoice_due)

    async def open_lines(self, company_id: str) -> list[MemberMonth]:
        found = (
            x
            for x in self.data.member_months.values()
            if x.company_id == company_id and x.state in ("invoiced", "missed")
        )
        return sorted(found, key=lambda x: (x.month, x.enrollment_id))

    async def record_payment(self, payment: Payment, allocation: Allocation, recorded_at: datetime) -> None:
        key = (payment.company_id, payment.reference)
        if key in self.data.payments:
            raise asyncpg.UniqueViolationError("payment_company_id_reference_key")
        self.data.payments[key] = (payment, allocation)
        self.data.credits[payment.company_id] = allocation.credit_idr

    async def note_contribution_sent(
        self, enrollment_id: uuid.UUID, month: date, payment_id: str | None, at: datetime
    ) -> SentContribution:
        key = (enrollment_id, ledger.month_start(month))
        if key not in self.data.member_months:
            raise LookupError(f"no {month:%Y-%m} line of enrollment {enrollment_id}")
        sent = self.data.contributions_sent.get(key)
        if sent is None:
            if payment_id is None:
                raise LookupError(f"the {month:%Y-%m} line of enrollment {enrollment_id} was never sent")
            self.data.contributions_sent[key] = (payment_id, 1, at, at)
        else:
            self.data.contributions_sent[key] = (sent[0], sent[1] + 1, sent[2], at)
        return self._sent(key)

    async def unconfirmed_paid(self, paid_before: datetime, limit: int = 1000) -> list[SentContribution]:
        found = [
            x
            for x in self.data.member_months.values()
            if x.state == "paid" and x.paid_at is not None and x.paid_at < paid_before
        ]
        found.sort(key=lambda x: (x.paid_at or paid_before, x.enrollment_id, x.month))
        return [self._sent((x.enrollment_id, x.month)) for x in found[:limit]]

    async def contributions_to_resend(
        self, sent_before: datetime, limit: int = 1000
    ) -> list[SentContribution]:
        found = [
            x
            for x in await self.unconfirmed_paid(
                datetime.max.replace(tzinfo=UTC), len(self.data.member_months)
            )
            if x.last_sent_at is not None and x.last_sent_at <= sent_before
        ]
        return found[:limit]

    def _sent(self, key: tuple[uuid.UUID, date]) -> SentContribution:
        line = self.data.member_months[key]
        kpj = self.data.enrollments[line.enrollment_id].kpj_number
        sent = self.data.contributions_sent.get(key)
        if sent is None:
            return SentContribution(line, kpj)
        payment_id, attempts, first, last = sent
        return SentContribution(line, kpj, payment_id, attempts, first, last)
