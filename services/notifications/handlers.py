"""The notifications subscribers: parse the outcome event, decide the messages (domain), queue
each once (repository) and announce it (outbox). The delivery worker sends what is queued and
announces what became of it (services/notifications/delivery.py)."""

import logging
import uuid
from collections.abc import Callable
from typing import Any

from services.notifications import domain
from services.notifications.domain import Notification
from services.notifications.repository import NotificationsStore
from services.notifications.settings import NotificationsSettings
from shared.consumer import MessageContext, PoisonMessage, parse_uuid
from shared.events.notifications import NotificationStored
from shared.events.registry import RegistrationRejected
from shared.events.sponsorship import (
    CoverageEnded,
    CoverageEnding,
    CoverageExtended,
    EnrollmentCompleted,
    EnrollmentFailed,
    InvoiceIssued,
    InvoiceReminder,
    WorkerWaitlisted,
)
from shared.masking import mask_recipient

Store = NotificationsStore
Ctx = MessageContext[Any, Store]

log = logging.getLogger(__name__)


def _build(builder: Callable[[], list[Notification]]) -> list[Notification]:
    """The domain's messages; data it cannot send to (e.g. no mobile number) never will be: dead-letter."""
    try:
        return builder()
    except ValueError as exc:
        raise PoisonMessage("UNSENDABLE", str(exc)) from None


def _worker_uuid(worker_id: str) -> uuid.UUID:
    return parse_uuid(worker_id, "CONTRACT_VIOLATION", "worker_id: not a UUID")


