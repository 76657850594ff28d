"""SQL for the sponsorship schema only."""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeAlias

import asyncpg

from services.sponsorship.domain import Commitment, OpenCommitment, WaitlistPosition, waitlist_position
from shared.db import Conn
from shared.events.registry import WorkerRegistered
from shared.kecamatan import KECAMATAN


async def lock_kecamatan_shared(conn: Conn, kecamatan_code: str) -> None:
    """Held while a worker is matched or waitlisted in `kecamatan_code` (see lock_kecamatan_exclusive)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared(hashtext('sponsorship:kecamatan:' || $1))", kecamatan_code
    )


async def lock_kecamatan_exclusive(conn: Conn, kecamatan_codes: Iterable[str]) -> None:
    """Held while slots open in these kecamatan (new commitment, released slot).

    Without it a worker waitlisted in one transaction and a commitment arriving in another could
    miss each other: each commits without seeing the other, and the worker stays waitlisted.
    """
    for code in sorted(set(kecamatan_codes)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('sponsorship:kecamatan:' || $1))", code)


Row: TypeAlias = asyncpg.Record | Mapping[str, Any]  # a row as read, or as a batch keeps it


@dataclass
class Transaction:
    """One consumer transaction (a batch's, or one message's): the connection, and what the
    handlers keep until it commits: the kecamatan locks held, and the open commitments as this
    transaction left them (None: read them again)."""

    conn: Conn
    kecamatan_locks: set[str] = field(default_factory=set)
    open_commitments: dict[str, dict[str, Any]] | None = None


def covered_codes(whole_regency: bool, kecamatan_codes: Iterable[str]) -> list[str]:
    return sorted(KECAMATAN) if whole_regency else sorted(kecamatan_codes)


async def insert_commitment(conn: Conn, c: Commitment, budget_idr: int) -> int | None:
    """The new commitment's sequence number, or None when this commitment id exists already."""
    seq: int | None = await conn.fetchval(
        "INSERT INTO commitment (commitment_id, company_id, company_name, kecamatan_codes, whole_regency, slots,"
        " months, package, preferred_occupations, email, webhook_url, budget_idr)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (commitment_id) DO NOTHING RETURNING seq",
        c.commitment_id,
        c.company_id,
        c.company_name,
        sorted(c.kecamatan_codes),
        c.whole_regency,
        c.slots,
        c.months,
        c.package,
        list(c.preferred_occupations),
        c.email,
        c.webhook_url,
        budget_idr,
    )
    return seq


def open_commitment(row: Row) -> OpenCommitment:
    return OpenCommitment(
        commitment_id=row["commitment_id"],
        kecamatan_codes=frozenset(row["kecamatan_codes"]),
        whole_regency=row["whole_regency"],
        slots=row["slots"],
        slots_used=row["slots_used"],
        budget_idr=row["budget_idr"],
        budget_used_idr=row["budget_used_idr"],
        preferred_occupations=tuple(row["preferred_occupations"]),
        created_seq=row["seq"],
    )


async def open_commitments(conn: Conn) -> list[asyncpg.Record]:
    """Commitments with a free slot (there are tens, not thousands: read them all at once)."""
    return await conn.fetch("SELECT * FROM commitment WHERE slots_used < slots")


