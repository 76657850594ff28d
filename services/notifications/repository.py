"""SQL for the notifications schema only: the handlers' store (`NotificationsStore`, one per
transaction) and the delivery worker's functions on the pool."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

import asyncpg

from services.notifications.domain import TEMPLATE_ENROLLMENT_COMPLETED, Notification
from shared.db import Conn


@dataclass(frozen=True, slots=True)
class StoredNotification:
    """A row of `notification` as the delivery worker and the gateways see it.

    `attempts` counts this attempt (the claim counts it). `idempotency_key` is the same on every
    attempt of this message, from any sender instance: providers use it to drop repeats.
    """

    id: int
    worker_id: uuid.UUID | None
    template: str
    audience: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    attempts: int
    idempotency_key: str
    company_id: str | None = None  # whose secret signs a webhook
    submission: str | None = None  # the rejected registration it is about (the events' key)
    sms_segments: int | None = None
    attachment_url: str | None = None  # fetched and attached to the e-mail (an invoice's CSV)


@dataclass(frozen=True, slots=True)
class Queued:
    """What `queue` returns for a row it created."""

    id: int
    created_at: datetime


class NotificationsStore(Protocol):
    """What the handlers need of the notifications schema, within one transaction (the one that
    claims the message in the inbox and writes the outbox)."""

    async def queue(
        self,
        *,
        dedupe_key: str,
        event_id: str,
        worker_id: uuid.UUID | None,
        notification: Notification,
        company_id: str | None = None,
        submission: str | None = None,
    ) -> Queued | None:
        """Queue one message; None when a message with this dedupe key was queued before."""
        ...

    async def lock_worker(self, worker_id: uuid.UUID) -> None:
        """Serialise this transaction with every other one about the same worker's messages (until
        it ends), so "already enrolled?" and "tell them they are enrolled" cannot cross."""
        ...

    async def was_told_enrolled(self, worker_id: uuid.UUID) -> bool:
        """Whether the worker's own enrollment-completed message is queued or sent."""
        ...


