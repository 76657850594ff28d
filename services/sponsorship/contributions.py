"""Paid months told to BPJS (ContributionPaid) and BPJS's confirmations recorded in the ledger
(ContributionConfirmed): the seam between the payments and the member-month ledger.

The seam for payments: the payment handler (handlers.on_payment_submitted, through
`handlers.contributions_paid`) marks the lines a payment pays and calls `send_paid_months(store,
publisher, lines, payment_id)` in the SAME transaction, with the handler's publisher: each line's
ContributionPaid (naming the payment's id, as PaymentRecorded does) goes out through the outbox
exactly when the payment commits, never without it.

Ids: a ContributionPaid's CloudEvents id is uuid5 of payment, enrollment, month and attempt
(`contribution_paid_id`): a redelivered payment (its transaction replayed) writes no second row;
a re-send (attempt 2, 3 ...) is a new event, which BPJS answers with the confirmation it gave or
would have given (simulators/bpjs/domain.contribution_answer_id: the same id whatever the attempt).

Reconciliation: the daily job "contribution-resend" (`resend_job`, 06:00 WIB) sends again each
paid line BPJS has not confirmed whose last sending is SPONSORSHIP_CONFIRMATION_RESEND_DAYS
programme days old or more (`resend_overdue`): attempt + 1, stamped with the run's due moment, in
the run's transaction. Running the same moment again finds the lines sent at that moment, so
re-sends nothing; a run rolled back and run again counts the same attempt, so writes the same
event id. A confirmation BPJS lost is recovered within the resend days plus a day. Every paid line
without a confirmation, with how often it was sent, is shown by GET /api/reconciliation
(`unconfirmed`); PUT /api/reconciliation re-sends them at once (`resend_unconfirmed`, the office).

No ContributionRejected: the simulator holds no bill or member register to reject against
(simulators/bpjs/domain.py); a month BPJS does not credit stays paid and unconfirmed, visible here.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from services.sponsorship.domain import ledger
from services.sponsorship.repository import PgSponsorshipStore, SentContribution, SponsorshipStore
from shared import clock
from shared.consumer import PoisonMessage, Publisher, parse_uuid
from shared.db import Conn
from shared.events.bpjs import ContributionConfirmed, ContributionPaid
from shared.outbox import add_rows
from shared.scheduler import Job, daily

log = logging.getLogger(__name__)

NAMESPACE: Final = uuid.uuid5(
    uuid.NAMESPACE_URL, "https://disnaker.mubakab.go.id/muba/sponsorship/contributions"
)


def contribution_paid_id(payment_id: str, enrollment_id: uuid.UUID | str, month: date, attempt: int) -> str:
    return str(
        uuid.uuid5(NAMESPACE, f"contribution-paid:{payment_id}:{enrollment_id}:{month.isoformat()}:{attempt}")
    )


def _event(sent: SentContribution) -> ContributionPaid:
    line = sent.line
    if line.state != "paid" or line.paid_at is None:
        raise ledger.LedgerTransitionError(
            f"the {line.month:%Y-%m} line of enrollment {line.enrollment_id} is {line.state}:"
            " only a paid month is sent to BPJS"
        )
    if sent.kpj_number is None or sent.payment_id is None:
        raise RuntimeError(f"enrollment {line.enrollment_id}: a paid month without a KPJ number or payment")
    return ContributionPaid(
        payment_id=sent.payment_id,
        enrollment_id=str(line.enrollment_id),
        worker_id=str(line.worker_id),
        kpj_number=sent.kpj_number,
        month=line.month,
        amount_idr=line.contribution_idr,
        paid_at=line.paid_at.astimezone(UTC),
        attempt=sent.attempts,
    )


def _publish(publisher: Publisher, sent: SentContribution, correlation_id: str | None) -> ContributionPaid:
    event = _event(sent)
    publisher.publish(
        event,
        correlation_id=correlation_id,
        event_id=contribution_paid_id(event.payment_id, event.enrollment_id, event.month, event.attempt),
    )
    return event


async def send_paid_month(
    store: SponsorshipStore,
    publisher: Publisher,
    enrollment_id: uuid.UUID,
    month: date,
    payment_id: str,
    *,
    correlation_id: str | None = None,
) -> ContributionPaid:
    """Tell BPJS the line (just marked paid, in this transaction) was paid from `payment_id`.
    LedgerTransitionError when the line is not paid (the caller's transaction is to roll back)."""
    sent = await store.note_contribution_sent(enrollment_id, month, payment_id, clock.now())
    return _publish(publisher, sent, correlation_id)


async def send_paid_months(
    store: SponsorshipStore,
    publisher: Publisher,
    lines: Sequence[ledger.MemberMonth],
    payment_id: str,
    *,
    correlation_id: str | None = None,
) -> list[ContributionPaid]:
    """`send_paid_month` for each line a payment just paid (the payment handler's seam)."""
    return [
        await send_paid_month(
            store, publisher, line.enrollment_id, line.month, payment_id, correlation_id=correlation_id
        )
        for line in lines
    ]


RESEND_JOB: Final = "contribution-resend"
# Lines re-sent per run at most: a larger backlog goes on with the next day's run.
RESEND_LIMIT: Final = 2000


def resend_cutoff(due_at: datetime, resend_days: int) -> datetime:
    """An unconfirmed month last sent at or before this moment is sent again at `due_at`."""
    if resend_days < 1:
        raise ValueError(f"resend days must be at least 1, got {resend_days}")
    return due_at - timedelta(days=resend_days)


async def resend_overdue(
    store: SponsorshipStore,
    publisher: Publisher,
    due_at: datetime,
    resend_days: int,
    limit: int = RESEND_LIMIT,
) -> list[ContributionPaid]:
    """Send again (attempt + 1, stamped `due_at`) each paid, unconfirmed line last sent
    `resend_days` or more before `due_at`; the events are in `publisher`."""
    resent = []
    for found in await store.contributions_to_resend(resend_cutoff(due_at, resend_days), limit):
        sent = await store.note_contribution_sent(found.line.enrollment_id, found.line.month, None, due_at)
        resent.append(_publish(publisher, sent, None))
    if resent:
        log.info(
            "unconfirmed contributions sent again",
            extra={"due_at": due_at.isoformat(), "lines": len(resent), "resend_days": resend_days},
        )
    return resent


def resend_job(start: datetime, topic_prefix: str, resend_days: int) -> Job:
    """The scheduled job (daily, 06:00 WIB, from `start`). It needs no catch-up of missed days:
    each run re-sends every line overdue at its moment, however long the service was down."""
    resend_cutoff(start, resend_days)  # refuses a bad setting when the service is built

    async def run(conn: Conn, due_at: datetime) -> None:
        publisher = Publisher("sponsorship", topic_prefix)
        await resend_overdue(PgSponsorshipStore(conn), publisher, due_at, resend_days)
        await add_rows(conn, publisher.rows)

    return Job(RESEND_JOB, daily(6), run, start)


@dataclass(frozen=True)
class Resent:
    """What a re-send did: the months sent again, and paid months that were never sent (no
    payment id recorded with them: the payment path missed the seam; the office looks)."""

    resent: list[ContributionPaid]
    never_sent: list[SentContribution]


async def unconfirmed(
    store: SponsorshipStore, older_than_days: int, limit: int = 1000
) -> list[SentContribution]:
    """Paid lines with no confirmation from BPJS, paid more than `older_than_days` days ago."""
    return await store.unconfirmed_paid(clock.now() - timedelta(days=older_than_days), limit)


async def resend_unconfirmed(
    store: SponsorshipStore, publisher: Publisher, older_than_days: int, limit: int = 1000
) -> Resent:
    """Send again each month `unconfirmed` finds (attempt + 1): BPJS answers each with the same
    confirmation, so re-sending a month it did confirm meanwhile changes nothing."""
    resent, never_sent = [], []
    now = clock.now()
    for found in await unconfirmed(store, older_than_days, limit):
        if found.attempts == 0:
            never_sent.append(found)
            continue
        sent = await store.note_contribution_sent(found.line.enrollment_id, found.line.month, None, now)
        resent.append(_publish(publisher, sent, None))
    return Resent(resent, never_sent)


async def record_confirmation(store: SponsorshipStore, answer: ContributionConfirmed) -> bool:
    """BPJS confirmed a paid month: the line becomes confirmed (True), or was already (False).
    A confirmation that cannot be of one of our paid lines is parked (PoisonMessage, so a dead
    letter the office can replay once it is sorted out): UNKNOWN_ENROLLMENT, UNKNOWN_MEMBER_MONTH,
    WORKER_MISMATCH, AMOUNT_MISMATCH (BPJS credited another amount than the line's), and
    CONTRIBUTION_NOT_PAID (the line is not paid here: a ContributionPaid is only ever sent with
    the payment that made it paid, so this is a mix-up to look at, not a proof to record)."""
    enrollment_id = parse_uuid(
        answer.enrollment_id, "UNKNOWN_ENROLLMENT", "enrollment_id is not an id we issued"
    )
    lines: Sequence[ledger.MemberMonth] = await store.member_months(enrollment_id)
    if not lines:
        raise PoisonMessage("UNKNOWN_ENROLLMENT", f"enrollment {enrollment_id} has no months here")
    line = next((x for x in lines if x.month == answer.month), None)
    if line is None:
        raise PoisonMessage(
            "UNKNOWN_MEMBER_MONTH", f"enrollment {enrollment_id} has no {answer.month:%Y-%m} line"
        )
    if str(line.worker_id) != answer.worker_id:
        raise PoisonMessage("WORKER_MISMATCH", "the confirmation names another worker than the line")
    if answer.amount_idr != line.contribution_idr:
        raise PoisonMessage(
            "AMOUNT_MISMATCH",
            f"BPJS confirmed {answer.amount_idr} IDR for a {line.contribution_idr} IDR month",
        )
    if line.state == "confirmed":
        return False
    if line.state != "paid":
        raise PoisonMessage(
            "CONTRIBUTION_NOT_PAID", f"the {answer.month:%Y-%m} line is {line.state}, not paid"
        )
    await store.mark_confirmed(enrollment_id, answer.month, answer.confirmed_at)
    return True


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def shown(found: SentContribution, kpj: str | None) -> dict[str, object]:
    """One unconfirmed month as the reconciliation shows it (`kpj`: masked by the caller's role)."""
    line = found.line
    return {
        "enrollment_id": str(line.enrollment_id),
        "worker_id": str(line.worker_id),
        "commitment_id": line.commitment_id,
        "company_id": line.company_id,
        "month": line.month.isoformat()[:7],
        "contribution_idr": line.contribution_idr,
        "kpj_number": kpj,
        "paid_at": _iso(line.paid_at),
        "payment_id": found.payment_id,
        "attempts": found.attempts,
        "resent": max(found.attempts - 1, 0),
        "last_sent_at": _iso(found.last_sent_at),
    }
