"""The registry's store: what its handler asks of the database, in the programme's words
(`RegistryStore`), and the asyncpg implementation on the registry schema (`PgRegistryStore`).
The read endpoints' SQL (api.py) follows as plain functions on a connection."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal, Protocol

import asyncpg

from services.registry.domain.funders import FunderList, Funding
from services.registry.domain.registration import Registration
from shared.db import Conn
from shared.validation import Reason

Outcome = Literal["received", "registered", "rejected"]
# The advisory lock an import takes exclusive and a registration's funder look-up shared.
FUNDER_LISTS_LOCK: Final = "hashtextextended('registry:funder-lists', 0)"


@dataclass(frozen=True)
class RegisteredWorker:
    worker_id: uuid.UUID
    registration_seq: int  # the registry database's order of registration (not a host's clock)


@dataclass(frozen=True)
class Submission:
    """A submission as the registry keeps it: a rejected one keeps its reasons, no personal data."""

    id: int
    source: str | None
    submission_id: str | None
    event_id: str
    outcome: Outcome
    worker_id: uuid.UUID | None
    reasons: tuple[Reason, ...] | None
    kecamatan_code: str | None


@dataclass(frozen=True)
class Worker:
    """A registered worker's row."""

    worker_id: uuid.UUID
    registration_seq: int
    nik: str
    source: str
    submission_id: str
    full_name: str
    birth_date: date
    sex: str
    phone: str
    kecamatan_code: str
    desa: str | None
    occupation: str
    declared_income_idr: int | None
    registered_at: datetime
    # The registration's warnings, as on its WorkerRegistered event (field, code, message).
    warnings: tuple[Reason, ...] = ()


class RegistryStore(Protocol):
    """What the registry's handler needs, in one transaction (the one that claims the message)."""

    async def claim_submission(
        self, source: str | None, submission_id: str | None, event_id: str
    ) -> int | None:
        """Record that a submission arrived (outcome 'received'): its number, or None when this
        (source, submission_id), or this event, was seen before. A submission without a source or
        an id is never the same as another (SQL's NULLs are distinct)."""
        ...

    async def register_worker(
        self, registration: Registration, registered_at: datetime
    ) -> RegisteredWorker | None:
        """The new worker's id and registration number (increasing in the order of registration),
        or None when the NIK is already registered."""
        ...

    async def mark_registered(self, submission: int, worker_id: uuid.UUID) -> None: ...

    async def funder_of(self, nik_hash: bytes) -> Funding | None:
        """Who already funds the NIK of this keyed hash (services/registry/domain/funders.py), or None:
        the oldest current list holding it, when several do."""
        ...

    async def mark_rejected(
        self, submission: int, reasons: Sequence[Reason], kecamatan_code: str | None
    ) -> None: ...


