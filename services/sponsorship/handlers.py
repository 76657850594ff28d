"""Sponsorship's subscribers: commitments in, workers matched (or waitlisted), BPJS answers recorded."""

import uuid
from typing import Any

import asyncpg

from services.sponsorship import repository
from services.sponsorship.domain import (
    OpenCommitment,
    TariffTable,
    WaitlistedWorker,
    WaitlistPosition,
    WorkerToMatch,
    choose_commitment,
    commitment_budget,
    occupation_sector,
    order_waitlist,
    validate_commitment,
)
from services.sponsorship.repository import Row
from services.sponsorship.settings import SponsorshipSettings
from shared import clock
from shared.consumer import MessageContext, PoisonMessage, parse_uuid
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected, EnrollmentRequested, Payer
from shared.events.registry import WorkerRegistered
from shared.events.sponsorship import (
    CommitmentAccepted,
    CommitmentRejected,
    EnrollmentCompleted,
    EnrollmentFailed,
    SponsorMatched,
    WorkerWaitlisted,
)
from shared.masking import mask_nik
from shared.validation import MAX_COMMITMENT_TEXT, Reason, rejection_reasons

Store = repository.Transaction
Ctx = MessageContext[Any, Store]

MAX_RESERVATION_TRIES = 20


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return value[:MAX_COMMITMENT_TEXT] if isinstance(value, str) else None


def _worker_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "WORKER_MISMATCH", "worker_id is not a worker id")


def _enrollment_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "UNKNOWN_ENROLLMENT", "enrollment_id is not an id we issued")


