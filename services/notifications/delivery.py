"""The sender: a background loop that hands queued notifications to a gateway and records each
outcome as soon as that message's own send returns, with the event that tells it (outbox).

    queued --claim (lease)--> send --> sent (accepted)  --receipt--> delivered | failed
                                   |                     (a webhook: delivered at once)
                                   +-> queued, tried again later (backoff) ... -> failed (cap, reason)
                                   +-> failed at once (refused for good)

A claim is one short statement: it leases the rows (pushes `next_attempt_at` on by the lease and
sets a claim id) and counts the attempt; no lock is held while sending. Several senders claim side
by side and never take the same row. Each row is recorded right after its send returns, with
the acceptances that came back meanwhile (one transaction for all of them and their events: one
when the load is low, many under load), so a slow send delays nobody else and a stop or crash can
only leave rows that were not answered (or not recorded) yet: they come back when the lease runs
out (at once after a clean stop), and the provider sees the same idempotency key again. Delays
grow exponentially with the attempts, bounded *before* exponentiation and jittered; after
`max_attempts` the row is closed as `failed` with the reason.
"""

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

import asyncpg
import httpx

from services.notifications import repository
from services.notifications.repository import Closed, ReceiptApplied, StoredNotification
from shared.consumer import Publisher
from shared.db import Conn
from shared.events import EventModel
from shared.events.notifications import (
    FailedStage,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    Provider,
)
from shared.masking import mask_recipient, mask_text_quoting
from shared.outbox import add_rows

log = logging.getLogger(__name__)

T = TypeVar("T")

# 2^30 times any base delay is beyond every sensible ceiling: capping the exponent first keeps
# the arithmetic finite for any number of attempts.
_MAX_EXPONENT: Final = 30
_ERROR_MAX_CHARS: Final = 500
# At most this many acceptances in one transaction (under load; fewer when fewer returned).
SENT_BATCH: Final = 200


