"""The tariff table as stored in the sponsorship schema (migration 0004): one table for every
instance, replaced by the office (PUT /api/tariffs), read cheaply by the handlers and the quote.

Reading costs one index lookup of the newest row's version and digest; the parsed table is kept
per process by digest, so the document itself is read and parsed only when it changed. Handlers
read it once per consumer transaction (the store keeps it: `PgSponsorshipStore.tariff_table`), so
every cost within a batch comes from the same version.

The default is the repository's data file `tariffs/bpu.json`, stored as version 1 when the table
is empty (the first instance to read it does; a concurrent one finds the row).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.sponsorship.domain.tariffs import TariffTable, table_document, table_from_document
from shared.db import Conn

DEFAULT_FILE = Path(__file__).parent / "tariffs" / "bpu.json"
DEFAULT_LOADED_BY = "default (services/sponsorship/tariffs/bpu.json)"
# Replacing the table, one at a time (pg_advisory_xact_lock): the next version is max + 1.
_REPLACE_LOCK = 0x7461_7269_6666  # "tariff"


@dataclass(frozen=True)
class StoredTable:
    """A version of the table as stored: the parsed table and who loaded it when."""

    version: int
    digest: str
    table: TariffTable
    loaded_by: str
    loaded_at: datetime | None

    def document(self) -> dict[str, Any]:
        return table_document(self.table)


def canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest_of(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document).encode()).hexdigest()


@lru_cache(maxsize=1)
def default_table() -> TariffTable:
    """The repository's default table (the data file), parsed once."""
    return table_from_document(json.loads(DEFAULT_FILE.read_text(encoding="utf-8")))


# Parsed tables by digest: a process serving several databases (tests) shares nothing else.
_parsed: dict[str, TariffTable] = {}


def _table(digest: str, document: Any) -> TariffTable:
    table = _parsed.get(digest)
    if table is None:
        table = table_from_document(document)
        if len(_parsed) > 64:
            _parsed.clear()
        _parsed[digest] = table
    return table


async def current(conn: Conn) -> StoredTable:
    """The version in force (the default stored first, if the table is empty)."""
    head = await conn.fetchrow(
        "SELECT version, digest, loaded_by, loaded_at FROM tariff_table ORDER BY version DESC LIMIT 1"
    )
    if head is None:
        return await _store_default(conn)
    digest = head["digest"]
    table = _parsed.get(digest)
    if table is None:
        document = await conn.fetchval(
            "SELECT document FROM tariff_table WHERE version = $1", head["version"]
        )
        table = _table(digest, document)
    return StoredTable(head["version"], digest, table, head["loaded_by"], head["loaded_at"])


async def _store_default(conn: Conn) -> StoredTable:
    document = table_document(default_table())
    digest = digest_of(document)
    await conn.execute(
        "INSERT INTO tariff_table (version, document, digest, loaded_by) VALUES (1, $1, $2, $3)"
        " ON CONFLICT (version) DO NOTHING",
        document,
        digest,
        DEFAULT_LOADED_BY,
    )
    return await current(conn)


async def replace(conn: Conn, document: object, loaded_by: str) -> StoredTable:
    """Store `document` as the next version (TariffTableError, naming the rows, if it is refused).

    What is stored is the canonical form of what was parsed, so the read-back is what prices."""
    table = table_from_document(document)
    canonical_document = table_document(table)
    digest = digest_of(canonical_document)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _REPLACE_LOCK)
        if await conn.fetchval("SELECT count(*) FROM tariff_table") == 0:
            await _store_default(conn)
        version = await conn.fetchval(
            "INSERT INTO tariff_table (version, document, digest, loaded_by)"
            " SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM tariff_table RETURNING version",
            canonical_document,
            digest,
            loaded_by,
        )
        loaded_at = await conn.fetchval("SELECT loaded_at FROM tariff_table WHERE version = $1", version)
    _parsed.setdefault(digest, table)
    return StoredTable(version, digest, table, loaded_by, loaded_at)