class PgRegistryStore:
    """`RegistryStore` on the registry schema, on the connection of the consumer's transaction."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        # The funder lists' shared lock is the transaction's once taken (a batch's store lasts it).
        self._funder_lists_locked = False

    async def claim_submission(
        self, source: str | None, submission_id: str | None, event_id: str
    ) -> int | None:
        row: int | None = await self.conn.fetchval(
            "INSERT INTO submission (source, submission_id, event_id, outcome) VALUES ($1, $2, $3, 'received')"
            " ON CONFLICT DO NOTHING RETURNING id",
            source,
            submission_id,
            event_id,
        )
        return row

    async def register_worker(
        self, registration: Registration, registered_at: datetime
    ) -> RegisteredWorker | None:
        """Waits for a concurrent insert of the same NIK. The database numbers the worker
        (`registration_seq`, GENERATED ALWAYS)."""
        r = registration
        row = await self.conn.fetchrow(
            "INSERT INTO worker (worker_id, nik, source, submission_id, full_name, birth_date, sex, phone,"
            " kecamatan_code, desa, occupation, declared_income_idr, registered_at, warnings)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
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
            _reasons_json(r.warnings),
        )
        return None if row is None else RegisteredWorker(row["worker_id"], row["registration_seq"])

    async def funder_of(self, nik_hash: bytes) -> Funding | None:
        """Waits while a funder list is being imported (`lock_funder_lists`), then sees it; the
        lock is taken once per transaction."""
        if not self._funder_lists_locked:
            await self.conn.execute(f"SELECT pg_advisory_xact_lock_shared({FUNDER_LISTS_LOCK})")
            self._funder_lists_locked = True
        row = await self.conn.fetchrow(
            "SELECT i.funder, i.source_code, i.description, i.import_id, i.imported_at"
            " FROM funded_nik f JOIN funder_import i USING (import_id)"
            " WHERE f.nik_hash = $1 AND i.replaced_at IS NULL ORDER BY i.import_seq LIMIT 1",
            nik_hash,
        )
        return None if row is None else _funding(row)

    async def mark_registered(self, submission: int, worker_id: uuid.UUID) -> None:
        await self.conn.execute(
            "UPDATE submission SET outcome = 'registered', worker_id = $2 WHERE id = $1",
            submission,
            worker_id,
        )

    async def mark_rejected(
        self, submission: int, reasons: Sequence[Reason], kecamatan_code: str | None
    ) -> None:
        await self.conn.execute(
            "UPDATE submission SET outcome = 'rejected', reasons = $2, kecamatan_code = $3 WHERE id = $1",
            submission,
            [{"field": r.field, "code": r.code, "message": r.message} for r in reasons],
            kecamatan_code,
        )

    # What tests (and a reader) check the handler's effects by; not part of RegistryStore.

    async def submission(self, source: str | None, submission_id: str | None) -> Submission | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM submission WHERE source IS NOT DISTINCT FROM $1"
            " AND submission_id IS NOT DISTINCT FROM $2 ORDER BY id LIMIT 1",
            source,
            submission_id,
        )
        return None if row is None else _submission(row)

    async def worker(self, nik: str) -> Worker | None:
        row = await self.conn.fetchrow("SELECT * FROM worker WHERE nik = $1", nik)
        if row is None:
            return None
        fields = {f: row[f] for f in Worker.__dataclass_fields__ if f != "warnings"}
        return Worker(**fields, warnings=_reasons(row["warnings"]))


def _reasons_json(reasons: Sequence[Reason]) -> list[dict[str, str]]:
    return [{"field": r.field, "code": r.code, "message": r.message} for r in reasons]


def _reasons(stored: list[dict[str, str]]) -> tuple[Reason, ...]:
    return tuple(Reason(r["field"], r["code"], r["message"]) for r in stored)


def _submission(row: Any) -> Submission:
    reasons = row["reasons"]
    return Submission(
        id=row["id"],
        source=row["source"],
        submission_id=row["submission_id"],
        event_id=row["event_id"],
        outcome=row["outcome"],
        worker_id=row["worker_id"],
        reasons=None
        if reasons is None
        else tuple(Reason(r["field"], r["code"], r["message"]) for r in reasons),
        kecamatan_code=row["kecamatan_code"],
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


# --- funder lists (services/registry/domain/funders.py): the office's imports and look-ups ---------------


def _funding(row: Any) -> Funding:
    return Funding(
        funder=row["funder"],
        source_code=row["source_code"],
        description=row["description"],
        import_id=str(row["import_id"]),
        imported_at=row["imported_at"],
    )


@dataclass(frozen=True)
class FunderImport:
    """One imported list, as `muba funders show` tells it."""

    import_id: uuid.UUID
    funder: str
    source_code: str
    description: str | None
    file_name: str
    nik_count: int
    key_id: str
    imported_at: datetime
    imported_by: str


async def replace_funder_list(
    conn: Conn,
    funders: FunderList,
    hashes: Sequence[bytes],
    masked: Sequence[str],
    *,
    list_digest: bytes,
    key_id: str,
    imported_by: str,
) -> tuple[FunderImport, bool]:
    """Make `funders` the funder's current list, in the caller's transaction: (the current import,
    whether it changed). The same list again (same digest, same key) changes nothing. Otherwise
    the previous list is marked replaced and its NIKs deleted, and the new ones inserted: a
    registration running meanwhile sees the old list or the new one, never none (one transaction,
    and imports of one funder take turns on an advisory lock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('funder_import:' || $1, 0))", funders.funder_key
    )
    current = await conn.fetchrow(
        "SELECT * FROM funder_import WHERE funder_key = $1 AND replaced_at IS NULL", funders.funder_key
    )
    if current is not None and current["list_digest"] == list_digest and current["key_id"] == key_id:
        return _funder_import(current), False
    if current is not None:
        await conn.execute("DELETE FROM funded_nik WHERE import_id = $1", current["import_id"])
        await conn.execute(
            "UPDATE funder_import SET replaced_at = now() WHERE import_id = $1", current["import_id"]
        )
    row = await conn.fetchrow(
        "INSERT INTO funder_import (import_id, funder_key, funder, source_code, description, file_name,"
        " nik_count, list_digest, key_id, imported_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " RETURNING *",
        uuid.uuid4(),
        funders.funder_key,
        funders.funder,
        funders.source_code,
        funders.description,
        funders.file_name,
        len(hashes),
        list_digest,
        key_id,
        imported_by,
    )
    assert row is not None  # INSERT ... RETURNING
    await conn.execute(
        "INSERT INTO funded_nik (nik_hash, import_id, nik_masked)"
        " SELECT h, $1, m FROM unnest($2::bytea[], $3::text[]) AS t(h, m)",
        row["import_id"],
        list(hashes),
        list(masked),
    )
    return _funder_import(row), True


