"""The daily coverage job (shared/scheduler.py): at 00:00 WIB of each programme day D, in the one
transaction that records the run, the rules of services/sponsorship/domain/coverage.py in their
order: lines missed, memberships lapsed, coverage periods ended (the worker to a fallback sponsor
or the waitlist), notices of coming ends, then D's numbers (CoverageReported). A crash leaves
nothing behind and the day runs again; a day already run finds nothing left to do.

On a day when a coverage ends or lapses the job takes every kecamatan's lock first, in code order,
before any row lock, so no matching runs beside its re-matches; on other days it takes none.
(A consumer's batch takes its kecamatan's shared locks as its messages come: a deadlock with it is
PostgreSQL's to detect, and the run or the batch is retried.)"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from services.sponsorship.domain import coverage, feed, ledger
from services.sponsorship.domain.matching import WorkerToMatch, choose_commitment, offers_for
from services.sponsorship.domain.tariffs import Pricing
from services.sponsorship.handlers import SponsorshipHandlers
from services.sponsorship.repository import (
    LiveEnrollment,
    PgCoverageStore,
    PgSponsorshipStore,
    StoredCommitment,
)
from shared.calendar import day_starts_at, jakarta_date
from shared.consumer import Publisher
from shared.db import Conn
from shared.envelope import Envelope
from shared.events import EventModel
from shared.events.sponsorship import CoverageEnded, CoverageEnding, CoverageReported, WorkerWaitlisted
from shared.kecamatan import KECAMATAN
from shared.outbox import add_rows
from shared.scheduler import Job, daily

log = logging.getLogger(__name__)

COVERAGE_JOB = "coverage"
EVENTS = uuid.UUID("5b0e2a7c-93d1-5f4a-8c6e-2d7f1b9a4e63")  # uuid5 namespace of the job's event ids


@dataclass
class JobActions:
    """The job's `Acting` (handlers.py): the store and the outbox of the run's transaction."""

    store: PgSponsorshipStore
    publisher: Publisher
    published: list[EventModel] = field(default_factory=list)

    def publish(self, event: EventModel, *, event_id: str | None = None) -> Envelope:
        self.published.append(event)
        return self.publisher.publish(event, event_id=event_id)


def _event_id(*parts: object) -> str:
    """The same event for the same fact, whichever run publishes it."""
    return str(uuid.uuid5(EVENTS, "/".join(str(p) for p in parts)))


@dataclass
class DayResult:
    day: date
    missed: int = 0
    lapsed: int = 0
    ended: int = 0
    fallback: int = 0
    waitlisted: int = 0
    notices: int = 0
    counts: coverage.DayCounts | None = None


class CoverageDay:
    """One run of the job for day D."""

    def __init__(
        self, conn: Conn, handlers: SponsorshipHandlers, topic_prefix: str, due_at: datetime
    ) -> None:
        self.conn = conn
        self.handlers = handlers
        self.store = PgSponsorshipStore(conn)
        self.coverage = PgCoverageStore(conn)
        self.actions = JobActions(self.store, Publisher("sponsorship", topic_prefix))
        self.due_at = due_at
        self.day = jakarta_date(due_at)
        self.result = DayResult(self.day)

    async def run(self) -> DayResult:
        self.result.missed = await self.coverage.mark_missed(self.day, self.due_at)
        if await self.coverage.anything_ends(self.day, coverage.LAPSE_AFTER_MISSED_MONTHS):
            # Slots are released and workers matched again: every kecamatan's lock first (before
            # any row lock), as matching takes them; most days nothing ends and none is taken.
            await self.store.lock_kecamatan_exclusive(KECAMATAN)
            await self._lapse()
            await self._end_periods()
        await self._notices()
        await self._count()
        await add_rows(self.conn, self.actions.publisher.rows)
        return self.result

    # --- lapse and end ------------------------------------------------------------------------

    async def _lapse(self) -> None:
        for enrollment in await self.coverage.lapse_candidates(coverage.LAPSE_AFTER_MISSED_MONTHS):
            states = await self.coverage.line_states(enrollment.enrollment_id)
            if not coverage.lapses(states):
                continue  # missed months, but a paid one breaks the run
            await self.coverage.end_enrollment(enrollment.enrollment_id, "lapsed", self.day)
            await self.coverage.drop_future_lines(
                enrollment.enrollment_id, enrollment.commitment_id, ledger.month_start(self.day)
            )
            await self.coverage.suspend_commitment(enrollment.commitment_id, self.day)
            self.result.lapsed += 1
            await self._after_end(
                enrollment,
                "lapsed",
                last_covered_day=self.day - timedelta(days=1),
                next_start=self.day,
                months_unpaid=coverage.missed_run(states),
            )

    async def _end_periods(self) -> None:
        for enrollment in await self.coverage.ending_by(self.day):
            assert enrollment.coverage_end is not None
            last = enrollment.coverage_end
            await self.coverage.end_enrollment(enrollment.enrollment_id, "ended", last + timedelta(days=1))
            self.result.ended += 1
            await self._after_end(
                enrollment,
                "period_ended",
                last_covered_day=last,
                next_start=coverage.next_coverage_start(last),
            )

    async def _after_end(
        self,
        enrollment: LiveEnrollment,
        reason: Literal["period_ended", "lapsed"],
        *,
        last_covered_day: date,
        next_start: date,
        months_unpaid: int = 0,
    ) -> None:
        """Release the slot (its budget stays drawn by the lines owed), offer it to whoever waits,
        then match the worker again from `next_start`, never to the commitment just left."""
        await self.store.release_slot(enrollment.commitment_id, 0)
        table = await self.store.tariff_table()
        apply_discount = self.handlers.settings.apply_discount_to_company_paid
        if reason == "period_ended":
            await self.handlers.sponsor_waitlisted(
                self.actions, enrollment.commitment_id, await self._pricing()
            )
        worker = await self.store.worker(enrollment.worker_id)
        pricing = Pricing(table, next_start, apply_discount)
        chosen = await self.handlers.match(
            self.actions,
            worker,
            pricing,
            exclude=frozenset({enrollment.commitment_id}),
            follows=enrollment.enrollment_id,
        )
        if chosen is None:
            await self.store.set_worker_status(enrollment.worker_id, "waitlisted")
            self.result.waitlisted += 1
            self.actions.publish(
                WorkerWaitlisted(
                    worker_id=str(worker.worker_id),
                    full_name=worker.full_name,
                    phone=worker.phone,
                    kecamatan_code=worker.kecamatan_code,
                    kecamatan_name=worker.kecamatan_name,
                    waitlisted_at=self.due_at,
                ),
                event_id=_event_id("waitlisted", enrollment.enrollment_id),
            )
            self.actions.publish(
                feed.worker_waitlisted(
                    self.handlers.feed_key,
                    str(worker.worker_id),
                    kecamatan_code=worker.kecamatan_code,
                    kecamatan_name=worker.kecamatan_name,
                    occupation=worker.occupation,
                    at=self.due_at,
                ),
                event_id=_event_id("feed-waitlisted", enrollment.enrollment_id),
            )
        else:
            self.result.fallback += 1
        ended = _ended(enrollment, reason, last_covered_day, months_unpaid, chosen, next_start, self.due_at)
        self.actions.publish(ended, event_id=_event_id("ended", enrollment.enrollment_id))
        self.actions.publish(
            feed.coverage_ended(
                self.handlers.feed_key, ended, next_company_id=chosen.company_id if chosen else None
            ),
            event_id=_event_id("feed-ended", enrollment.enrollment_id),
        )
        log.info(
            "coverage ended",
            extra={
                "enrollment_id": str(enrollment.enrollment_id),
                "reason": reason,
                "next": "fallback" if chosen else "waitlisted",
            },
        )

    async def _pricing(self) -> Pricing:
        return Pricing(
            await self.store.tariff_table(), self.day, self.handlers.settings.apply_discount_to_company_paid
        )

    # --- notices ------------------------------------------------------------------------------

    async def _notices(self) -> None:
        for enrollment in await self.coverage.ending_within(self.day, max(coverage.NOTICE_DAYS)):
            assert enrollment.coverage_end is not None
            due = coverage.notices_due(enrollment.coverage_end, self.day, enrollment.notices_sent())
            if due is None:
                continue
            for days in coverage.NOTICE_DAYS:
                if days >= due:  # the nearest notice stands for the farther ones not sent
                    await self.coverage.record_notice(enrollment.enrollment_id, days, enrollment.coverage_end)
            self.result.notices += 1
            self.actions.publish(
                CoverageEnding(
                    **enrollment.told(),
                    coverage_end=enrollment.coverage_end,
                    days_left=(enrollment.coverage_end - self.day).days,
                    noticed_at=self.due_at,
                ),
                event_id=_event_id("ending", enrollment.enrollment_id, enrollment.coverage_end, due),
            )

    # --- numbers ------------------------------------------------------------------------------

    async def _count(self) -> None:
        periods = [
            coverage.CoveragePeriod(
                worker_id=r["worker_id"],
                start=r["coverage_start"],
                last=r["last"] or ledger.coverage_end(r["coverage_start"], r["months"]),
                pending=r["pending"],
            )
            for r in await self.coverage.periods()
        ]
        pricing = await self._pricing()
        open_now = await self.store.open_commitments()
        waiting_with_room = [
            str(worker.worker_id)
            for worker, had in await self.coverage.waiting()
            if _would_take(worker.to_match(), open_now, had, pricing)
        ]
        counts = coverage.count_day(
            self.day,
            periods,
            waiting_with_room,
            await self.coverage.at_risk(),
            await self.coverage.paid_months(),
        )
        self.result.counts = counts
        if not await self.coverage.add_day(self.day, counts, self.due_at):
            return
        lost, gap_days = await self.coverage.totals(self.day)
        if counts.unplanned_gaps:
            log.error(
                "unplanned coverage gaps", extra={"day": str(self.day), "workers": counts.unplanned_gaps}
            )
        self.actions.publish(
            CoverageReported(
                day=self.day,
                workers_covered=counts.workers_covered,
                workers_uncovered=counts.workers_uncovered,
                coverage_days_lost=lost,
                unplanned_gaps=counts.unplanned_gaps,
                unplanned_gap_days=gap_days,
                members_at_risk=counts.members_at_risk,
                members_six_paid_months=counts.members_six_paid_months,
                reported_at=self.due_at,
            ),
            event_id=_event_id("day", self.day),
        )


def _would_take(
    wanted: WorkerToMatch, open_now: list[StoredCommitment], had: frozenset[str], pricing: Pricing
) -> bool:
    """Whether matching would give the waiting worker a slot now (what an unplanned gap is)."""
    offers = offers_for(wanted, [c.open() for c in open_now if c.commitment_id not in had], pricing)
    return choose_commitment(wanted, offers) is not None


def _ended(
    enrollment: LiveEnrollment,
    reason: Literal["period_ended", "lapsed"],
    last_covered_day: date,
    months_unpaid: int,
    chosen: StoredCommitment | None,
    next_start: date,
    at: datetime,
) -> CoverageEnded:
    return CoverageEnded(
        **enrollment.told(),
        reason=reason,
        last_covered_day=last_covered_day,
        months_unpaid=months_unpaid,
        next="fallback" if chosen else "waitlisted",
        next_company_name=chosen.company_name if chosen else None,
        next_coverage_start=next_start if chosen else None,
        ended_at=at,
    )


def coverage_job(start: date, topic_prefix: str, handlers: SponsorshipHandlers) -> Job:
    """The scheduled job, from 00:00 WIB of `start` (days before it never run)."""

    async def run(conn: Conn, due_at: datetime) -> None:
        result = await CoverageDay(conn, handlers, topic_prefix, due_at).run()
        if result.lapsed or result.ended or result.notices or result.missed:
            log.info(
                "coverage day",
                extra={
                    "day": str(result.day),
                    "missed": result.missed,
                    "lapsed": result.lapsed,
                    "ended": result.ended,
                    "fallback": result.fallback,
                    "waitlisted": result.waitlisted,
                    "notices": result.notices,
                },
            )

    return Job(COVERAGE_JOB, daily(0), run, day_starts_at(start))


COVERAGE_GAUGES = {
    "workers_covered": "Workers whose sponsored coverage includes the latest reported day",
    "workers_uncovered": "Workers covered before and not on the latest reported day",
    "unplanned_gaps": "Workers uncovered on the latest reported day while a commitment with room covered them (must be 0)",
    "members_at_risk": "Covered workers with a month unpaid after its due date, on the latest reported day",
    "members_six_paid_months": "Workers with 6 or more paid months (BPJS's KPI), on the latest reported day",
}


async def coverage_gauges(conn: Conn) -> dict[str, tuple[str, float]]:
    """The latest reported day's numbers as gauges (muba_coverage_*), and the totals since the start."""
    row = await conn.fetchrow("SELECT * FROM coverage_day ORDER BY day DESC LIMIT 1")
    if row is None:
        return {}
    lost, gap_days = await PgCoverageStore(conn).totals(row["day"])
    gauges = {f"muba_coverage_{k}": (text, float(row[k])) for k, text in COVERAGE_GAUGES.items()}
    gauges["muba_coverage_days_lost"] = (
        "Coverage-days lost since the start (sum of workers uncovered)",
        lost,
    )
    gauges["muba_coverage_unplanned_gap_days"] = ("Unplanned gap-days since the start (must be 0)", gap_days)
    return gauges