class NotificationsHandlers:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    async def on_registration_rejected(self, ctx: MessageContext[RegistrationRejected, Store]) -> None:
        """The registry refused a registration: tell the worker (when reachable) and the office."""
        event = ctx.event
        messages = _build(
            lambda: domain.registration_rejected(
                full_name=event.full_name,
                phone=event.phone,
                reasons=[(r.field, r.code, r.message) for r in event.reasons],
                source=event.source or "",
                office_email=self.settings.office_email,
            )
        )
        await self._queue(ctx, messages, worker_id=None, submission=f"{event.source}/{event.submission_id}")

    async def on_worker_waitlisted(self, ctx: MessageContext[WorkerWaitlisted, Store]) -> None:
        """No sponsor yet in the worker's kecamatan: tell them they are on the waitlist."""
        event = ctx.event
        worker_id = _worker_uuid(event.worker_id)
        await ctx.store.lock_worker(worker_id)
        if await ctx.store.was_told_enrolled(worker_id):
            # The topics are not ordered with each other: a waitlisting that arrives after the
            # enrollment is stale, and "you are on the waitlist" after "you are enrolled" is wrong.
            log.info(
                "waitlisted message skipped: the worker was told they are enrolled",
                extra={"worker_id": event.worker_id},
            )
            return
        messages = _build(
            lambda: domain.worker_waitlisted(
                worker_name=event.full_name,
                worker_phone=event.phone,
                worker_channel=self.settings.worker_channel,
                kecamatan_name=event.kecamatan_name,
            )
        )
        await self._queue(ctx, messages, worker_id=worker_id)

    async def on_enrollment_completed(self, ctx: MessageContext[EnrollmentCompleted, Store]) -> None:
        """BPJS enrolled the worker: tell the worker their KPJ and coverage, and the sponsoring company."""
        event = ctx.event
        worker_id = _worker_uuid(event.worker_id)
        await ctx.store.lock_worker(worker_id)  # see on_worker_waitlisted
        messages = _build(
            lambda: domain.enrollment_completed(
                worker_name=event.full_name,
                worker_phone=event.phone,
                worker_channel=self.settings.worker_channel,
                kpj_number=event.kpj_number,
                coverage_start=event.coverage_start,
                coverage_end=event.coverage_end,
                package=event.package,
                company_name=event.company_name,
                company_email=event.company_email,
                company_webhook_url=event.company_webhook_url,
                # The event carries only the masked NIK; mask_nik keeps an already masked one as it is
                # ('160601********03') and masks anything longer that slipped through.
                nik=event.nik_masked,
                kecamatan_name=event.kecamatan_name,
                office_email=self.settings.office_email,
                membership=event.membership,  # a new membership, or the worker's own continued/resumed
            )
        )
        await self._queue(ctx, messages, worker_id=worker_id, company_id=event.company_id)

    async def on_enrollment_failed(self, ctx: MessageContext[EnrollmentFailed, Store]) -> None:
        """BPJS refused the enrollment: tell the worker why and what to do, and the office."""
        event = ctx.event
        worker_id = _worker_uuid(event.worker_id)
        messages = _build(
            lambda: domain.enrollment_failed(
                worker_name=event.full_name,
                worker_phone=event.phone,
                worker_channel=self.settings.worker_channel,
                reason_code=event.reason_code,
                reason_message=event.reason_message,
                office_email=self.settings.office_email,
            )
        )
        await self._queue(ctx, messages, worker_id=worker_id)

    async def on_invoice_issued(self, ctx: MessageContext[InvoiceIssued, Store]) -> None:
        """A company's invoice is out: tell the company (e-mail and/or webhook), once per event."""
        event = ctx.event
        messages = _build(
            lambda: domain.invoice_issued(
                invoice_id=event.invoice_id,
                invoice_number=event.invoice_number,
                company_name=event.company_name,
                company_email=event.company_email,
                company_webhook_url=event.company_webhook_url,
                month=event.month,
                lines_count=event.lines_count,
                total_idr=event.total_idr,
                due_date=event.due_date,
                csv_url=self.settings.invoice_csv_url,
            )
        )
        await self._queue(ctx, messages, worker_id=None, company_id=event.company_id)

    async def on_invoice_reminder(self, ctx: MessageContext[InvoiceReminder, Store]) -> None:
        """An invoice is still unpaid before or after its due date: remind the company, once per event
        (sponsorship sends each reminder of an invoice once, under an event id of its own)."""
        event = ctx.event
        messages = _build(
            lambda: domain.invoice_reminder(
                invoice_id=event.invoice_id,
                invoice_number=event.invoice_number,
                company_name=event.company_name,
                company_email=event.company_email,
                company_webhook_url=event.company_webhook_url,
                month=event.month,
                due_date=event.due_date,
                kind=event.kind,
                days_from_due=event.days_from_due,
                unpaid_lines=event.unpaid_lines,
                unpaid_idr=event.unpaid_idr,
                csv_url=self.settings.invoice_csv_url,
            )
        )
        await self._queue(ctx, messages, worker_id=None, company_id=event.company_id)

    async def on_coverage_ending(self, ctx: MessageContext[CoverageEnding, Store]) -> None:
        """A worker's coverage ends soon: tell the worker and the company (so it can renew)."""
        event = ctx.event
        worker_id = _worker_uuid(event.worker_id)
        messages = _build(
            lambda: domain.coverage_ending(
                worker_name=event.full_name,
                worker_phone=event.phone,
                worker_channel=self.settings.worker_channel,
                kpj_number=event.kpj_number,
                company_name=event.company_name,
                company_email=event.company_email,
                company_webhook_url=event.company_webhook_url,
                coverage_end=event.coverage_end,
                days_left=event.days_left,
            )
        )
        await self._queue(ctx, messages, worker_id=worker_id, company_id=event.company_id)

    async def on_coverage_extended(self, ctx: MessageContext[CoverageExtended, Store]) -> None:
        """A renewal extended the worker's coverage: tell the worker there is no gap."""
        event = ctx.event
        worker_id = _worker_uuid(event.worker_id)
        messages = _build(
            lambda: domain.coverage_extended(
                worker_name=event.full_name,
                worker_phone=event.phone,
                worker_channel=self.settings.worker_channel,
                company_name=event.company_name,
                months_added=event.months_added,
                coverage_end=event.coverage_end,
            )
        )
        await self._queue(ctx, messages, worker_id=worker_id)

    async def on_coverage_ended(self, ctx: MessageContext[CoverageEnded, Store]) -> None:
        """A worker's coverage ended: the worker (what happens next), the company and the office."""
        event = ctx.event
        worker_id = _worker_uuid(event.worker_id)
        messages = _build(
            lambda: domain.coverage_ended(
                worker_name=event.full_name,
                worker_phone=event.phone,
                worker_channel=self.settings.worker_channel,
                kpj_number=event.kpj_number,
                company_name=event.company_name,
                company_email=event.company_email,
                company_webhook_url=event.company_webhook_url,
                reason=event.reason,
                last_covered_day=event.last_covered_day,
                months_unpaid=event.months_unpaid,
                next_step=event.next,
                next_company_name=event.next_company_name,
                next_coverage_start=event.next_coverage_start,
                office_email=self.settings.office_email,
            )
        )
        await self._queue(ctx, messages, worker_id=worker_id, company_id=event.company_id)

    async def _queue(
        self,
        ctx: Ctx,
        messages: list[Notification],
        *,
        worker_id: uuid.UUID | None,
        submission: str | None = None,
        company_id: str | None = None,
    ) -> None:
        """Queue each message once per event and announce the ones queued now. `company_id`: the
        sponsor the company's messages are for (its secret signs their webhooks)."""
        identity = ctx.incoming.event_id
        for message in messages:
            queued = await ctx.store.queue(
                dedupe_key=domain.dedupe_key(identity, message),
                event_id=ctx.incoming.wire_id,
                worker_id=worker_id,
                notification=message,
                company_id=company_id,
                submission=submission,
            )
            if queued is None:
                continue  # this event already queued this message
            # notification-sent.v1 (deprecated): "stored for sending"; the sender publishes v2
            # when the provider accepts it.
            stored = NotificationStored(
                notification_id=str(queued.id),
                worker_id=str(worker_id) if worker_id else None,
                submission=submission,
                template=message.template,
                audience=message.audience,
                channel=message.channel,
                recipient_masked=mask_recipient(message.channel, message.recipient),
                sent_at=queued.created_at,
            )
            ctx.publish(stored)
