"""The BPJS side's handlers: an enrollment request in (contracts.ENROLLMENT_REQUESTED), one
answer out through the outbox, a confirmation or a rejection (ENROLLMENT_CONFIRMED / _REJECTED);
a paid month in (CONTRIBUTION_PAID), its confirmation out (CONTRIBUTION_CONFIRMED), unless the
rules lose it (domain.confirm_contribution).

The shared runtime does the rest: the inbox drops a redelivered request, the answer's outbox row
commits with the inbox claim, and a request that breaks the contract (not JSON, not the model,
months < 1) is dead-lettered to "<topic>.dlq" with the shared dlq_* headers. The answer's
CloudEvents id is `answer_id(enrollment_id)`, so even a second reader of the log (another consumer
group of the same schema) records no second answer: the outbox keeps one row per event id.
"""

import asyncio
import logging
import time

from shared.consumer import MessageContext, PoisonMessage
from shared.db import Conn
from shared.events.bpjs import ContributionPaid, EnrollmentConfirmed, EnrollmentRequested
from simulators.bpjs.domain import (
    Rules,
    answer_id,
    confirm_contribution,
    contribution_answer_id,
    decide,
)

log = logging.getLogger(__name__)


class BpjsHandlers:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    async def on_enrollment_requested(self, ctx: MessageContext[EnrollmentRequested, Conn]) -> None:
        """Answer an enrollment request by the simulated rules."""
        ctx.json_object()  # NOT_JSON, NOT_A_JSON_OBJECT
        request = ctx.event  # CONTRACT_VIOLATION
        try:
            answer = decide(request, self.rules)
        except (ValueError, OverflowError) as exc:
            raise PoisonMessage("CONTRACT_VIOLATION", str(exc)) from None
        await self._processing_time(ctx.incoming.timestamp_ms, self.rules.processing_time.total_seconds())
        # The contract gives topic, key (worker_id), type and source (the BPJS office's).
        envelope = ctx.publish(answer, event_id=answer_id(answer.enrollment_id))
        log.info(
            "enrollment answered",
            extra={
                "enrollment_id": request.enrollment_id,
                "worker_id": request.worker_id,
                "outcome": "confirmed" if isinstance(answer, EnrollmentConfirmed) else "rejected",
                "reason_code": getattr(answer, "reason_code", None),
                "event_id": envelope.id,
                "correlation_id": envelope.correlation_id,
            },
        )

    async def on_contribution_paid(self, ctx: MessageContext[ContributionPaid, Conn]) -> None:
        """Confirm a paid month (or lose it, by the rules). The answer's id is the month's
        (`contribution_answer_id`): a redelivered or re-sent month adds no second answer."""
        ctx.json_object()
        paid = ctx.event
        answer = confirm_contribution(paid, self.rules)
        extra = {
            "payment_id": paid.payment_id,
            "enrollment_id": paid.enrollment_id,
            "worker_id": paid.worker_id,
            "month": paid.month.isoformat(),
            "attempt": paid.attempt,
        }
        if answer is None:
            log.info("contribution lost (simulated)", extra=extra)
            return
        await self._processing_time(ctx.incoming.timestamp_ms, self.rules.contribution_delay.total_seconds())
        envelope = ctx.publish(
            answer, event_id=contribution_answer_id(paid.payment_id, paid.enrollment_id, paid.month)
        )
        log.info("contribution confirmed", extra=extra | {"event_id": envelope.id})

    async def _processing_time(self, written_ms: int, delay_s: float) -> None:
        """Hold the answer until `delay_s` (SIMULATOR_DELAY_MS, SIMULATOR_CONTRIBUTION_DELAY_MS)
        after the message was written. A shutdown meanwhile cancels the batch: nothing of it is
        committed, its next reader answers it."""
        if delay_s <= 0:
            return
        wait_s = min(written_ms / 1000 + delay_s - time.time(), delay_s)
        if wait_s > 0:
            await asyncio.sleep(wait_s)
