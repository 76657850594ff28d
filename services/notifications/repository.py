"""SQL for the notifications schema only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.notifications.domain import Notification
from shared.db import Conn


@dataclass(frozen=True, slots=True)
class StoredNotification:
    """A row of `notification` as the delivery worker and the gateways see it."""

    id: int
    worker_id: uuid.UUID | None
    template: str
    audience: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Queued:
    """What `insert` returns for a row it created."""

    id: int
    created_at: datetime


async def insert(
    conn: Conn, *, dedupe_key: str, event_id: str, worker_id: uuid.UUID | None, notification: Notification
) -> Queued | None:
    """Queue one message; None when a message with this dedupe key was queued before."""
    n = notification
    row = await conn.fetchrow(
        "INSERT INTO notification (dedupe_key, event_id, worker_id, template, audience, channel, recipient,"
        " subject, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
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
    )
    return Queued(row["id"], row["created_at"]) if row is not None else None


async def claim_due(conn: Conn, limit: int) -> list[StoredNotification]:
    """Lock up to `limit` queued rows that are due; rows other senders hold are skipped.

    Call inside a transaction: the locks last until it ends.
    """
    rows = await conn.fetch(
        "SELECT id, worker_id, template, audience, channel, recipient, subject, body, attempts"
        " FROM notification WHERE status = 'queued' AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [StoredNotification(**dict(r)) for r in rows]


async def mark_delivered(conn: Conn, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(
            "UPDATE notification SET status = 'delivered', delivered_at = now(), attempts = attempts + 1"
            " WHERE id = ANY($1::bigint[])",
            list(ids),
        )


async def postpone(conn: Conn, ids: Sequence[int], base_delay_s: float, max_delay_s: float) -> None:
    """A send failed: try again after base_delay_s * 2^attempts, at most max_delay_s."""
    if ids:
        await conn.execute(
            "UPDATE notification SET attempts = attempts + 1, next_attempt_at = now()"
            " + make_interval(secs => least($2 * power(2, attempts), $3))"
            " WHERE id = ANY($1::bigint[])",
            list(ids),
            base_delay_s,
            max_delay_s,
        )


async def counts(conn: Conn) -> list[asyncpg.Record]:
    """Per template, audience and channel: how many are queued and how many delivered."""
    return await conn.fetch(
        "SELECT template, audience, channel,"
        " count(*) FILTER (WHERE status = 'queued') AS queued,"
        " count(*) FILTER (WHERE status = 'delivered') AS delivered"
        " FROM notification GROUP BY template, audience, channel ORDER BY template, audience, channel"
    )


async def of_worker(conn: Conn, worker_id: uuid.UUID) -> list[asyncpg.Record]:
    """What the programme told one worker (and others about them), oldest first."""
    return await conn.fetch(
        "SELECT id, event_id, template, audience, channel, recipient, subject, body, status, created_at,"
        " delivered_at FROM notification WHERE worker_id = $1 ORDER BY id",
        worker_id,
    )
