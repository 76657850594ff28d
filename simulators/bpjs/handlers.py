"""The BPJS side's one handler: an enrollment request in (contracts.ENROLLMENT_REQUESTED), one
answer out through the outbox, a confirmation or a rejection (ENROLLMENT_CONFIRMED / _REJECTED).

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
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRequested
from simulators.bpjs.domain import Rules, answer_id, decide

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
        await self._processing_time(ctx.incoming.timestamp_ms)
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

    async def _processing_time(self, written_ms: int) -> None:
        """Hold the answer until SIMULATOR_DELAY_MS after the request was written. A shutdown
        meanwhile cancels the batch: nothing of it is committed, its next reader answers it."""
        delay_s = self.rules.processing_time.total_seconds()
        if delay_s <= 0:
            return
        wait_s = min(written_ms / 1000 + delay_s - time.time(), delay_s)
        if wait_s > 0:
            await asyncio.sleep(wait_s)
