"""Funder lists: workers another payer already funds, so that the programme never pays twice.

The regency's own APBD scheme PAKE KELAMBU (Perbup Muba 54/2023, about 45,000 workers), a village
paying from its APBDes, another sponsor: the office imports each payer's list by NIK (`muba funders
import`), and a registration of a NIK on a list is rejected ALREADY_FUNDED naming the funder.

Pure rules, no database: the keyed hash the lists are kept by, the import body's checks, the
rejection reason. The NIK is never stored in plain: HMAC-SHA256 with the registry's NIK key (a
secret, `REGISTRY_NIK_KEY_FILE` or `$MUBA_SECRETS_DIR/registry/nik-key`, made by the local setup
and by deploy/compose/secrets.sh), plus the masked NIK for display. A plain SHA-256 would not do:
the masked form shows 8 of the 16 digits and the other 8 (birth date and serial) are few enough
to try them all.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shared.validation import ALREADY_FUNDED, Reason, has_control_characters, normalise_nik

# BPJS Ketenagakerjaan's codes for who pays a BPU member's contributions.
FUNDING_SOURCES: Final[Mapping[str, str]] = {
    "SA": "APBD (pemerintah daerah)",
    "SD": "APBDes (dana desa)",
    "SG": "pemerintah",
    "SC": "perusahaan (CSR)",
    "SB": "perbankan",
    "SL": "sumber lain",
}
MAX_FUNDER_CHARS: Final = 100
MAX_DESCRIPTION_CHARS: Final = 200
MAX_FILE_NAME_CHARS: Final = 255
# The largest list one import takes: PAKE KELAMBU is about 45,000; the regency has ~650,000 people.
MAX_LIST_NIKS: Final = 700_000
# A list as JSON: 19 bytes a NIK ("1606015208900003",), with room to spare.
IMPORT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024
MIN_KEY_CHARS: Final = 32
_KEY_ID_LABEL: Final = b"muba registry NIK key id"
# The namespace of WorkerFundedElsewhere's event ids (uuid5 of import and worker).
FUNDED_ELSEWHERE_EVENTS: Final = uuid.UUID("6f1d2c59-3a0e-5b7c-9d41-0c2e8a7f5b13")


class NikKey:
    """The registry's secret for keyed NIK hashes (HMAC-SHA256)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_CHARS:
            raise ValueError(f"the NIK key is too short: at least {MIN_KEY_CHARS} characters")
        self._secret = secret

    def __repr__(self) -> str:
        return f"NikKey(id={self.key_id})"

    def digest(self, nik: str) -> bytes:
        """The hash a funder list keeps for `nik` (16 digits, already normalised)."""
        return hmac.new(self._secret, nik.encode("ascii"), hashlib.sha256).digest()

    @property
    def key_id(self) -> str:
        """Names the key without revealing it: a list hashed with another key cannot be looked up."""
        return hmac.new(self._secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def list_digest(self, funder: FunderList, hashes: list[bytes]) -> bytes:
        """The same funder, source code, description and set of NIKs: the same digest."""
        mac = hmac.new(self._secret, digestmod=hashlib.sha256)
        for part in (funder.funder_key, funder.source_code, funder.description or ""):
            mac.update(part.encode() + b"\x00")
        for h in sorted(hashes):
            mac.update(h)
        return mac.digest()


# --- an import ---------------------------------------------------------------------------------


class FieldError(ValueError):
    """A body that cannot be imported: which field, and why (never the value of a NIK)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


def funder_key(name: str) -> str:
    """One funder whatever the case and spacing: "Pake  Kelambu" is "PAKE KELAMBU"."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class FunderList:
    """An import, checked: the funder and its NIKs (normalised, each once, in order)."""

    funder: str
    source_code: str
    description: str | None
    file_name: str
    niks: tuple[str, ...]

    @property
    def funder_key(self) -> str:
        return funder_key(self.funder)


def _text(body: Mapping[str, Any], field: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise FieldError(field, "text expected" if value is not None else "required")
    text = " ".join(value.split())
    if not text:
        if not required:
            return None
        raise FieldError(field, "must not be empty")
    if len(text) > limit:
        raise FieldError(field, f"at most {limit} characters")
    if has_control_characters(text):
        raise FieldError(field, "control characters are not accepted")
    return text


def parse_import(body: object) -> FunderList:
    """`PUT /api/funders`'s body: {"funder", "source_code", "description"?, "file_name",
    "niks": [...]}. A NIK that is not 16 digits (after dropping spaces, dots and dashes) is
    refused by its position in the list; the list is imported whole or not at all."""
    if not isinstance(body, dict):
        raise FieldError("body", "a JSON object expected")
    unknown = sorted(set(body) - {"funder", "source_code", "description", "file_name", "niks"})
    if unknown:
        raise FieldError(str(unknown[0])[:64], "unknown field")
    funder = _text(body, "funder", MAX_FUNDER_CHARS)
    code = body.get("source_code")
    if not isinstance(code, str) or code.strip().upper() not in FUNDING_SOURCES:
        raise FieldError("source_code", f"one of {', '.join(FUNDING_SOURCES)} (BPJS's funding-source codes)")
    description = _text(body, "description", MAX_DESCRIPTION_CHARS, required=False)
    file_name = _text(body, "file_name", MAX_FILE_NAME_CHARS)
    niks = body.get("niks")
    if not isinstance(niks, list):
        raise FieldError("niks", "a list of NIKs expected")
    if not niks:
        raise FieldError("niks", "the list is empty: an empty list would drop the funder's whole list")
    if len(niks) > MAX_LIST_NIKS:
        raise FieldError("niks", f"{len(niks)} NIKs, at most {MAX_LIST_NIKS} in one list")
    seen: dict[str, None] = {}
    for i, value in enumerate(niks):
        nik = normalise_nik(value) if isinstance(value, str) else ""
        if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
            raise FieldError(f"niks[{i}]", "not a NIK: 16 digits expected")
        seen[nik] = None
    assert funder is not None and file_name is not None
    return FunderList(funder, code.strip().upper(), description, file_name, tuple(seen))


# --- at registration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Funding:
    """Who already funds a NIK, as its current list says."""

    funder: str
    source_code: str
    description: str | None
    import_id: str
    imported_at: datetime


def already_funded(funding: Funding) -> Reason:
    """The rejection of a registration whose NIK is on a funder's list (names the funder, not the NIK)."""
    payer = f"{funding.funder} ({funding.description})" if funding.description else funding.funder
    return Reason(
        "nik",
        ALREADY_FUNDED,
        f"NIK ini sudah dilindungi BPJS Ketenagakerjaan melalui {payer}; tidak perlu didaftarkan lagi.",
    )


# --- after registration --------------------------------------------------------------------------


def funded_elsewhere_event_id(import_id: uuid.UUID | str, worker_id: uuid.UUID | str) -> str:
    """The id of the WorkerFundedElsewhere that an import publishes for a worker: the same import
    and worker, the same id, so the outbox (ON CONFLICT on the id) and sponsorship's inbox keep
    one whatever writes it again."""
    return str(uuid.uuid5(FUNDED_ELSEWHERE_EVENTS, f"{import_id}/{worker_id}"))
