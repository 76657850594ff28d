"""Transactional outbox: events are rows written in the same transaction as the state change
(`add_rows`, `add_raw`); the relay (shared/relay.py) publishes them to Kafka in insertion order.
Also what operators see of it: the backlog, the parked rows, whether some relay leads.

A row published but not yet marked (crash in between) is published again: consumers dedupe by
event id through the inbox, so the effect happens once.
"""

import base64
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.contracts import Contract
from shared.db import Conn
from shared.envelope import Envelope, new_envelope
from shared.masking import mask_text

log = logging.getLogger(__name__)


RawHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    event_id: str
    topic: str
    key: bytes | None
    event_type: str
    body: bytes
    headers: dict[str, str]
    # Sent first, byte for byte (a dead letter's original headers); None for our own events.
    raw_headers: bytes | None = None


def jsonb_safe(value: str) -> str:
    """A header value PostgreSQL's jsonb can hold: a NUL becomes U+FFFD, a lone surrogate "?"."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def encode_raw_headers(headers: RawHeaders) -> bytes | None:
    if not headers:
        return None
    return json.dumps(
        [[name, None if value is None else base64.b64encode(value).decode()] for name, value in headers]
    ).encode()


def kafka_headers(raw_headers: bytes | None, headers: Mapping[str, Any]) -> list[tuple[str, bytes | None]]:
    """What the relay sends: the raw headers as they arrived, then ours."""
    sent: list[tuple[str, bytes | None]] = []
    if raw_headers:
        for name, value in json.loads(raw_headers):
            sent.append((name, None if value is None else base64.b64decode(value)))
    sent.extend((name, str(value).encode()) for name, value in headers.items())
    return sent


def encode_key(key: str | None) -> bytes | None:
    return None if key is None else key.encode("utf-8", "surrogateescape")


def event_row(
    contract: Contract[Any],
    event: BaseModel,
    *,
    topic_prefix: str = "",
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> tuple[Envelope, OutboxRow]:
    """One CloudEvent of `contract`, ready to be written with `add_rows`: topic, key, type and
    source come from the contract; `event_id` fixes the CloudEvents id (else a new UUID)."""
    key = contract.key(event)
    source = contract.source or ""
    envelope = new_envelope(contract.event_type, source, correlation_id, subject=key, event_id=event_id)
    headers = {name: jsonb_safe(value) for name, value in envelope.headers().items()}
    row = OutboxRow(
        envelope.id,
        topic_prefix + contract.topic,
        encode_key(key),
        envelope.type,
        event.model_dump_json().encode(),
        headers,
    )
    return envelope, row


async def add_rows(conn: Conn, rows: Sequence[OutboxRow]) -> None:
    """Record events in one statement; call inside the transaction that makes the change."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, event_type, payload, headers, raw_headers)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::bytea[], $6::jsonb[],"
        " $7::bytea[]) ON CONFLICT (event_id) DO NOTHING",
        [uuid.UUID(r.event_id) for r in rows],
        [r.topic for r in rows],
        [r.key for r in rows],
        [r.event_type for r in rows],
        [r.body for r in rows],
        [r.headers for r in rows],
        [r.raw_headers for r in rows],
    )


async def add_raw(
    conn: Conn,
    *,
    topic: str,
    key: bytes | None,
    body: bytes,
    headers: Mapping[str, str],
    raw_headers: RawHeaders = (),
    event_id: str | None = None,
    type_: str = "raw",
) -> None:
    """Record a message whose body and headers are already made (dead letters): `raw_headers` and
    the key go out byte for byte, `headers` (ours) after them."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, event_type, payload, headers, raw_headers)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
        uuid.UUID(event_id) if event_id else uuid.uuid4(),
        topic,
        key,
        type_,
        body,
        {name: jsonb_safe(value) for name, value in headers.items()},
        encode_raw_headers(raw_headers),
    )


# The lease is held by a live session (shared/relay.py takes and renews it).
SOME_RELAY_LEADS = (
    "SELECT 1 FROM outbox_lease l WHERE l.expires_at > now()"
    " AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.pid)"
)


# --- what operators see ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    backlog: int
    oldest_pending_s: float | None
    parked: int
    leader_present: bool

    def stale(self, after_s: float) -> bool:
        return self.oldest_pending_s is not None and self.oldest_pending_s > after_s


async def outbox_status(conn: Conn) -> OutboxStatus:
    """Pending rows and the age of the oldest, parked rows, and whether some relay (of any
    process) holds this schema's lease."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL) AS backlog,"
        " (SELECT extract(epoch FROM now() - created_at) FROM outbox"
        "  WHERE published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT 1) AS oldest,"
        " (SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL AND published_at IS NULL) AS parked,"
        f" EXISTS ({SOME_RELAY_LEADS}) AS leader"
    )
    assert row is not None
    oldest = row["oldest"]
    return OutboxStatus(
        int(row["backlog"]),
        None if oldest is None else float(oldest),
        int(row["parked"]),
        bool(row["leader"]),
    )


async def outbox_backlog(conn: Conn) -> int:
    """Rows waiting to be published (parked ones are not waiting)."""
    return int(
        await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL")
    )


def _shown_key(key: bytes | None) -> str | None:
    """A key as an operator may see it: text where it is text, NIK-like digits masked, short."""
    if key is None:
        return None
    shown = key.decode("utf-8", "backslashreplace").encode("unicode_escape").decode("ascii")
    return mask_text(shown if len(shown) <= 120 else shown[:117] + "...")


async def parked_rows(conn: Conn, params: Mapping[str, str]) -> dict[str, Any]:
    """`GET /api/outbox/parked[?topic=...&limit=...]`: parked rows, oldest first, without their
    payloads (they may hold personal data)."""
    from shared.runtime import BadRequest

    try:
        limit = int(params.get("limit", "100"))
    except ValueError:
        raise BadRequest("limit must be a whole number") from None
    if not 1 <= limit <= 1000:
        raise BadRequest("limit must be between 1 and 1000")
    topic = params.get("topic") or None
    where = "parked_at IS NOT NULL AND published_at IS NULL AND ($1::text IS NULL OR topic = $1)"
    total = await conn.fetchval(f"SELECT count(*) FROM outbox WHERE {where}", topic)
    rows = await conn.fetch(
        "SELECT id, event_id, topic, key, event_type,"
        " octet_length(payload) + coalesce(octet_length(raw_headers), 0) AS bytes,"
        f" created_at, parked_at, park_reason, attempts, last_error FROM outbox WHERE {where}"
        " ORDER BY id LIMIT $2",
        topic,
        limit,
    )
    return {
        "schema": await conn.fetchval("SELECT current_schema()"),
        "parked": int(total),
        "rows": [
            {
                "id": r["id"],
                "event_id": str(r["event_id"]),
                "topic": r["topic"],
                "key": _shown_key(r["key"]),
                "event_type": r["event_type"],
                "bytes": r["bytes"],
                "created_at": _iso(r["created_at"]),
                "parked_at": _iso(r["parked_at"]),
                "reason": r["park_reason"],
                "attempts": r["attempts"],
                "last_error": r["last_error"],
            }
            for r in rows
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