async def get_commitment(conn: Conn, commitment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM commitment WHERE commitment_id = $1", commitment_id)


async def reserve_slot(conn: Conn, commitment_id: str, cost_idr: int) -> bool:
    """Take one slot and its cost, atomically; False when another transaction took the last one."""
    row = await conn.fetchval(
        "UPDATE commitment SET slots_used = slots_used + 1, budget_used_idr = budget_used_idr + $2"
        " WHERE commitment_id = $1 AND slots_used < slots AND budget_used_idr + $2 <= budget_idr"
        " RETURNING 1",
        commitment_id,
        cost_idr,
    )
    return row is not None


async def release_slot(conn: Conn, commitment_id: str, cost_idr: int) -> None:
    await conn.execute(
        "UPDATE commitment SET slots_used = slots_used - 1, budget_used_idr = budget_used_idr - $2"
        " WHERE commitment_id = $1",
        commitment_id,
        cost_idr,
    )


async def insert_worker(conn: Conn, w: WorkerRegistered) -> asyncpg.Record | None:
    """The new worker's row; None when this worker was announced before (a replay with a new id)."""
    return await conn.fetchrow(
        "INSERT INTO worker (worker_id, nik, full_name, birth_date, sex, phone, kecamatan_code, kecamatan_name,"
        " desa, occupation, declared_income_idr, registered_at, registration_seq, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'waitlisted')"
        " ON CONFLICT (worker_id) DO NOTHING RETURNING *",
        uuid.UUID(w.worker_id),
        w.nik,
        w.full_name,
        w.birth_date,
        w.sex,
        w.phone,
        w.kecamatan_code,
        w.kecamatan_name,
        w.desa,
        w.occupation,
        w.declared_income_idr,
        w.registered_at,
        w.registration_seq,
    )


async def get_worker(conn: Conn, worker_id: uuid.UUID) -> asyncpg.Record:
    worker = await conn.fetchrow("SELECT * FROM worker WHERE worker_id = $1", worker_id)
    if worker is None:
        raise LookupError(f"worker {worker_id} is not known here")
    return worker


async def set_worker_status(conn: Conn, worker_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE worker SET status = $2, status_changed_at = now() WHERE worker_id = $1", worker_id, status
    )


async def waitlisted_covered_by(
    conn: Conn,
    whole_regency: bool,
    kecamatan_codes: list[str],
    limit: int,
    after: WaitlistPosition | None = None,
) -> list[asyncpg.Record]:
    """Waitlisted workers in these kecamatan, first registered first (domain.waitlist_position; a
    page after `after`), locked for this transaction."""
    after_rank, after_at, after_seq = after if after else (-1, datetime.min.replace(tzinfo=UTC), 0)
    return await conn.fetch(
        "SELECT * FROM worker WHERE status = 'waitlisted' AND ($1 OR kecamatan_code = ANY ($2::text[]))"
        " AND (coalesce(registration_seq, 0), registered_at, seq) > ($4, $5, $6)"
        " ORDER BY coalesce(registration_seq, 0), registered_at, seq LIMIT $3 FOR UPDATE",
        whole_regency,
        kecamatan_codes,
        limit,
        after_rank,
        after_at,
        after_seq,
    )


def position_in_waitlist(worker: Row) -> WaitlistPosition:
    return waitlist_position(worker["registration_seq"], worker["registered_at"], worker["seq"])


async def insert_enrollment(
    conn: Conn,
    *,
    worker_id: uuid.UUID,
    commitment_id: str,
    package: str,
    months: int,
    coverage_start: date,
    contribution_idr: int,
) -> uuid.UUID:
    """Record the enrollment request and mark the worker matched, in one statement."""
    enrollment_id = uuid.uuid4()
    await conn.execute(
        "WITH requested AS (INSERT INTO enrollment (enrollment_id, worker_id, commitment_id, package, months,"
        " coverage_start, contribution_idr, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested'))"
        " UPDATE worker SET status = 'matched', status_changed_at = now() WHERE worker_id = $2",
        enrollment_id,
        worker_id,
        commitment_id,
        package,
        months,
        coverage_start,
        contribution_idr,
    )
    return enrollment_id


async def lock_enrollment(conn: Conn, enrollment_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM enrollment WHERE enrollment_id = $1 FOR UPDATE", enrollment_id)


async def confirm_enrollment(
    conn: Conn,
    enrollment_id: uuid.UUID,
    worker_id: uuid.UUID,
    kpj_number: str,
    coverage_start: date,
    coverage_end: date,
    decided_at: datetime,
) -> asyncpg.Record | None:
    """Confirm a requested enrollment and mark its worker enrolled, in one statement; returns what
    the announcement needs, or None when no requested enrollment of this worker has this id."""
    return await conn.fetchrow(
        "WITH confirmed AS (UPDATE enrollment SET status = 'confirmed', kpj_number = $3, coverage_start = $4,"
        " coverage_end = $5, decided_at = $6 WHERE enrollment_id = $1 AND worker_id = $2 AND status = 'requested'"
        " RETURNING *),"
        " enrolled AS (UPDATE worker w SET status = 'enrolled', status_changed_at = now() FROM confirmed e"
        " WHERE w.worker_id = e.worker_id RETURNING w.*)"
        " SELECT e.package, e.contribution_idr, w.full_name, w.phone, w.nik, w.kecamatan_name, c.company_id,"
        " c.company_name, c.email, c.webhook_url FROM confirmed e JOIN enrolled w USING (worker_id)"
        " JOIN commitment c USING (commitment_id)",
        enrollment_id,
        worker_id,
        kpj_number,
        coverage_start,
        coverage_end,
        decided_at,
    )


async def reject_enrollment(
    conn: Conn,
    enrollment_id: uuid.UUID,
    reason_code: str,
    reason_message: str,
    decided_at: datetime,
) -> None:
    await conn.execute(
        "UPDATE enrollment SET status = 'rejected', reason_code = $2, reason_message = $3, decided_at = $4"
        " WHERE enrollment_id = $1",
        enrollment_id,
        reason_code,
        reason_message,
        decided_at,
    )


# --- reads for operators -------------------------------------------------------------------------


async def worker_with_enrollment(
    conn: Conn, worker_id: uuid.UUID
) -> tuple[asyncpg.Record | None, asyncpg.Record | None]:
    worker = await conn.fetchrow("SELECT * FROM worker WHERE worker_id = $1", worker_id)
    enrollment = await conn.fetchrow(
        "SELECT e.*, c.company_id, c.company_name FROM enrollment e JOIN commitment c USING (commitment_id)"
        " WHERE e.worker_id = $1 ORDER BY e.requested_at DESC LIMIT 1",
        worker_id,
    )
    return worker, enrollment


async def commitments_with_use(conn: Conn, company_id: str | None = None) -> list[asyncpg.Record]:
    """Every commitment with its use, or only those of `company_id`."""
    return await conn.fetch(
        "SELECT c.*, count(e.*) FILTER (WHERE e.status = 'confirmed') AS enrolled,"
        " count(e.*) FILTER (WHERE e.status = 'requested') AS requested"
        " FROM commitment c LEFT JOIN enrollment e USING (commitment_id)"
        " WHERE $1::text IS NULL OR c.company_id = $1 GROUP BY c.commitment_id ORDER BY c.seq",
        company_id,
    )


async def enrollments_of(conn: Conn, commitment_id: str, limit: int, offset: int) -> list[asyncpg.Record]:
    """One commitment's enrollments, oldest request first (a page of them)."""
    return await conn.fetch(
        "SELECT e.*, w.kecamatan_name, w.occupation FROM enrollment e JOIN worker w USING (worker_id)"
        " WHERE e.commitment_id = $1 ORDER BY e.requested_at, e.enrollment_id LIMIT $2 OFFSET $3",
        commitment_id,
        limit,
        offset,
    )


async def workers_by(conn: Conn, column: str) -> list[asyncpg.Record]:
    assert column in ("kecamatan_name", "occupation")
    return await conn.fetch(f"SELECT {column} AS k, status, count(*) AS n FROM worker GROUP BY 1, 2")
