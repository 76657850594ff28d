"""The national table of Kemendagri area codes, retired codes included (shared/data/wilayah/,
see its README for the source, version and licence): is a NIK's area one that exists or existed?

A worker's NIK may come from any province (migrants work in Muba), and a NIK never changes when
its area is renumbered, so the table is national and keeps retired codes. An area in no table is
a warning (NIK_AREA_UNKNOWN), never a refusal. Read once, on first use, into frozensets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DATA: Final = Path(__file__).resolve().parent / "data" / "wilayah"
FILES: Final = ("current.txt", "retired.txt", "retired-manual.txt")


@dataclass(frozen=True, slots=True)
class AreaCodes:
    regencies: frozenset[str]  # PPKK, in force or retired
    kecamatan: frozenset[str]  # PPKKCC, in force or retired
    # Retired regencies whose old kecamatan codes no table here holds: any kecamatan digits pass.
    regencies_without_kecamatan: frozenset[str]


def _codes(path: Path) -> list[str]:
    codes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        code = line.split("#", 1)[0].strip()
        if not code:
            continue
        if not (code.isascii() and code.isdigit() and len(code) in (4, 6)):
            raise ValueError(f"{path.name}: {code!r} is no 4- or 6-digit area code")
        codes.append(code)
    return codes


@functools.cache
def area_codes() -> AreaCodes:
    """The table, read from the files on first use (about 8,000 codes)."""
    generated = _codes(DATA / "current.txt") + _codes(DATA / "retired.txt")
    manual = _codes(DATA / "retired-manual.txt")
    codes = generated + manual
    return AreaCodes(
        regencies=frozenset(code for code in codes if len(code) == 4),
        kecamatan=frozenset(code for code in codes if len(code) == 6),
        regencies_without_kecamatan=frozenset(code for code in manual if len(code) == 4),
    )


def nik_area_known(nik: str) -> bool:
    """Whether a 16-digit NIK's regency (digits 1-4) and kecamatan (digits 1-6) are in the table."""
    table = area_codes()
    regency, kecamatan = nik[:4], nik[:6]
    if regency in table.regencies_without_kecamatan:
        return True
    return regency in table.regencies and kecamatan in table.kecamatan