class SponsorshipHandlers:
    def __init__(self, settings: SponsorshipSettings, tariffs: TariffTable | None = None) -> None:
        self.settings = settings
        self.tariffs = tariffs or TariffTable()
        clock.check_skew()

    # --- commitments -------------------------------------------------------------------------

    async def on_commitment_submitted(self, ctx: Ctx) -> None:
        """A company's commitment: store it with its budget, then sponsor waitlisted workers it covers."""
        raw = ctx.incoming.json_object()
        result = validate_commitment(raw)
        if isinstance(result, list):
            await self._reject_commitment(ctx, raw, result)
            return
        budget = commitment_budget(
            result, self.tariffs, clock.today_in_jakarta(), self.settings.apply_discount_to_company_paid
        )
        if await repository.insert_commitment(ctx.store.conn, result, budget) is None:
            return  # the same commitment again: it stands as first received
        ctx.publish(
            CommitmentAccepted(
                commitment_id=result.commitment_id,
                company_id=result.company_id,
                company_name=result.company_name,
                kecamatan_codes=sorted(result.kecamatan_codes),
                whole_regency=result.whole_regency,
                slots=result.slots,
                months=result.months,
                package=result.package,
                budget_idr=budget,
                accepted_at=clock.now(),
            ),
        )
        await self._sponsor_waitlisted(ctx, result.commitment_id)

    async def _reject_commitment(self, ctx: Ctx, raw: dict[str, Any], reasons: list[Reason]) -> None:
        event = CommitmentRejected(
            commitment_id=_text(raw, "commitment_id"),
            company_id=_text(raw, "company_id"),
            reasons=rejection_reasons(reasons),
            rejected_at=clock.now(),
        )
        ctx.publish(event)

    async def _sponsor_waitlisted(self, ctx: Ctx, commitment_id: str) -> None:
        """Give the commitment's free slots to the waitlisted workers it covers, in registration order."""
        ctx.store.open_commitments = None
        commitment = await repository.get_commitment(ctx.store.conn, commitment_id)
        assert commitment is not None
        codes = repository.covered_codes(commitment["whole_regency"], commitment["kecamatan_codes"])
        await repository.lock_kecamatan_exclusive(ctx.store.conn, codes)
        after: WaitlistPosition | None = None
        while True:
            commitment = await repository.get_commitment(ctx.store.conn, commitment_id)
            assert commitment is not None
            free = commitment["slots"] - commitment["slots_used"]
            if free <= 0:
                return
            page = await repository.waitlisted_covered_by(
                ctx.store.conn,
                commitment["whole_regency"],
                list(commitment["kecamatan_codes"]),
                max(free, 50),
                after,
            )
            if not page:
                return
            after = repository.position_in_waitlist(page[-1])
            by_id = {str(w["worker_id"]): w for w in page}
            # Registration order is the registry's (registration_seq, see waitlist_position), not the
            # order events arrived here nor a host's clock: the page comes sorted that way, so its
            # position is the worker's rank.
            waitlist = [
                WaitlistedWorker(str(w["worker_id"]), w["kecamatan_code"], w["occupation"], rank)
                for rank, w in enumerate(page)
            ]
            for waiting in order_waitlist(repository.open_commitment(commitment), waitlist):
                worker = by_id[waiting.worker_id]
                cost = self._cost(commitment, worker)
                if await repository.reserve_slot(ctx.store.conn, commitment_id, cost):
                    await self._request_enrollment(ctx, worker, commitment, cost)
                    free -= 1
                    if free == 0:
                        return

    # --- workers -----------------------------------------------------------------------------

    async def on_worker_registered(self, ctx: MessageContext[WorkerRegistered, Store]) -> None:
        """A newly registered worker: reserve a slot of the best-fitting commitment, or waitlist."""
        announced = ctx.event
        worker = await repository.insert_worker(ctx.store.conn, announced)
        if worker is None:
            return
        await self._lock_kecamatan(ctx, announced.kecamatan_code)
        if await self._match(ctx, worker):
            return
        ctx.publish(
            WorkerWaitlisted(
                worker_id=announced.worker_id,
                full_name=announced.full_name,
                phone=announced.phone,
                kecamatan_code=announced.kecamatan_code,
                kecamatan_name=announced.kecamatan_name,
                waitlisted_at=clock.now(),
            ),
        )

    async def _lock_kecamatan(self, ctx: Ctx, kecamatan_code: str) -> None:
        """Shared kecamatan lock, once per batch. A lock newly taken may reveal slots that opened
        while we waited for it, so the batch's view of the open commitments is read again."""
        held = ctx.store.kecamatan_locks
        if kecamatan_code not in held:
            await repository.lock_kecamatan_shared(ctx.store.conn, kecamatan_code)
            held.add(kecamatan_code)
            ctx.store.open_commitments = None

    async def _open_commitments(self, ctx: Ctx) -> dict[str, dict[str, Any]]:
        """The open commitments as this batch's transaction left them (read once, kept up to date)."""
        cached = ctx.store.open_commitments
        if cached is None:
            cached = {r["commitment_id"]: dict(r) for r in await repository.open_commitments(ctx.store.conn)}
            ctx.store.open_commitments = cached
        return cached

    async def _match(self, ctx: Ctx, worker: Row) -> bool:
        wanted = WorkerToMatch(str(worker["worker_id"]), worker["kecamatan_code"], worker["occupation"])
        for _ in range(MAX_RESERVATION_TRIES):
            rows = await self._open_commitments(ctx)

            def cost_of(c: OpenCommitment, rows: dict[str, dict[str, Any]] = rows) -> int:
                return self._cost(rows[c.commitment_id], worker)

            chosen = choose_commitment(
                wanted,
                [repository.open_commitment(r) for r in rows.values() if r["slots_used"] < r["slots"]],
                cost_of,
            )
            if chosen is None:
                return False
            commitment = rows[chosen.commitment_id]
            cost = self._cost(commitment, worker)
            if await repository.reserve_slot(ctx.store.conn, chosen.commitment_id, cost):
                commitment["slots_used"] += 1
                commitment["budget_used_idr"] += cost
                await self._request_enrollment(ctx, worker, commitment, cost)
                return True
            ctx.store.open_commitments = None  # another instance took it: read them again
        raise RuntimeError("could not reserve a slot: too much contention; the batch will be retried")

    async def _request_enrollment(self, ctx: Ctx, worker: Row, commitment: Row, cost: int) -> None:
        start = clock.today_in_jakarta()
        enrollment_id = await repository.insert_enrollment(
            ctx.store.conn,
            worker_id=worker["worker_id"],
            commitment_id=commitment["commitment_id"],
            package=commitment["package"],
            months=commitment["months"],
            coverage_start=start,
            contribution_idr=cost,
        )
        worker_id = str(worker["worker_id"])
        now = clock.now()
        ctx.publish(
            SponsorMatched(
                worker_id=worker_id,
                enrollment_id=str(enrollment_id),
                commitment_id=commitment["commitment_id"],
                company_id=commitment["company_id"],
                company_name=commitment["company_name"],
                package=commitment["package"],
                months=commitment["months"],
                contribution_idr=cost,
                matched_at=now,
            ),
        )
        sector = occupation_sector(worker["occupation"])
        floor = self.tariffs.tariff_for(start).income_floor_idr
        desa = f"Desa {worker['desa']}, " if worker["desa"] else ""
        ctx.publish(
            EnrollmentRequested(
                enrollment_id=str(enrollment_id),
                worker_id=worker_id,
                nik=worker["nik"],
                full_name=worker["full_name"],
                birth_date=worker["birth_date"],
                sex=worker["sex"],
                phone=worker["phone"],
                address=f"{desa}Kec. {worker['kecamatan_name']}, Kab. Musi Banyuasin, Sumatera Selatan",
                kecamatan_code=worker["kecamatan_code"],
                occupation=worker["occupation"],
                declared_income_idr=max(worker["declared_income_idr"] or floor, floor),
                package=commitment["package"],
                months=commitment["months"],
                coverage_start=start,
                monthly_contribution_idr=self.tariffs.monthly_contribution(
                    commitment["package"],
                    worker["declared_income_idr"],
                    start,
                    sector,
                    self.settings.apply_discount_to_company_paid,
                ),
                total_contribution_idr=cost,
                payer=Payer(
                    company_id=commitment["company_id"],
                    company_name=commitment["company_name"],
                    commitment_id=commitment["commitment_id"],
                ),
                requested_at=now,
            ),
        )

    # --- answers from BPJS -------------------------------------------------------------------

    async def on_enrollment_confirmed(self, ctx: MessageContext[EnrollmentConfirmed, Store]) -> None:
        """BPJS enrolled the worker: record the KPJ number and coverage, tell the story onward."""
        answer = ctx.event
        done = await repository.confirm_enrollment(
            ctx.store.conn,
            _enrollment_id(answer.enrollment_id),
            _worker_id(answer.worker_id),
            answer.kpj_number,
            answer.coverage_start,
            answer.coverage_end,
            answer.confirmed_at,
        )
        if done is None:  # not a requested enrollment of this worker: say which case it is
            enrollment = await self._enrollment_for(ctx, answer.enrollment_id, answer.worker_id)
            if enrollment["status"] == "confirmed":
                return  # the same confirmation again
            raise PoisonMessage("ENROLLMENT_ALREADY_REJECTED", "a confirmation arrived after a rejection")
        ctx.publish(
            EnrollmentCompleted(
                worker_id=answer.worker_id,
                enrollment_id=answer.enrollment_id,
                full_name=done["full_name"],
                phone=done["phone"],
                nik_masked=mask_nik(done["nik"]),
                kecamatan_name=done["kecamatan_name"],
                kpj_number=answer.kpj_number,
                coverage_start=answer.coverage_start,
                coverage_end=answer.coverage_end,
                package=done["package"],
                contribution_idr=done["contribution_idr"],
                company_id=done["company_id"],
                company_name=done["company_name"],
                company_email=done["email"],
                company_webhook_url=done["webhook_url"],
                completed_at=clock.now(),
            ),
        )

    async def on_enrollment_rejected(self, ctx: MessageContext[EnrollmentRejected, Store]) -> None:
        """BPJS refused: release the slot and its budget, record why, and offer the slot onward."""
        answer = ctx.event
        enrollment = await self._enrollment_for(ctx, answer.enrollment_id, answer.worker_id)
        if enrollment["status"] == "rejected":
            return
        if enrollment["status"] == "confirmed":
            raise PoisonMessage("ENROLLMENT_ALREADY_CONFIRMED", "a rejection arrived after a confirmation")
        await repository.reject_enrollment(
            ctx.store.conn,
            enrollment["enrollment_id"],
            answer.reason_code,
            answer.reason_message,
            answer.rejected_at,
        )
        # The kecamatan locks before the commitment's row lock: the order every path takes them in.
        commitment = await repository.get_commitment(ctx.store.conn, enrollment["commitment_id"])
        assert commitment is not None
        await repository.lock_kecamatan_exclusive(
            ctx.store.conn,
            repository.covered_codes(commitment["whole_regency"], commitment["kecamatan_codes"]),
        )
        await repository.release_slot(
            ctx.store.conn, enrollment["commitment_id"], enrollment["contribution_idr"]
        )
        await repository.set_worker_status(ctx.store.conn, enrollment["worker_id"], "failed")
        worker = await repository.get_worker(ctx.store.conn, enrollment["worker_id"])
        ctx.publish(
            EnrollmentFailed(
                worker_id=answer.worker_id,
                enrollment_id=answer.enrollment_id,
                full_name=worker["full_name"],
                phone=worker["phone"],
                reason_code=answer.reason_code,
                reason_message=answer.reason_message,
                failed_at=clock.now(),
            ),
        )
        await self._sponsor_waitlisted(ctx, enrollment["commitment_id"])

    async def _enrollment_for(self, ctx: Ctx, enrollment_id: str, worker_id: str) -> asyncpg.Record:
        enrollment = await repository.lock_enrollment(ctx.store.conn, _enrollment_id(enrollment_id))
        if enrollment is None:
            raise PoisonMessage("UNKNOWN_ENROLLMENT", f"no enrollment {enrollment_id} was requested")
        if str(enrollment["worker_id"]) != worker_id:
            raise PoisonMessage("WORKER_MISMATCH", "the answer names another worker than the request")
        return enrollment

    # --- rules used above --------------------------------------------------------------------

    def _cost(self, commitment: Row, worker: Row) -> int:
        return self.tariffs.coverage_cost(
            commitment["package"],
            worker["declared_income_idr"],
            clock.today_in_jakarta(),
            commitment["months"],
            occupation_sector(worker["occupation"]),
            self.settings.apply_discount_to_company_paid,
        )
