"""SQL for the notifications schema only: the handlers' store (`NotificationsStore`, one per
transaction) and the delivery worker's functions on the pool."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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
    ) -> Queued | None:
        n = notification
        row = await self.conn.fetchrow(
            "INSERT INTO notification (dedupe_key, event_id, worker_id, template, audience, channel,"
            " recipient, subject, body, company_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
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


@dataclass(frozen=True, slots=True)
class Claim:
    """What one `claim_due` took: rows to send now, and rows it closed as out of attempts."""

    to_send: list[StoredNotification]
    given_up: list[int]


async def claim_due(
    conn: Conn, limit: int, *, claim_id: uuid.UUID, lease_s: float, max_attempts: int
) -> Claim:
    """Take up to `limit` queued rows that are due, for `lease_s` seconds, and count the attempt.

    One short statement (its own transaction when `conn` is not in one): the rows are leased, not
    locked while they are sent. SKIP LOCKED lets senders claim side by side, and the pushed-on
    `next_attempt_at` keeps a claimed row from every other sender until the lease runs out, when
    a crashed sender's rows come back. A due row that already used `max_attempts` (its last
    sender died mid-send, or the limit was lowered) is closed as failed instead of sent.
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
        " FROM due WHERE n.id = due.id"
        " RETURNING n.status, n.id, n.worker_id, n.template, n.audience, n.channel, n.recipient, n.subject,"
        " n.body, n.attempts, n.idempotency_key::text AS idempotency_key, n.company_id",
        limit,
        claim_id,
        lease_s,
        max_attempts,
    )
    to_send = sorted(
        (
            StoredNotification(**{k: v for k, v in r.items() if k != "status"})
            for r in rows
            if r["status"] == "queued"
        ),
        key=lambda n: n.id,
    )
    return Claim(to_send, sorted(r["id"] for r in rows if r["status"] == "failed"))


async def mark_delivered(conn: Conn, notification_id: int) -> bool:
    """The provider accepted it. Counts whoever reports it (also a sender whose lease ran out):
    the message went out. False when it was already marked delivered."""
    status = await conn.execute(
        "UPDATE notification SET status = 'delivered', delivered_at = now(), failed_at = NULL,"
        " claim_id = NULL, last_error = NULL WHERE id = $1 AND status <> 'delivered'",
        notification_id,
    )
    return status != "UPDATE 0"


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


async def mark_failed(conn: Conn, notification_id: int, claim_id: uuid.UUID, error: str) -> bool:
    """Give up on this message for good (refused by the provider, or out of attempts)."""
    status = await conn.execute(
        "UPDATE notification SET status = 'failed', failed_at = now(), last_error = $3, claim_id = NULL"
        " WHERE id = $1 AND claim_id = $2 AND status = 'queued'",
        notification_id,
        claim_id,
        error,
    )
    return status != "UPDATE 0"


async def release(conn: Conn, ids: Sequence[int], claim_id: uuid.UUID) -> None:
    """Hand claimed rows back at once (a stopping sender that could not finish their sends)."""
    if ids:
        await conn.execute(
            "UPDATE notification SET next_attempt_at = now(), claim_id = NULL"
            " WHERE id = ANY($1::bigint[]) AND claim_id = $2 AND status = 'queued'",
            list(ids),
            claim_id,
        )


async def counts(conn: Conn) -> list[asyncpg.Record]:
    """Per template, audience and channel: how many are queued, delivered and failed for good."""
    return await conn.fetch(
        "SELECT template, audience, channel,"
        " count(*) FILTER (WHERE status = 'queued') AS queued,"
        " count(*) FILTER (WHERE status = 'delivered') AS delivered,"
        " count(*) FILTER (WHERE status = 'failed') AS failed"
        " FROM notification GROUP BY template, audience, channel ORDER BY template, audience, channel"
    )


async def of_worker(conn: Conn, worker_id: uuid.UUID) -> list[asyncpg.Record]:
    """What the programme told one worker (and others about them), oldest first."""
    return await conn.fetch(
        "SELECT id, event_id, template, audience, channel, recipient, subject, body, status, created_at,"
        " delivered_at, attempts, last_error, failed_at FROM notification WHERE worker_id = $1 ORDER BY id",
        worker_id,
    )