def _funder_import(row: Any) -> FunderImport:
    return FunderImport(**{f: row[f] for f in FunderImport.__dataclass_fields__})


async def current_funder_imports(conn: Conn) -> list[FunderImport]:
    rows = await conn.fetch("SELECT * FROM funder_import WHERE replaced_at IS NULL ORDER BY funder_key")
    return [_funder_import(r) for r in rows]


async def funded_count(conn: Conn, import_id: uuid.UUID) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM funded_nik WHERE import_id = $1", import_id)
    return count


async def fundings_of(conn: Conn, nik_hash: bytes) -> list[Funding]:
    rows = await conn.fetch(
        "SELECT i.funder, i.source_code, i.description, i.import_id, i.imported_at"
        " FROM funded_nik f JOIN funder_import i USING (import_id)"
        " WHERE f.nik_hash = $1 AND i.replaced_at IS NULL ORDER BY i.import_seq",
        nik_hash,
    )
    return [_funding(r) for r in rows]


async def registered_among(conn: Conn, niks: Sequence[str]) -> list[tuple[uuid.UUID, str]]:
    """The registered workers among `niks` (registered before the list came): (worker_id, NIK),
    in registration order. By the plain NIK the list arrived with and the worker table's unique
    index: no hash of every worker is computed, nor kept."""
    rows = await conn.fetch(
        "SELECT worker_id, nik FROM worker WHERE nik = ANY($1::bpchar[]) ORDER BY registration_seq",
        list(niks),
    )
    return [(r["worker_id"], r["nik"]) for r in rows]


async def lock_funder_lists(conn: Conn) -> None:
    """An import's turn, in its transaction: registrations (`PgRegistryStore.funder_of`, which
    takes this lock shared) wait until it commits. Without it a worker registered while a list
    holding their NIK is imported would be neither refused (their look-up saw the old list) nor
    found by the import (it could not see their uncommitted row): paid for twice."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({FUNDER_LISTS_LOCK})")


async def listed_by(conn: Conn, funder_key: str, hashes: Sequence[bytes]) -> set[bytes]:
    """Which of `hashes` the funder's current list holds (before it is replaced)."""
    rows = await conn.fetch(
        "SELECT f.nik_hash FROM funded_nik f JOIN funder_import i USING (import_id)"
        " WHERE i.funder_key = $1 AND i.replaced_at IS NULL AND f.nik_hash = ANY($2::bytea[])",
        funder_key,
        list(hashes),
    )
    return {bytes(r["nik_hash"]) for r in rows}
