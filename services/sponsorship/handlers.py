"""Sponsorship's subscribers: commitments in, workers matched (or waitlisted), BPJS answers
recorded, companies' payments allocated to their ledger lines."""

import logging
import uuid
from dataclasses import replace
from typing import Any, Protocol

from services.sponsorship import contributions
from services.sponsorship.domain import coverage, feed, ledger
from services.sponsorship.domain.commitments import (
    budget_idr,
    commitment_budget,
    extension_problems,
    extension_rejected,
    validate_commitment,
    validate_extension,
)
from services.sponsorship.domain.feed import FeedKey
from services.sponsorship.domain.matching import WaitlistPosition, choose_commitment, offers_for
from services.sponsorship.domain.payments import (
    allocate,
    open_line,
    payment_id,
    payment_recorded,
    payment_rejected,
    validate_payment,
)
from services.sponsorship.domain.tariffs import Coverage, Pricing
from services.sponsorship.repository import Enrollment, SponsorshipStore, StoredCommitment, WorkerToEnroll
from services.sponsorship.settings import SponsorshipSettings
from shared import clock
from shared.calendar import Month, programme_calendar
from shared.consumer import MessageContext, PoisonMessage, parse_uuid
from shared.envelope import Envelope
from shared.events import EventModel
from shared.events.bpjs import (
    ContributionConfirmed,
    EnrollmentConfirmed,
    EnrollmentRejected,
    EnrollmentRequested,
    Payer,
)
from shared.events.registry import WorkerFundedElsewhere, WorkerRegistered
from shared.events.sponsorship import (
    CommitmentAccepted,
    CommitmentExtended,
    CommitmentRejected,
    CoverageExtended,
    EnrollmentCompleted,
    EnrollmentFailed,
    SponsorMatched,
    WorkerWaitlisted,
)
from shared.masking import mask_nik
from shared.validation import MAX_COMMITMENT_TEXT, NIK_WARNING_CODES, Reason, rejection_reasons

log = logging.getLogger(__name__)
Store = SponsorshipStore
Ctx = MessageContext[Any, Store]


class Acting(Protocol):
    """What matching needs to act: the store (in this transaction) and the outbox. A consumer's
    MessageContext is one; the daily coverage job (coverage.py) makes its own."""

    @property
    def store(self) -> Store: ...

    def publish(self, event: EventModel, *, event_id: str | None = None) -> Envelope: ...


MAX_RESERVATION_TRIES = 20
WAITLIST_PAGE = 50  # at least this many waiting workers are read at a time


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return value[:MAX_COMMITMENT_TEXT] if isinstance(value, str) else None


def _worker_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "WORKER_MISMATCH", "worker_id is not a worker id")


def _enrollment_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "UNKNOWN_ENROLLMENT", "enrollment_id is not an id we issued")


async def contributions_paid(ctx: Ctx, lines: list[ledger.MemberMonth], paid_from: str) -> None:
    """The ledger lines a payment (`paid_from`, its payment id) just paid go to BPJS as
    ContributionPaid, through the outbox in the payment's transaction (contributions.py): they
    stay `paid` until BPJS confirms them, and the daily job re-sends those it does not."""
    await contributions.send_paid_months(
        ctx.store, ctx.publisher, lines, paid_from, correlation_id=ctx.incoming.correlation_id
    )


