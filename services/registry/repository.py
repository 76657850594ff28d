"""SQL for the registry schema only."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.registry.domain import Registration
from shared.db import Conn
from shared.validation import Reason


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


async def mark_rejected(
    conn: Conn, submission_row: int, reasons: Sequence[Reason], kecamatan_code: str | None
) -> None:
    await conn.execute(
        "UPDATE submission SET outcome = 'rejected', reasons = $2, kecamatan_code = $3 WHERE id = $1",
        submission_row,
        [{"field": r.field, "code": r.code, "message": r.message} for r in reasons],
        kecamatan_code,
    )


@dataclass(frozen=True)
class RegisteredWorker:
    worker_id: uuid.UUID
    registration_seq: int  # the registry database's order of registration (not a host's clock)


async def insert_worker(
    conn: Conn, registration: Registration, registered_at: datetime
) -> RegisteredWorker | None:
    """The new worker's id and registration number, or None when the NIK is already registered
    (waits for a concurrent insert). The database numbers the worker (`registration_seq`)."""
    r = registration
    row = await conn.fetchrow(
        "INSERT INTO worker (worker_id, nik, source, submission_id, full_name, birth_date, sex, phone,"
        " kecamatan_code, desa, occupation, declared_income_idr, registered_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (nik) DO NOTHING RETURNING worker_id, registration_seq",
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
        registered_at,
    )
    return None if row is None else RegisteredWorker(row["worker_id"], row["registration_seq"])


async def mark_registered(conn: Conn, submission_row: int, worker_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE submission SET outcome = 'registered', worker_id = $2 WHERE id = $1",
        submission_row,
        worker_id,
    )


async def find_worker_by_nik(conn: Conn, nik: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM worker WHERE nik = $1", nik)


async def submission_ids(conn: Conn, source: str) -> list[str]:
    rows = await conn.fetch("SELECT submission_id FROM submission WHERE source = $1 ORDER BY id", source)
    return [r["submission_id"] for r in rows]


async def outcome_counts(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT outcome, count(*) AS n FROM submission GROUP BY outcome")
    return {r["outcome"]: r["n"] for r in rows}


async def registered_by(conn: Conn, column: str) -> dict[str, int]:
    assert column in ("kecamatan_code", "occupation")
    rows = await conn.fetch(f"SELECT {column} AS k, count(*) AS n FROM worker GROUP BY 1 ORDER BY 2 DESC")
    return {r["k"]: r["n"] for r in rows}


async def rejected_by_code(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT r->>'code' AS code, count(*) AS n FROM submission, jsonb_array_elements(reasons) r"
        " WHERE outcome = 'rejected' GROUP BY 1 ORDER BY 2 DESC"
    )
    return {r["code"]: r["n"] for r in rows}


async def rejected_by_kecamatan(conn: Conn) -> dict[str | None, int]:
    rows = await conn.fetch(
        "SELECT kecamatan_code AS k, count(*) AS n FROM submission WHERE outcome = 'rejected' GROUP BY 1"
    )
    return {r["k"]: r["n"] for r in rows}