class PgNotificationsStore:
    """`NotificationsStore` on the connection of one transaction."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def queue(
        self,
        *,
        dedupe_key: str,
        event_id: str,
        worker_id: uuid.UUID | None,
        notification: Notification,
        company_id: str | None = None,
        submission: str | None = None,
    ) -> Queued | None:
        n = notification
        row = await self.conn.fetchrow(
            "INSERT INTO notification (dedupe_key, event_id, worker_id, template, audience, channel,"
            " recipient, subject, body, company_id, submission, sms_segments, attachment_url)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, created_at",
            dedupe_key,
            event_id,
            worker_id,
            n.template,
            n.audience,
            n.channel,
            n.recipient,
            n.subject,
            n.body,
            company_id if n.audience == "company" else None,
            submission,
            n.sms_segments,
            n.attachment_url,
        )
        return Queued(row["id"], row["created_at"]) if row is not None else None

    async def lock_worker(self, worker_id: uuid.UUID) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('notifications:worker:' || $1::uuid::text, 0))",
            worker_id,
        )

    async def was_told_enrolled(self, worker_id: uuid.UUID) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM notification WHERE worker_id = $1"
                " AND template = $2 AND audience = 'worker')",
                worker_id,
                TEMPLATE_ENROLLMENT_COMPLETED,
            )
        )


# What the sender and the receipts read of a row: StoredNotification's fields.
_STORED = (
    "n.id, n.worker_id, n.template, n.audience, n.channel, n.recipient, n.subject, n.body, n.attempts,"
    " n.idempotency_key::text AS idempotency_key, n.company_id, n.submission, n.sms_segments, n.attachment_url"
)


_STORED_FIELDS = tuple(f.name for f in fields(StoredNotification))


def _stored(row: asyncpg.Record) -> StoredNotification:
    return StoredNotification(**{name: row[name] for name in _STORED_FIELDS})


@dataclass(frozen=True, slots=True)
class Closed:
    """A message closed as failed, with why and when (what notification-failed.v1 tells)."""

    notification: StoredNotification
    reason: str
    at: datetime
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """What one `claim_due` took: rows to send now, and rows it closed as out of attempts."""

    to_send: list[StoredNotification]
    given_up: list[Closed]


async def claim_due(
    conn: Conn, limit: int, *, claim_id: uuid.UUID, lease_s: float, max_attempts: int
) -> Claim:
    """Take up to `limit` queued rows that are due, for `lease_s` seconds, and count the attempt.

    One short statement (the caller's transaction writes the failed ones' events with it): the
    rows are leased, not locked while they are sent. SKIP LOCKED lets senders claim side by side,
    and the pushed-on `next_attempt_at` keeps a claimed row from every other sender until the
    lease runs out, when a crashed sender's rows come back. A due row that already used
    `max_attempts` (its last sender died mid-send, or the limit was lowered) is closed as failed
    instead of sent.
    """
    rows = await conn.fetch(
        "WITH due AS ("
        " SELECT id, attempts >= $4 AS exhausted FROM notification"
        " WHERE status = 'queued' AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE notification n SET"
        " attempts = CASE WHEN due.exhausted THEN n.attempts ELSE n.attempts + 1 END,"
        " claim_id = CASE WHEN due.exhausted THEN NULL ELSE $2::uuid END,"
        " next_attempt_at = CASE WHEN due.exhausted THEN n.next_attempt_at"
        " ELSE now() + make_interval(secs => $3) END,"
        " status = CASE WHEN due.exhausted THEN 'failed' ELSE n.status END,"
        " failed_at = CASE WHEN due.exhausted THEN now() END,"
        " last_error = CASE WHEN due.exhausted THEN left('no answer after ' || n.attempts || ' attempts'"
        " || coalesce('; last error: ' || n.last_error, ''), 1000) ELSE n.last_error END"
        f" FROM due WHERE n.id = due.id RETURNING n.status, n.last_error, n.failed_at, {_STORED}",
        limit,
        claim_id,
        lease_s,
        max_attempts,
    )
    to_send = sorted((_stored(r) for r in rows if r["status"] == "queued"), key=lambda n: n.id)
    given_up = sorted(
        (Closed(_stored(r), r["last_error"][:500], r["failed_at"]) for r in rows if r["status"] == "failed"),
        key=lambda c: c.notification.id,
    )
    return Claim(to_send, given_up)


@dataclass(frozen=True, slots=True)
class Sent:
    """What `mark_sent` recorded: when the provider accepted the message, and when it was
    delivered (at once for a webhook, whose receiver is the company's own system)."""

    sent_at: datetime
    delivered_at: datetime | None


async def mark_sent(
    conn: Conn, notification_id: int, *, provider: str, provider_message_id: str | None, delivered: bool
) -> Sent | None:
    """The provider accepted it. Counts whoever reports it (also a sender whose lease ran out, or
    whose row was closed as out of attempts meanwhile: the message did go out). None when it was
    recorded as sent before (nothing to announce again)."""
    sent = await mark_sent_many(conn, [Acceptance(notification_id, provider, provider_message_id, delivered)])
    return sent.get(notification_id)


@dataclass(frozen=True, slots=True)
class Acceptance:
    """A provider's acceptance of one message, to record with `mark_sent_many`."""

    notification_id: int
    provider: str
    provider_message_id: str | None
    delivered: bool


async def mark_sent_many(conn: Conn, accepted: Sequence[Acceptance]) -> dict[int, Sent]:
    """`mark_sent` for many messages in one statement: the ones recorded now, by id (a message
    recorded before is not there; one given twice is there once)."""
    if not accepted:
        return {}
    ordered = sorted(accepted, key=lambda a: a.notification_id)
    rows = await conn.fetch(
        "UPDATE notification n SET status = CASE WHEN m.delivered THEN 'delivered' ELSE 'sent' END,"
        " sent_at = now(), delivered_at = CASE WHEN m.delivered THEN now() END, failed_at = NULL,"
        " claim_id = NULL, last_error = NULL, provider = m.provider, provider_message_id = m.message_id"
        " FROM (SELECT DISTINCT ON (id) * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bool[])"
        "       AS u(id, provider, message_id, delivered) ORDER BY id) m"
        " WHERE n.id = m.id AND n.status IN ('queued', 'failed') AND n.sent_at IS NULL"
        " RETURNING n.id, n.sent_at, n.delivered_at",
        [a.notification_id for a in ordered],
        [a.provider for a in ordered],
        [a.provider_message_id for a in ordered],
        [a.delivered for a in ordered],
    )
    return {int(r["id"]): Sent(r["sent_at"], r["delivered_at"]) for r in rows}


async def postpone(conn: Conn, notification_id: int, claim_id: uuid.UUID, delay_s: float, error: str) -> bool:
    """The send failed for now: try again in `delay_s` seconds (the caller bounds it). Only the
    claim's owner may: False when the lease was lost to another sender or the row is closed."""
    status = await conn.execute(
        "UPDATE notification SET next_attempt_at = now() + make_interval(secs => $3), last_error = $4,"
        " claim_id = NULL WHERE id = $1 AND claim_id = $2 AND status = 'queued'",
        notification_id,
        claim_id,
        delay_s,
        error,
    )
    return status != "UPDATE 0"


async def mark_failed(conn: Conn, notification_id: int, claim_id: uuid.UUID, error: str) -> datetime | None:
    """Give up on this message for good (refused by the provider, or out of attempts): when it
    was closed, or None when the claim was lost or the row is closed already."""
    at: datetime | None = await conn.fetchval(
        "UPDATE notification SET status = 'failed', failed_at = now(), last_error = $3, claim_id = NULL"
        " WHERE id = $1 AND claim_id = $2 AND status = 'queued' RETURNING failed_at",
        notification_id,
        claim_id,
        error,
    )
    return at


async def release(conn: Conn, ids: Sequence[int], claim_id: uuid.UUID) -> None:
    """Hand claimed rows back at once (a stopping sender that could not finish their sends)."""
    if ids:
        await conn.execute(
            "UPDATE notification SET next_attempt_at = now(), claim_id = NULL"
            " WHERE id = ANY($1::bigint[]) AND claim_id = $2 AND status = 'queued'",
            list(ids),
            claim_id,
        )


# --- delivery receipts ----------------------------------------------------------------------------


async def record_receipt(
    conn: Conn, provider: str, provider_message_id: str, status: str, error_code: str | None
) -> bool:
    """Keep a verified receipt (`status`: delivered or failed); False when it was kept before."""
    done = await conn.execute(
        "INSERT INTO delivery_receipt (provider, provider_message_id, status, error_code)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        provider,
        provider_message_id,
        status,
        error_code,
    )
    return done != "INSERT 0 0"


@dataclass(frozen=True, slots=True)
class ReceiptApplied:
    """A message a receipt closed: delivered, or failed with the provider's error code."""

    notification: StoredNotification
    status: str
    at: datetime
    provider: str
    provider_message_id: str
    error_code: str | None


async def apply_receipts(conn: Conn, provider: str, provider_message_id: str) -> ReceiptApplied | None:
    """Close the message `provider_message_id` names with the first receipt kept for it, when the
    message is recorded as sent (a receipt may come first: it waits here until `mark_sent`, in the
    same transaction, calls this). The first final receipt wins; later ones only stay on record.
    Call inside a transaction: it first takes a lock of the message's id for the rest of it, so
    that a receipt and the record of the acceptance, committing side by side, cannot each miss
    the other (whichever comes second sees the first)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('notifications:receipt:' || $1 || ':' || $2, 0))",
        provider,
        provider_message_id,
    )
    receipt = await conn.fetchrow(
        "SELECT status, error_code FROM delivery_receipt WHERE provider = $1 AND provider_message_id = $2"
        " AND applied_at IS NULL ORDER BY received_at, status LIMIT 1",
        provider,
        provider_message_id,
    )
    if receipt is None:
        return None
    row = await conn.fetchrow(
        "UPDATE notification n SET status = $3,"
        " delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,"
        " failed_at = CASE WHEN $3 = 'failed' THEN now() END,"
        " last_error = CASE WHEN $3 = 'failed' THEN left('the provider could not deliver it'"
        " || coalesce(' (error ' || $4 || ')', ''), 1000) END"
        " WHERE provider = $1 AND provider_message_id = $2 AND status = 'sent'"
        f" RETURNING coalesce(n.delivered_at, n.failed_at) AS at, {_STORED}",
        provider,
        provider_message_id,
        receipt["status"],
        receipt["error_code"],
    )
    if row is None:
        known = await conn.fetchval(
            "SELECT status FROM notification WHERE provider = $1 AND provider_message_id = $2",
            provider,
            provider_message_id,
        )
        if known is None:
            return None  # not recorded as sent yet: mark_sent applies it
    # Applied now, or the message was closed before (an earlier receipt): either way it is done.
    await conn.execute(
        "UPDATE delivery_receipt SET applied_at = now() WHERE provider = $1 AND provider_message_id = $2"
        " AND applied_at IS NULL",
        provider,
        provider_message_id,
    )
    if row is None:
        return None
    return ReceiptApplied(
        _stored(row), receipt["status"], row["at"], provider, provider_message_id, receipt["error_code"]
    )


# --- what the API shows ----------------------------------------------------------------------------


async def counts(conn: Conn) -> list[asyncpg.Record]:
    """Per template, audience and channel: how many are queued, sent (accepted by the provider,
    no receipt yet), delivered and failed for good, and the SMS segments they cost."""
    return await conn.fetch(
        "SELECT template, audience, channel,"
        " count(*) FILTER (WHERE status = 'queued') AS queued,"
        " count(*) FILTER (WHERE status = 'sent') AS sent,"
        " count(*) FILTER (WHERE status = 'delivered') AS delivered,"
        " count(*) FILTER (WHERE status = 'failed') AS failed,"
        " coalesce(sum(sms_segments) FILTER (WHERE sent_at IS NOT NULL), 0)::bigint AS sms_segments"
        " FROM notification GROUP BY template, audience, channel ORDER BY template, audience, channel"
    )


async def of_worker(conn: Conn, worker_id: uuid.UUID) -> list[asyncpg.Record]:
    """What the programme told one worker (and others about them), oldest first."""
    return await conn.fetch(
        "SELECT id, event_id, template, audience, channel, recipient, subject, body, status, created_at,"
        " sent_at, delivered_at, attempts, last_error, failed_at, provider, provider_message_id, sms_segments"
        " FROM notification WHERE worker_id = $1 ORDER BY id",
        worker_id,
    )