class SponsorshipHandlers:
    def __init__(self, settings: SponsorshipSettings, feed_key: FeedKey | None = None) -> None:
        self.settings = settings
        self.feed_key = feed_key or settings.feed_key()
        clock.check_skew()

    async def _pricing(self, ctx: Acting) -> Pricing:
        """Coverage priced as it would start today (Jakarta), once per message, by the stored tariff
        table (read once per transaction)."""
        return Pricing(
            await ctx.store.tariff_table(),
            clock.today_in_jakarta(),
            self.settings.apply_discount_to_company_paid,
        )

    # --- commitments -------------------------------------------------------------------------

    async def on_commitment_submitted(self, ctx: Ctx) -> None:
        """A company's commitment: store it with its budget, then sponsor waitlisted workers it covers."""
        raw = ctx.incoming.json_object()
        result = validate_commitment(raw)
        if isinstance(result, list):
            await self._reject_commitment(ctx, raw, result)
            return
        pricing = await self._pricing(ctx)
        budget = commitment_budget(result, pricing)
        if not await ctx.store.add_commitment(result, budget):
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
        await self.sponsor_waitlisted(ctx, result.commitment_id, pricing)

    async def _reject_commitment(self, ctx: Ctx, raw: dict[str, Any], reasons: list[Reason]) -> None:
        event = CommitmentRejected(
            commitment_id=_text(raw, "commitment_id"),
            company_id=_text(raw, "company_id"),
            reasons=rejection_reasons(reasons),
            rejected_at=clock.now(),
        )
        ctx.publish(event)

    async def sponsor_waitlisted(self, ctx: Acting, commitment_id: str, pricing: Pricing) -> None:
        """Give the commitment's free slots to the waitlisted workers it covers, in registration
        order: the store's pages come in waitlist order (domain.waitlist_position), the registry's
        registration_seq first, not the order events arrived here nor a host's clock. A suspended
        commitment gives none."""
        commitment = await ctx.store.commitment(commitment_id)
        assert commitment is not None
        if commitment.suspended_on is not None:
            return
        await ctx.store.lock_kecamatan_exclusive(commitment.covered_codes)
        after: WaitlistPosition | None = None
        while True:
            commitment = await ctx.store.commitment(commitment_id)
            assert commitment is not None
            if commitment.free_slots <= 0:
                return
            page = await ctx.store.waitlisted_covered_by(
                commitment, max(commitment.free_slots, WAITLIST_PAGE), after
            )
            if not page:
                return
            after = page[-1].position
            free = commitment.free_slots
            for worker in page:
                coverage = pricing.coverage(
                    commitment.package, commitment.months, worker.declared_income_idr, worker.occupation
                )
                if await ctx.store.reserve_slot(commitment_id, coverage.total_contribution_idr):
                    await self._request_enrollment(ctx, worker, commitment, coverage, pricing)
                    free -= 1
                    if free == 0:
                        return

    # --- workers -----------------------------------------------------------------------------

    async def on_worker_registered(self, ctx: MessageContext[WorkerRegistered, Store]) -> None:
        """A newly registered worker: reserve a slot of the best-fitting commitment, or waitlist."""
        announced = ctx.event
        worker = await ctx.store.add_worker(announced)
        if worker is None:
            return
        if worker.status == "funded_elsewhere":
            # Another payer's list named them before this announcement came: never matched, and
            # not told they wait for a sponsor.
            log.info("worker funded elsewhere: not matched", extra={"worker_id": announced.worker_id})
            return
        await ctx.store.lock_kecamatan_shared(announced.kecamatan_code)
        if await self.match(ctx, worker) is not None:
            return
        waitlisted = WorkerWaitlisted(
            worker_id=announced.worker_id,
            full_name=announced.full_name,
            phone=announced.phone,
            kecamatan_code=announced.kecamatan_code,
            kecamatan_name=announced.kecamatan_name,
            waitlisted_at=clock.now(),
        )
        ctx.publish(waitlisted)
        ctx.publish(
            feed.worker_waitlisted(
                self.feed_key,
                waitlisted.worker_id,
                kecamatan_code=waitlisted.kecamatan_code,
                kecamatan_name=waitlisted.kecamatan_name,
                occupation=announced.occupation,
                at=waitlisted.waitlisted_at,
            )
        )

    async def on_worker_funded_elsewhere(self, ctx: MessageContext[WorkerFundedElsewhere, Store]) -> None:
        """Another payer funds the worker (a funder list imported after they registered): a
        waitlisted worker is withdrawn, never matched; one whose enrollment is requested or
        confirmed keeps it, flagged for the office (BPJS has it; cancelling is the office's
        decision); one not announced here yet is remembered, and withdrawn when announced."""
        notice = ctx.event
        _worker_id(notice.worker_id)
        outcome = await ctx.store.note_funded_elsewhere(notice)
        log.info(
            "worker funded elsewhere",
            extra={"worker_id": notice.worker_id, "funder": notice.funder, "outcome": outcome},
        )

    async def match(
        self,
        ctx: Acting,
        worker: WorkerToEnroll,
        pricing: Pricing | None = None,
        exclude: frozenset[str] = frozenset(),
        follows: uuid.UUID | None = None,
    ) -> StoredCommitment | None:
        """Reserve a slot of the best offer; another instance may take it first, then choose again.
        `pricing` dates the coverage (today's by default); `exclude`: commitments that may not
        take the worker (the one whose months they just had); `follows`: the enrollment this one
        continues. Returns the commitment, or None (no offer)."""
        wanted = worker.to_match()
        pricing = pricing or await self._pricing(ctx)
        for _ in range(MAX_RESERVATION_TRIES):
            open_now = {
                c.commitment_id: c
                for c in await ctx.store.open_commitments()
                if c.commitment_id not in exclude
            }
            chosen = choose_commitment(
                wanted, offers_for(wanted, [c.open() for c in open_now.values()], pricing)
            )
            if chosen is None:
                return None
            commitment = open_now[chosen.commitment.commitment_id]
            if await ctx.store.reserve_slot(commitment.commitment_id, chosen.cost_idr):
                await self._request_enrollment(ctx, worker, commitment, chosen.coverage, pricing, follows)
                return commitment
        raise RuntimeError("could not reserve a slot: too much contention; the batch will be retried")

    async def _request_enrollment(
        self,
        ctx: Acting,
        worker: WorkerToEnroll,
        commitment: StoredCommitment,
        coverage: Coverage,
        pricing: Pricing,
        follows: uuid.UUID | None = None,
    ) -> None:
        enrollment_id = await ctx.store.add_enrollment(
            worker_id=worker.worker_id,
            commitment_id=commitment.commitment_id,
            package=commitment.package,
            months=commitment.months,
            coverage_start=pricing.start,
            contribution_idr=coverage.total_contribution_idr,
            follows=follows,
        )
        worker_id = str(worker.worker_id)
        now = clock.now()
        ctx.publish(
            SponsorMatched(
                worker_id=worker_id,
                enrollment_id=str(enrollment_id),
                commitment_id=commitment.commitment_id,
                company_id=commitment.company_id,
                company_name=commitment.company_name,
                package=commitment.package,
                months=commitment.months,
                contribution_idr=coverage.total_contribution_idr,
                matched_at=now,
            ),
        )
        desa = f"Desa {worker.desa}, " if worker.desa else ""
        ctx.publish(
            EnrollmentRequested(
                enrollment_id=str(enrollment_id),
                worker_id=worker_id,
                nik=worker.nik,
                full_name=worker.full_name,
                birth_date=worker.birth_date,
                sex=worker.sex,
                phone=worker.phone,
                address=f"{desa}Kec. {worker.kecamatan_name}, Kab. Musi Banyuasin, Sumatera Selatan",
                kecamatan_code=worker.kecamatan_code,
                occupation=worker.occupation,
                declared_income_idr=coverage.declared_income_idr,
                package=commitment.package,
                months=commitment.months,
                coverage_start=pricing.start,
                monthly_contribution_idr=coverage.monthly_contribution_idr,
                total_contribution_idr=coverage.total_contribution_idr,
                payer=Payer(
                    company_id=commitment.company_id,
                    company_name=commitment.company_name,
                    commitment_id=commitment.commitment_id,
                ),
                requested_at=now,
                # The registry could not confirm these of the NIK: BPJS's Dukcapil check decides.
                nik_warnings=[code for code in worker.warnings if code in NIK_WARNING_CODES],
            ),
        )

    # --- answers from BPJS -------------------------------------------------------------------

    async def on_enrollment_confirmed(self, ctx: MessageContext[EnrollmentConfirmed, Store]) -> None:
        """BPJS enrolled the worker: record the KPJ number, coverage and membership, tell the story
        onward. An existing member (membership continued or resumed) is sponsored as any other:
        the slot and its budget stay used, the contributions are paid on their own KPJ number.

        In the same transaction its member-month lines are written (domain/ledger.py), each month
        priced by the stored tariff table for that month, and the reservation hands over to them:
        the commitment's use becomes the lines' total (`add_member_months`). A redelivered
        confirmation finds the enrollment confirmed and writes nothing."""
        answer = ctx.event
        done = await ctx.store.confirm_enrollment(
            _enrollment_id(answer.enrollment_id),
            _worker_id(answer.worker_id),
            answer.kpj_number,
            answer.coverage_start,
            answer.coverage_end,
            answer.confirmed_at,
            answer.membership,
        )
        if done is None:  # not a requested enrollment of this worker: say which case it is
            enrollment = await self._enrollment_for(ctx, answer.enrollment_id, answer.worker_id)
            if enrollment.status == "confirmed":
                return  # the same confirmation again
            raise PoisonMessage("ENROLLMENT_ALREADY_REJECTED", "a confirmation arrived after a rejection")
        enrollment_id, worker_id = _enrollment_id(answer.enrollment_id), _worker_id(answer.worker_id)
        coverage_end = ledger.coverage_end(answer.coverage_start, done.months)
        if answer.coverage_end != coverage_end:
            # A renewal while BPJS was answering, or BPJS's arithmetic differs: the sponsored
            # period follows the months sponsored (the lines, and the end the lifecycle reads).
            log.warning(
                "coverage end is not the months' end",
                extra={"enrollment_id": answer.enrollment_id, "coverage_end": str(answer.coverage_end)},
            )
            await ctx.store.extend_enrollment(enrollment_id, done.months, coverage_end)
        lines = ledger.member_months(
            done.sponsored(enrollment_id, worker_id, answer.coverage_start),
            await ctx.store.tariff_table(),
            self.settings.apply_discount_to_company_paid,
        )
        await ctx.store.add_member_months(lines, done.contribution_idr)
        completed = EnrollmentCompleted(
            worker_id=answer.worker_id,
            enrollment_id=answer.enrollment_id,
            full_name=done.full_name,
            phone=done.phone,
            nik_masked=mask_nik(done.nik),
            kecamatan_name=done.kecamatan_name,
            kpj_number=answer.kpj_number,
            coverage_start=answer.coverage_start,
            coverage_end=coverage_end,
            package=done.package,
            # What the sponsor pays for the coverage: its lines' total (the reservation's,
            # unless the tariff table changed since the request).
            contribution_idr=sum(line.contribution_idr for line in lines),
            company_id=done.company_id,
            company_name=done.company_name,
            company_email=done.email,
            company_webhook_url=done.webhook_url,
            completed_at=clock.now(),
            membership=answer.membership,
        )
        ctx.publish(completed)
        ctx.publish(
            feed.worker_enrolled(
                self.feed_key,
                completed,
                kecamatan_code=done.kecamatan_code,
                occupation=done.occupation,
                months=done.months,
            )
        )

    async def on_enrollment_rejected(self, ctx: MessageContext[EnrollmentRejected, Store]) -> None:
        """BPJS refused: release the slot and its budget, record why, and offer the slot onward."""
        answer = ctx.event
        enrollment = await self._enrollment_for(ctx, answer.enrollment_id, answer.worker_id)
        if enrollment.status == "rejected":
            return
        if enrollment.status == "confirmed":
            raise PoisonMessage("ENROLLMENT_ALREADY_CONFIRMED", "a rejection arrived after a confirmation")
        await ctx.store.reject_enrollment(
            enrollment.enrollment_id, answer.reason_code, answer.reason_message, answer.rejected_at
        )
        # The kecamatan locks before the commitment's row lock: the order every path takes them in.
        commitment = await ctx.store.commitment(enrollment.commitment_id)
        assert commitment is not None
        await ctx.store.lock_kecamatan_exclusive(commitment.covered_codes)
        await ctx.store.release_slot(enrollment.commitment_id, enrollment.contribution_idr)
        await ctx.store.set_worker_status(enrollment.worker_id, "failed")
        worker = await ctx.store.worker(enrollment.worker_id)
        ctx.publish(
            EnrollmentFailed(
                worker_id=answer.worker_id,
                enrollment_id=answer.enrollment_id,
                full_name=worker.full_name,
                phone=worker.phone,
                reason_code=answer.reason_code,
                reason_message=answer.reason_message,
                failed_at=clock.now(),
            ),
        )
        await self.sponsor_waitlisted(ctx, enrollment.commitment_id, await self._pricing(ctx))

    async def on_contribution_confirmed(self, ctx: MessageContext[ContributionConfirmed, Store]) -> None:
        """BPJS confirmed a paid month: the ledger line becomes confirmed, the proof of the month
        (contributions.record_confirmation; the same confirmation again changes nothing)."""
        answer = ctx.event
        _worker_id(answer.worker_id)
        changed = await contributions.record_confirmation(ctx.store, answer)
        log.info(
            "contribution confirmed" if changed else "contribution confirmed again",
            extra={
                "enrollment_id": answer.enrollment_id,
                "worker_id": answer.worker_id,
                "month": answer.month.isoformat(),
                "payment_id": answer.payment_id,
            },
        )

    async def _enrollment_for(self, ctx: Ctx, enrollment_id: str, worker_id: str) -> Enrollment:
        enrollment = await ctx.store.lock_enrollment(_enrollment_id(enrollment_id))
        if enrollment is None:
            raise PoisonMessage("UNKNOWN_ENROLLMENT", f"no enrollment {enrollment_id} was requested")
        if str(enrollment.worker_id) != worker_id:
            raise PoisonMessage("WORKER_MISMATCH", "the answer names another worker than the request")
        return enrollment

    # --- payments ----------------------------------------------------------------------------

    async def on_payment_submitted(self, ctx: Ctx) -> None:
        """A company's payment (the office records it on the company's behalf): refused with every
        reason, or allocated to the company's open lines (invoiced or missed) oldest month first,
        those lines marked paid, the payment and the credit it leaves stored, PaymentRecorded
        published, all in one transaction. The same (company, reference) again changes nothing.

        Each line is due on its month's due date (the 15th or the next working day), which is
        what decides on time or late."""
        raw = ctx.incoming.json_object()
        payment = validate_payment(raw, today=clock.today_in_jakarta())
        if isinstance(payment, list):
            ctx.publish(payment_rejected(raw, payment, rejected_at=clock.now()))
            return
        credit = await ctx.store.lock_company_credit(payment.company_id)
        if await ctx.store.payment_known(payment.company_id, payment.reference):
            log.info("payment recorded before", extra={"company_id": payment.company_id})
            return
        # A line is due with its invoice (a month billed late, on the next month's invoice, is
        # due with that one); a line on no invoice, by its own month's due date.
        calendar = programme_calendar()
        due_dates = await ctx.store.invoice_due_dates(payment.company_id)
        lines = [
            open_line(
                line,
                due_dates.get(line.invoice_id or "") or calendar.contribution_due_date(Month.of(line.month)),
            )
            for line in await ctx.store.open_lines(payment.company_id)
        ]
        allocation = allocate(payment, lines, credit_idr=credit)
        now = clock.now()
        paid = [
            await ctx.store.mark_paid(uuid.UUID(p.line.enrollment_id), p.line.month.first_day, now)
            for p in allocation.paid
        ]
        await ctx.store.record_payment(payment, allocation, now)
        ctx.publish(payment_recorded(payment, allocation, recorded_at=now))
        await contributions_paid(ctx, paid, payment_id(payment.company_id, payment.reference))
        # Paid what it missed: a commitment suspended by a lapse matches again.
        pricing = None
        for commitment_id in await ctx.store.resume_paid_up(payment.company_id):
            log.info("commitment resumed", extra={"commitment_id": commitment_id})
            pricing = pricing or await self._pricing(ctx)
            await self.sponsor_waitlisted(ctx, commitment_id, pricing)

    # --- renewals ----------------------------------------------------------------------------

    async def on_commitment_extension_submitted(self, ctx: Ctx) -> None:
        """A company renews a commitment: `months` more for each worker it sponsors (their new
        lines follow the last, so no month twice and no day's gap; each worker told) and for
        those it will sponsor; the budget grows by the added months' cost at its slots. Refused
        with every reason; the same (commitment, reference) again changes nothing."""
        raw = ctx.incoming.json_object()
        extension = validate_extension(raw)
        if isinstance(extension, list):
            ctx.publish(extension_rejected(raw, extension, rejected_at=clock.now()))
            return
        commitment = await ctx.store.commitment(extension.commitment_id)
        if commitment is not None:
            # The kecamatan locks before the commitment's row lock: the order every path takes.
            await ctx.store.lock_kecamatan_exclusive(commitment.covered_codes)
            commitment = await ctx.store.lock_commitment(extension.commitment_id)
        # A redelivered renewal is known before its months are checked: once applied, the
        # commitment's months may be at the limit the renewal itself took them to.
        if (
            commitment is not None
            and commitment.company_id == extension.company_id
            and await ctx.store.extension_known(extension.commitment_id, extension.reference)
        ):
            log.info("renewal applied before", extra={"commitment_id": extension.commitment_id})
            return
        problems = extension_problems(extension, commitment)
        if problems:
            ctx.publish(extension_rejected(raw, problems, rejected_at=clock.now()))
            return
        assert commitment is not None
        pricing = await self._pricing(ctx)
        added_budget = budget_idr(pricing, commitment.package, commitment.slots, extension.months)
        now = clock.now()
        await ctx.store.extend_commitment(
            commitment.commitment_id, extension.reference, extension.months, added_budget, now
        )
        tariffs = await ctx.store.tariff_table()
        extended = 0
        for enrollment in await ctx.store.live_enrollments_of(commitment.commitment_id):
            months = enrollment.months + extension.months
            if enrollment.status == "requested":
                # Its lines are written at confirmation, from the months it has by then.
                await ctx.store.extend_enrollment(enrollment.enrollment_id, months, None)
                continue
            longer = replace(enrollment.sponsored(), months=months)
            added = set(coverage.new_months(enrollment.coverage_start, enrollment.months, extension.months))
            lines = [
                line
                for line in ledger.member_months(
                    longer, tariffs, self.settings.apply_discount_to_company_paid
                )
                if line.month in added
            ]
            await ctx.store.add_member_months(lines, 0)
            end = coverage.extended_end(enrollment.coverage_start, months)
            await ctx.store.extend_enrollment(enrollment.enrollment_id, months, end)
            extended += 1
            ctx.publish(
                CoverageExtended(
                    worker_id=str(enrollment.worker_id),
                    enrollment_id=str(enrollment.enrollment_id),
                    full_name=enrollment.full_name,
                    phone=enrollment.phone,
                    commitment_id=commitment.commitment_id,
                    company_id=commitment.company_id,
                    company_name=commitment.company_name,
                    months_added=extension.months,
                    coverage_end=end,
                    extended_at=now,
                )
            )
        ctx.publish(
            CommitmentExtended(
                commitment_id=commitment.commitment_id,
                company_id=commitment.company_id,
                reference=extension.reference,
                months_added=extension.months,
                months=commitment.months + extension.months,
                budget_idr=commitment.budget_idr + added_budget,
                workers_extended=extended,
                extended_at=now,
            )
        )
        # More budget may open slots that waited for it.
        await self.sponsor_waitlisted(ctx, commitment.commitment_id, pricing)
