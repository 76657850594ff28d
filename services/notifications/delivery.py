"""The sender: a background loop that takes queued notifications and hands them to a gateway.

    notification (queued) -> claim (FOR UPDATE SKIP LOCKED) -> gateway.send -> delivered | retry later

Rows are claimed and marked in one transaction, so several instances never send the same row
at once. A crash after a send but before the commit sends that row again (at least once).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import asyncpg

from services.notifications import repository
from services.notifications.domain import mask_phone
from services.notifications.repository import StoredNotification

log = logging.getLogger(__name__)


def mask_recipient(channel: str, recipient: str) -> str:
    """What may be shown of an address outside this schema (events, logs).

    Phones keep their first 6 and last 4 characters; e-mails their first letter and domain;
    webhooks their scheme and host (paths and query strings often carry tokens).
    """
    value = recipient.strip()
    if channel in ("sms", "whatsapp"):
        return mask_phone(value)
    if channel == "email":
        local, at, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}" if at and local and domain else "***"
    if channel == "webhook":
        with contextlib.suppress(ValueError):
            url = urlsplit(value)
            if url.scheme and url.hostname:
                return f"{url.scheme}://{url.hostname}"
        return "***"
    return "***"


class Gateway(Protocol):
    async def send(self, notification: StoredNotification) -> None:
        """Hand the message to its provider; raise when it was not accepted."""


class LoggingGateway:
    """Stands in for the SMS, WhatsApp, e-mail and webhook providers, which are not reachable
    from here: it only logs that a message went out (never the body or the real address)."""

    async def send(self, notification: StoredNotification) -> None:
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


class DeliveryWorker:
    def __init__(
        self,
        pool_getter: Callable[[], asyncpg.Pool],
        gateway: Gateway,
        *,
        batch_size: int = 50,
        idle_poll_s: float = 0.5,
        send_timeout_s: float = 10.0,
        retry_base_delay_s: float = 30.0,
        retry_max_delay_s: float = 3600.0,
    ) -> None:
        self.pool_getter = pool_getter
        self.gateway = gateway
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.send_timeout_s = send_timeout_s
        self.retry_base_delay_s = retry_base_delay_s
        self.retry_max_delay_s = retry_max_delay_s
        self.delivered = 0
        self.failed = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run_forever(), name="notification-delivery")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the batch in hand (up to the timeout), then stop."""
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def deliver_batch(self) -> int:
        """Send one batch of due notifications; returns how many were claimed."""
        async with self.pool_getter().acquire() as conn, conn.transaction():
            batch = await repository.claim_due(conn, self.batch_size)
            if not batch:
                return 0
            sent = await asyncio.gather(*(self._send(n) for n in batch))
            delivered = [n.id for n, ok in zip(batch, sent, strict=True) if ok]
            failed = [n.id for n, ok in zip(batch, sent, strict=True) if not ok]
            await repository.mark_delivered(conn, delivered)
            await repository.postpone(conn, failed, self.retry_base_delay_s, self.retry_max_delay_s)
        self.delivered += len(delivered)
        self.failed += len(failed)
        return len(batch)

    async def _send(self, notification: StoredNotification) -> bool:
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await self.gateway.send(notification)
        except Exception as exc:
            masked = mask_recipient(notification.channel, notification.recipient)
            log.warning(
                "notification not sent; will retry",
                extra={
                    "notification_id": notification.id,
                    "template": notification.template,
                    "channel": notification.channel,
                    "recipient": masked,
                    "attempt": notification.attempts + 1,
                    "error": f"{type(exc).__name__}: {exc}".replace(notification.recipient, masked)[:500],
                },
            )
            return False
        return True

    async def _run_forever(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                claimed = await self.deliver_batch()
                backoff = 0.2
            except Exception as exc:
                log.warning("delivery failed; retrying", extra={"error": repr(exc), "retry_in_s": backoff})
                claimed, wait = 0, backoff
                backoff = min(backoff * 2, 5.0)
            else:
                wait = self.idle_poll_s
            if claimed < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), wait)