def retry_delay(
    attempts: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after failed attempt number `attempts` (1 = the first).

    base * 2^(attempts-1), at most max_s, with "equal jitter" (a uniform pick in the upper half)
    so that rows which failed together do not come back together. Works for any `attempts`.
    """
    exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
    ceiling = min(max_s, base_s * float(2**exponent))
    return ceiling / 2 + rand() * ceiling / 2


def masked_error(error: BaseException | str, notification: StoredNotification) -> str:
    """The error as operators may see it (`last_error`, logs): the recipient masked, any other
    phone number or NIK masked, at most 500 characters."""
    text = error if isinstance(error, str) else (f"{type(error).__name__}: {error}".rstrip(": ") or "error")
    return mask_text_quoting(text, notification.channel, notification.recipient)[:_ERROR_MAX_CHARS]


class PermanentRefusal(Exception):
    """The provider will never accept this message (bad address, refused content): no retry."""


class TemporaryFailure(Exception):
    """The provider could not take the message now; `retry_after_s` when it said how long to wait."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Accepted:
    """What a provider said when it took a message: who it is, its id for the message (receipts
    name it), and whether that answer is the delivery itself (a company's webhook receiver)."""

    provider: Provider
    message_id: str | None = None
    delivered: bool = False


class Gateway(Protocol):
    async def send(self, notification: StoredNotification) -> Accepted | None:
        """Hand the message to its provider and return once the provider accepted it (None: a
        provider that says nothing more than "accepted", the generic gateway).

        Pass `notification.idempotency_key` on to the provider (an HTTP `Idempotency-Key`, an
        e-mail's Message-ID, ...): it is the same on every attempt, so a repeat after an
        unanswered attempt can be dropped there. Raise PermanentRefusal when the provider will
        never take it; any other exception means "try again later".
        """


class ChannelGateway:
    """Hands each message to the gateway of its channel (`email` to SMTP, ...); a channel without
    one of its own goes to `default` (the provider gateway, or the logging stand-in)."""

    def __init__(self, default: Gateway, by_channel: dict[str, Gateway]) -> None:
        self.default = default
        self.by_channel = by_channel

    async def send(self, notification: StoredNotification) -> Accepted | None:
        return await self.by_channel.get(notification.channel, self.default).send(notification)


class LoggingGateway:
    """Stands in for the SMS, WhatsApp, e-mail and webhook providers, which are not reachable
    from here: it only logs that a message went out (never the body or the real address)."""

    async def send(self, notification: StoredNotification) -> Accepted:
        log.info(
            "notification sent",
            extra={
                "notification_id": notification.id,
                "template": notification.template,
                "audience": notification.audience,
                "channel": notification.channel,
                "recipient": mask_recipient(notification.channel, notification.recipient),
            },
        )
        return Accepted("log")


def retry_after(response: httpx.Response) -> float | None:
    with contextlib.suppress(KeyError, ValueError):
        return max(float(response.headers["retry-after"]), 0.0)
    return None


class HttpSender:
    """The HTTP side every gateway that POSTs shares: one connection pool (`start()` / `stop()`,
    the runtime's background protocol; `post` opens it on first use when nobody started it),
    redirects never followed, and what each answer means. 2xx: accepted. 408, 429, 5xx, any other
    answer, timeouts and connection errors: try again later (Retry-After honoured). Any other 4xx:
    refused for good. `what` names the other side in the reasons; `detail` adds what it said."""

    def __init__(
        self,
        what: str,
        *,
        detail: bool,
        timeout_s: float = 10.0,
        max_connections: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.what = what
        self.detail = detail
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.transport = transport  # unit tests hand in an in-memory one
        # 4xx answers that mean "not now" rather than "never" (a provider may add its own).
        self.retried_statuses: frozenset[int] = frozenset({408, 429})
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s,
                limits=httpx.Limits(max_connections=self.max_connections),
                follow_redirects=False,
                transport=self.transport,
            )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def post(self, url: str, **request: Any) -> httpx.Response:
        self.start()
        assert self._client is not None
        try:
            response = await self._client.post(url, **request)
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"{self.what} timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            said = f": {exc}" if self.detail else ""
            raise TemporaryFailure(f"{self.what} unreachable ({type(exc).__name__}{said})") from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        answer = f"{self.what} answered HTTP {status}"
        if self.detail:
            answer = f"{answer}: {response.text[:200]}".rstrip(": ")
        if 400 <= status < 500 and status not in self.retried_statuses:
            raise PermanentRefusal(answer)
        raise TemporaryFailure(answer, retry_after(response))


class HttpGateway(HttpSender):
    """Sends every message as one JSON POST to a provider gateway (`NOTIFICATIONS_GATEWAY_URL`).

    Body: notification_id, idempotency_key, channel, recipient, subject, body, template, audience;
    header `Idempotency-Key`. What the answers mean: HttpSender.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        max_connections: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the gateway URL must start with http:// or https://")
        super().__init__(
            "gateway", detail=True, timeout_s=timeout_s, max_connections=max_connections, transport=transport
        )
        self.url = url

    @staticmethod
    def payload(notification: StoredNotification) -> dict[str, Any]:
        n = notification
        return {
            "notification_id": n.id,
            "idempotency_key": n.idempotency_key,
            "channel": n.channel,
            "recipient": n.recipient,
            "subject": n.subject,
            "body": n.body,
            "template": n.template,
            "audience": n.audience,
        }

    async def send(self, notification: StoredNotification) -> Accepted:
        await self.post(
            self.url,
            json=self.payload(notification),
            headers={"Idempotency-Key": notification.idempotency_key},
        )
        return Accepted("gateway")


def _about(n: StoredNotification) -> dict[str, Any]:
    """What every delivery event says of its message (and keys it by: worker, else submission)."""
    return {
        "notification_id": str(n.id),
        "worker_id": str(n.worker_id) if n.worker_id else None,
        "submission": n.submission,
        "template": n.template,
        "audience": n.audience,
        "channel": n.channel,
    }


def sent_event(n: StoredNotification, accepted: Accepted, at: datetime) -> NotificationSent:
    return NotificationSent(
        **_about(n),
        recipient_masked=mask_recipient(n.channel, n.recipient),
        provider=accepted.provider,
        provider_message_id=accepted.message_id,
        sms_segments=n.sms_segments,
        attempts=max(n.attempts, 1),
        sent_at=at,
    )


def delivered_event(
    n: StoredNotification, provider: Provider, message_id: str | None, at: datetime
) -> NotificationDelivered:
    return NotificationDelivered(
        **_about(n), provider=provider, provider_message_id=message_id, delivered_at=at
    )


def failed_event(closed: Closed, stage: FailedStage, provider: Provider | None = None) -> NotificationFailed:
    n = closed.notification
    return NotificationFailed(
        **_about(n),
        provider=provider,
        stage=stage,
        reason=closed.reason[:_ERROR_MAX_CHARS],
        attempts=n.attempts,
        failed_at=closed.at,
    )


def receipt_event(applied: ReceiptApplied) -> NotificationDelivered | NotificationFailed:
    """What a provider's receipt closed the message as."""
    provider: Provider = applied.provider  # type: ignore[assignment]  # the receipts' routes name ours
    if applied.status == "delivered":
        return delivered_event(applied.notification, provider, applied.provider_message_id, applied.at)
    code = f" (error {applied.error_code})" if applied.error_code else ""
    reason = f"the provider could not deliver it{code}"
    return failed_event(Closed(applied.notification, reason, applied.at), "undelivered", provider)


async def publish_events(conn: Conn, topic_prefix: str, events: list[EventModel]) -> None:
    """Write the events into the outbox, in the caller's transaction (the relay sends them)."""
    if events:
        publisher = Publisher("notifications", topic_prefix)
        for event in events:
            publisher.publish(event)
        await add_rows(conn, publisher.rows)


class DeliveryWorker:
    """See the module docstring. `deliver_batch()` sends one batch and returns (tests);
    `start()` / `stop()` run the loop in the background (the service)."""

    def __init__(
        self,
        pool_getter: Callable[[], asyncpg.Pool],
        gateway: Gateway,
        *,
        batch_size: int = 50,
        idle_poll_s: float = 0.5,
        send_timeout_s: float = 10.0,
        lease_s: float = 60.0,
        max_attempts: int = 30,
        retry_base_delay_s: float = 30.0,
        retry_max_delay_s: float = 3600.0,
        stop_timeout_s: float = 10.0,
        topic_prefix: str = "",
    ) -> None:
        if lease_s <= send_timeout_s:
            raise ValueError("the lease must outlast a send (lease_s > send_timeout_s)")
        if max_attempts < 1 or batch_size < 1:
            raise ValueError("max_attempts and batch_size must be at least 1")
        self.pool_getter = pool_getter
        self.gateway = gateway
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.send_timeout_s = send_timeout_s
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.retry_base_delay_s = retry_base_delay_s
        self.retry_max_delay_s = retry_max_delay_s
        self.stop_timeout_s = stop_timeout_s
        self.topic_prefix = topic_prefix
        # Outcomes since start: accepted by the provider, postponed for another attempt, closed as failed.
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        # Claimed rows whose send has not returned yet: what a stop hands back (id -> claim id).
        self._unanswered: dict[int, uuid.UUID] = {}
        # Acceptances waiting for the writer, which records them in batches (`_record_sent`).
        self._accepted: list[tuple[StoredNotification, Accepted, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run_forever(), name="notification-delivery")

    async def stop(self, timeout_s: float | None = None) -> None:
        """Claim nothing more, wait (up to the timeout) for the sends in flight and record each
        outcome; then cancel what is left and hand those rows back for the next sender."""
        self._stop.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.stop_timeout_s if timeout_s is None else timeout_s)
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), max(deadline - loop.time(), 0.01))
            if not self._task.done():  # stuck in a claim (database away): nothing of it was sent
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=max(deadline - loop.time(), 0.0))
        cut_off = set(self._in_flight)
        for task in cut_off:
            task.cancel()
        if cut_off:
            await asyncio.gather(*cut_off, return_exceptions=True)
        if self._writer is not None:  # acceptances of sends that returned: recorded, not handed back
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), max(deadline - loop.time(), 2.0))
        if self._unanswered:
            unanswered, self._unanswered = dict(self._unanswered), {}
            log.warning(
                "sender stopped before the provider answered; handing the messages back",
                extra={"notification_ids": sorted(unanswered)},
            )
            for claim_id in set(unanswered.values()):
                ids = [i for i, c in unanswered.items() if c == claim_id]
                with contextlib.suppress(Exception):  # else the lease brings them back
                    async with asyncio.timeout(2.0), self.pool_getter().acquire() as conn:
                        await repository.release(conn, ids, claim_id)

    async def deliver_batch(self) -> int:
        """Claim one batch, send it concurrently and record each outcome as its send returns;
        returns how many rows were claimed (sent or closed as out of attempts)."""
        claim_id, claimed, given_up = await self._claim(self.batch_size)
        tasks = [self._spawn(n, claim_id) for n in claimed]
        if tasks:
            await asyncio.wait(tasks)
        return len(claimed) + given_up

    async def _claim(self, limit: int) -> tuple[uuid.UUID, list[StoredNotification], int]:
        claim_id = uuid.uuid4()
        async with self.pool_getter().acquire() as conn, conn.transaction():
            claim = await repository.claim_due(
                conn, limit, claim_id=claim_id, lease_s=self.lease_s, max_attempts=self.max_attempts
            )
            await self._publish(conn, [failed_event(c, "exhausted") for c in claim.given_up])
        if claim.given_up:
            self.failed += len(claim.given_up)
            log.warning(
                "notifications failed: no answer after the last attempt",
                extra={
                    "notification_ids": [c.notification.id for c in claim.given_up],
                    "max_attempts": self.max_attempts,
                },
            )
        for n in claim.to_send:
            self._unanswered[n.id] = claim_id
        return claim_id, claim.to_send, len(claim.given_up)

    def _spawn(self, notification: StoredNotification, claim_id: uuid.UUID) -> asyncio.Task[None]:
        task = asyncio.create_task(
            self._deliver(notification, claim_id), name=f"notification-{notification.id}"
        )
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    async def _deliver(self, notification: StoredNotification, claim_id: uuid.UUID) -> None:
        """Send one message and record its outcome in its own statement."""
        n = notification
        error: BaseException | None = None
        accepted: Accepted | None = None
        try:
            async with asyncio.timeout(self.send_timeout_s):
                accepted = await self.gateway.send(n)
        except PermanentRefusal as exc:
            error = exc
        except TimeoutError:
            error = TemporaryFailure(f"no answer within {self.send_timeout_s:g} s")
        except Exception as exc:
            error = exc
        # From here on the provider has answered: a stop no longer hands this row back.
        self._unanswered.pop(n.id, None)
        if error is None:
            if await self._record_sent(n, accepted or Accepted("gateway")):
                self.sent += 1
            return
        reason = masked_error(error, n)
        extra = {
            "notification_id": n.id,
            "template": n.template,
            "channel": n.channel,
            "recipient": mask_recipient(n.channel, n.recipient),
            "attempt": n.attempts,
            "error": reason,
        }
        if isinstance(error, PermanentRefusal) or n.attempts >= self.max_attempts:
            if not isinstance(error, PermanentRefusal):
                reason = f"gave up after {n.attempts} attempts; last error: {reason}"[:_ERROR_MAX_CHARS]
            log.warning("notification failed for good", extra=extra)
            stage: FailedStage = "refused" if isinstance(error, PermanentRefusal) else "exhausted"
            if await self._record(n, "failed", self._mark_failed, n, claim_id, reason, stage):
                self.failed += 1
            return
        delay = retry_delay(n.attempts, self.retry_base_delay_s, self.retry_max_delay_s)
        retry_after = error.retry_after_s if isinstance(error, TemporaryFailure) else None
        if retry_after is not None:
            delay = min(max(delay, retry_after), self.retry_max_delay_s)
        log.warning("notification not sent; will retry", extra=extra | {"retry_in_s": round(delay, 1)})
        if await self._record(n, "postponed", repository.postpone, n.id, claim_id, delay, reason):
            self.retried += 1

    async def _publish(self, conn: Conn, events: list[EventModel]) -> None:
        await publish_events(conn, self.topic_prefix, events)

    async def _record_sent(self, n: StoredNotification, accepted: Accepted) -> bool:
        """Hand the acceptance to the writer; True once it is recorded (False: it was recorded
        before, or could not be, and the lease brings the row back)."""
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._accepted.append((n, accepted, recorded))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_accepted(), name="notification-sent-writer")
        # Shielded: a send cancelled by a stop still has its acceptance recorded by the writer.
        return await asyncio.shield(recorded)

    async def _write_accepted(self) -> None:
        """Record the acceptances waiting, a transaction per batch: what returns while one batch
        is written joins the next, so a batch is as large as the load makes it (adaptive)."""
        await asyncio.sleep(0)  # the sends that return in this same turn of the loop join in
        while self._accepted:
            batch, self._accepted = self._accepted[:SENT_BATCH], self._accepted[SENT_BATCH:]
            recorded = await self._record_batch([(n, a) for n, a, _ in batch])
            for n, _, done in batch:
                if not done.done():
                    done.set_result(n.id in recorded)
                    recorded.discard(n.id)  # a second acceptance of the same row is no news

    async def _record_batch(self, batch: list[tuple[StoredNotification, Accepted]]) -> set[int]:
        """`_mark_sent` for the batch; the ids it recorded (none when the database stays away)."""
        return await self._retrying(
            lambda conn: self._mark_sent(conn, batch),
            set(),
            "could not record notifications as sent; they are sent again after their lease",
            {"notification_ids": sorted(n.id for n, _ in batch)},
        )

    async def _mark_sent(self, conn: Conn, batch: list[tuple[StoredNotification, Accepted]]) -> set[int]:
        """Record the acceptances with notification-sent (and -delivered for a webhook, or for a
        receipt that came before this record) in one transaction; the ids recorded now."""
        async with conn.transaction():
            sent = await repository.mark_sent_many(
                conn,
                [repository.Acceptance(n.id, a.provider, a.message_id, a.delivered) for n, a in batch],
            )
            events: list[EventModel] = []
            announced: set[int] = set()
            for n, accepted in batch:
                at = sent.get(n.id)
                if at is None or n.id in announced:
                    continue
                announced.add(n.id)
                events.append(sent_event(n, accepted, at.sent_at))
                if at.delivered_at is not None:
                    events.append(delivered_event(n, accepted.provider, accepted.message_id, at.delivered_at))
                elif accepted.message_id is not None:
                    applied = await repository.apply_receipts(conn, accepted.provider, accepted.message_id)
                    if applied is not None:
                        events.append(receipt_event(applied))
            await self._publish(conn, events)
        return announced

    async def _mark_failed(
        self, conn: Conn, n: StoredNotification, claim_id: uuid.UUID, reason: str, stage: FailedStage
    ) -> bool:
        async with conn.transaction():
            at = await repository.mark_failed(conn, n.id, claim_id, reason)
            if at is None:
                return False
            await self._publish(conn, [failed_event(Closed(n, reason, at), stage)])
        return True

    async def _record(
        self, n: StoredNotification, outcome: str, mark: Callable[..., Awaitable[bool]], *args: Any
    ) -> bool:
        """Run one marking statement; False when it never lands."""
        return await self._retrying(
            lambda conn: mark(conn, *args),
            False,
            "could not record a notification's outcome; it is sent again after its lease",
            {"notification_id": n.id, "outcome": outcome},
        )

    async def _retrying(
        self, write: Callable[[Conn], Awaitable[T]], failed: T, message: str, extra: dict[str, Any]
    ) -> T:
        """Run `write` on a pooled connection, retried briefly while the database is away;
        `failed` when it never lands: the lease brings the rows back and the provider sees the
        same idempotency key again."""
        for wait in (0.2, 0.5, 1.0, 2.0, None):
            try:
                async with self.pool_getter().acquire() as conn:
                    return await write(conn)
            except Exception as exc:
                if wait is None:
                    log.error(message, extra=extra | {"error": repr(exc)})
                    return failed
                await asyncio.sleep(wait)
        return failed

    async def _run_forever(self) -> None:
        """Keep up to `batch_size` sends in flight; claim more as slots free up."""
        backoff = 0.2
        while not self._stop.is_set():
            free = self.batch_size - len(self._in_flight)
            if free <= 0:
                stopping = asyncio.ensure_future(self._stop.wait())
                await asyncio.wait({*self._in_flight, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                continue
            try:
                claim_id, claimed, given_up = await self._claim(free)
                backoff = 0.2
            except Exception as exc:
                log.warning(
                    "claiming notifications failed; retrying",
                    extra={"error": repr(exc), "retry_in_s": backoff},
                )
                wait = backoff
                backoff = min(backoff * 2, 5.0)
            else:
                for n in claimed:
                    self._spawn(n, claim_id)
                if len(claimed) + given_up >= free:
                    continue  # more may be due
                wait = self.idle_poll_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):  # not wait_for: on 3.11 it may swallow a cancellation
                    await self._stop.wait()
