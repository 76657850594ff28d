"""SQL for the registry schema only."""

import json
import uuid
from collections.abc import Sequence

import asyncpg

from services.registry.domain import Reason, Registration
from shared.db import Conn


async def claim_submission(
    conn: Conn, source: str | None, submission_id: str | None, event_id: str
) -> int | None:
    """Record that a submission arrived; None when this (source, submission_id) was seen before."""
    row: int | None = await conn.fetchval(
        "INSERT INTO submission (source, submission_id, event_id, outcome) VALUES ($1, $2, $3, 'received')"
        " ON CONFLICT DO NOTHING RETURNING id",
        source,
        submission_id,
        event_id,
    )
    return row


async def mark_rejected(conn: Conn, submission_row: int, reasons: Sequence[Reason]) -> None:
    await conn.execute(
        "UPDATE submission SET outcome = 'rejected', reasons = $2 WHERE id = $1",
        submission_row,
        [{"field": r.field, "code": r.code, "message": r.message} for r in reasons],
    )


async def insert_worker(conn: Conn, registration: Registration) -> uuid.UUID | None:
    """The new worker's id, or None when the NIK is already registered (waits for a concurrent insert)."""
    r = registration
    worker_id: uuid.UUID | None = await conn.fetchval(
        "INSERT INTO worker (worker_id, nik, source, submission_id, full_name, birth_date, sex, phone,"
        " kecamatan_code, desa, occupation, declared_income_idr)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (nik) DO NOTHING RETURNING worker_id",
        uuid.uuid4(),
        r.nik,
        r.source,
        r.submission_id,
        r.full_name,
        r.birth_date,
        r.sex,
        r.phone,
        r.kecamatan_code,
        r.desa,
        r.occupation,
        r.declared_income_idr,
    )
    return worker_id


async def mark_registered(conn: Conn, submission_row: int, worker_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE submission SET outcome = 'registered', worker_id = $2 WHERE id = $1",
        submission_row,
        worker_id,
    )


async def find_worker_by_nik(conn: Conn, nik: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM worker WHERE nik = $1", nik)


async def counts(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT outcome, count(*) AS n FROM submission GROUP BY outcome")
    return {r["outcome"]: r["n"] for r in rows}


def reasons_json(reasons: Sequence[Reason]) -> str:
    return json.dumps([{"field": r.field, "code": r.code, "message": r.message} for r in reasons])
