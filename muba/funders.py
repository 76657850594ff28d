"""Funder lists for `muba funders ...`: the NIKs another payer already funds (the regency's APBD
scheme PAKE KELAMBU, a village's APBDes, another sponsor), read from the office's file and sent to
the registry (PUT /api/funders: it replaces that funder's list), which keeps them hashed and
masked and rejects their registrations ALREADY_FUNDED.

The file: CSV (comma, semicolon, tab or pipe; UTF-8 with or without BOM, or Windows-1252) or XLSX,
with a column named NIK (also "No NIK", "NIK KTP", "Nomor Induk Kependudukan"); other columns are
ignored. NIKs may be written 1606.0152.0890-0003, with spaces, quotes or a leading apostrophe
(Excel's "text" mark). A line that holds no NIK is reported by its line number, never with its
content: the list is imported whole or, with --skip-invalid, without those lines.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich import box
from rich.table import Table
from rich.text import Text

from muba.formatting import number
from muba.workers_file import FileError, cell_text, first_sheet_rows
from shared.masking import mask_nik
from shared.validation import normalise_nik

NIK_HEADERS: Final = frozenset(
    {"nik", "no_nik", "nomor_nik", "nik_ktp", "no_ktp", "nomor_induk_kependudukan"}
)
FUNDING_SOURCES: Final = ("SA", "SD", "SG", "SC", "SB", "SL")
_HEADER_SEPARATORS = re.compile(r"[\s\-./]+")
_QUOTES = "'\"`\u2018\u2019\u201c\u201d"
_SCIENTIFIC = re.compile(r"[0-9](?:[.,][0-9]+)?[eE][+]?[0-9]+")


@dataclass(frozen=True)
class LineProblem:
    line: int
    reason: str


@dataclass
class FunderFile:
    """The NIKs of a file, each once (in the order first seen), and the lines that hold none."""

    path: Path
    niks: list[str] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    repeated: int = 0  # NIKs written more than once (imported once)
    lines: int = 0  # data lines read


def _header_name(cell: str) -> str:
    return _HEADER_SEPARATORS.sub("_", cell.replace("\ufeff", "").strip().strip(_QUOTES).lower()).strip("_")


def nik_column(header: Sequence[str]) -> int | None:
    names = [_header_name(c) for c in header]
    found = [i for i, n in enumerate(names) if n in NIK_HEADERS]
    return found[0] if len(found) == 1 else None


def nik_of(cell: str) -> str | LineProblem | None:
    """The NIK a cell holds (normalised), or why it holds none (None: the cell is empty)."""
    text = cell.replace("\ufeff", "").replace("\u00a0", " ").strip().strip(_QUOTES).strip()
    if not text:
        return None
    if _SCIENTIFIC.fullmatch(text):
        return LineProblem(
            0,
            "the NIK was saved as a number in scientific notation (e.g. 1.60602E+15): its digits are"
            " lost; format the column as Text in the spreadsheet and type them again",
        )
    nik = normalise_nik(text)
    if not nik.isascii() or not nik.isdigit():
        return LineProblem(0, "not a NIK: only digits (and spaces, dots, dashes between them) expected")
    if len(nik) != 16:
        return LineProblem(0, f"not a NIK: {len(nik)} digits, 16 expected")
    return nik


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(f"{path}: not a text file")  # pragma: no cover - cp1252 decodes almost anything


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_funder_file(path: Path) -> FunderFile:
    """A .csv or .xlsx funder list (by its extension)."""
    if not path.is_file():
        raise FileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return parse_csv(_decode(path.read_bytes(), path), path)
    raise FileError(f"{path}: expected a .csv or .xlsx file")


def parse_csv(text: str, path: Path = Path("<csv>")) -> FunderFile:
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise FileError(f"{path}: the file is empty (expected a header line with a NIK column)")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first), skipinitialspace=True)
    rows = ((reader.line_num, cells) for cells in reader)
    return _collect(rows, path, numeric=())


def read_xlsx(path: Path) -> FunderFile:
    numeric: list[int] = []
    rows: list[tuple[int, list[str]]] = []
    column: int | None = None
    with first_sheet_rows(path) as cell_rows:
        for line, cells in enumerate(cell_rows, start=1):
            texts = [cell_text(c) for c in cells]
            if column is None:
                column = nik_column(texts) if any(texts) else None
            elif column < len(cells):
                value = cells[column]
                if isinstance(value, int | float) and not isinstance(value, bool):
                    numeric.append(line)  # Excel keeps 15 digits of a number: the 16th is lost
            rows.append((line, texts))
    return _collect(rows, path, numeric=numeric)


def _collect(rows: Iterable[tuple[int, Sequence[str]]], path: Path, numeric: Iterable[int]) -> FunderFile:
    result = FunderFile(path)
    numbers = set(numeric)
    column: int | None = None
    seen: set[str] = set()
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        if column is None:
            column = nik_column(cells)
            if column is None:
                raise FileError(
                    f"{path}: line {line} (the header) has no single NIK column: name one column NIK"
                    " (or 'No NIK', 'NIK KTP', 'Nomor Induk Kependudukan')"
                )
            continue
        result.lines += 1
        if line in numbers:
            result.problems.append(
                LineProblem(
                    line,
                    "the NIK is stored as a number: Excel keeps only 15 digits of a number, so the last"
                    " one may be lost; format the NIK column as Text and type the NIK again",
                )
            )
            continue
        found = nik_of(cells[column] if column < len(cells) else "")
        if found is None:
            result.problems.append(LineProblem(line, "no NIK on this line"))
        elif isinstance(found, LineProblem):
            result.problems.append(LineProblem(line, found.reason))
        elif found in seen:
            result.repeated += 1
        else:
            seen.add(found)
            result.niks.append(found)
    if column is None:
        raise FileError(f"{path}: the file is empty (expected a header line with a NIK column)")
    return result


def import_body(
    file: FunderFile, funder: str, source_code: str, description: str | None, file_name: str
) -> dict[str, Any]:
    return {
        "funder": funder,
        "source_code": source_code,
        "description": description,
        "file_name": file_name,
        "niks": file.niks,
    }


# --- what the office sees ------------------------------------------------------------------------


def problems_table(problems: Sequence[LineProblem], limit: int = 50) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="Baris yang tidak berisi NIK (lines without a NIK)")
    table.add_column("line", justify="right")
    table.add_column("reason")
    for p in problems[:limit]:
        table.add_row(str(p.line), p.reason)
    if len(problems) > limit:
        table.add_row("…", f"{len(problems) - limit} more")
    return table


def import_result(answer: dict[str, Any], file: FunderFile) -> list[Any]:
    parts: list[Any] = []
    if answer.get("changed"):
        parts.append(
            Text(
                f"Daftar {answer.get('funder')} diganti: {number(int(answer.get('nik_count', 0)))} NIK"
                " (the funder's list was replaced).",
                style="bold green",
            )
        )
    else:
        parts.append(
            Text(
                f"Daftar {answer.get('funder')} sudah sama: tidak ada yang berubah (the same list again:"
                " nothing changed).",
                style="green",
            )
        )
    details = Table.grid(padding=(0, 2))
    for name, value in (
        ("import_id", answer.get("import_id")),
        ("source_code", f"{answer.get('source_code')} ({answer.get('source_name', '')})"),
        ("file", answer.get("file_name")),
        ("imported_at", answer.get("imported_at")),
        ("imported_by", answer.get("imported_by")),
        ("lines read", number(file.lines)),
        ("NIKs repeated in the file", number(file.repeated)),
        ("lines without a NIK (skipped)", number(len(file.problems))),
        ("already registered before this list", number(int(answer.get("already_registered", 0)))),
        ("sponsorship told (newly on this list)", number(int(answer.get("funded_elsewhere_published", 0)))),
    ):
        details.add_row(Text(str(name), style="dim"), str(value))
    parts.append(details)
    if int(answer.get("already_registered", 0)):
        parts.append(
            Text(
                "Some NIKs of this list were registered before it came. Sponsorship is told: a worker"
                " waiting for a sponsor is withdrawn; one already sponsored keeps the enrollment and is"
                " listed in `muba report` (funded elsewhere) for the office to decide. See `muba status NIK`.",
                style="yellow",
            )
        )
    return parts


def funders_table(body: dict[str, Any]) -> Table | Text:
    funders = body.get("funders") or []
    if not funders:
        return Text("Belum ada daftar penyandang dana (no funder list imported yet).", style="dim")
    table = Table(box=box.SIMPLE_HEAD, title="Daftar penyandang dana lain (funder lists)")
    for column in ("funder", "source", "NIKs", "file", "imported at", "by", "import id"):
        table.add_column(column, justify="right" if column == "NIKs" else "left")
    for f in funders:
        name = str(f.get("funder"))
        if f.get("description"):
            name += f"\n[dim]{f['description']}[/dim]"
        if not f.get("key_current", True):
            name += "\n[bold red]hashed with another key: import the file again[/bold red]"
        table.add_row(
            name,
            f"{f.get('source_code')} {f.get('source_name', '')}".strip(),
            number(int(f.get("funded", f.get("nik_count", 0)))),
            str(f.get("file_name")),
            str(f.get("imported_at")),
            str(f.get("imported_by")),
            str(f.get("import_id")),
        )
    return table


def check_text(body: dict[str, Any]) -> list[Any]:
    shown = str(body.get("nik_masked") or mask_nik(""))
    funders = body.get("funders") or []
    if not funders:
        return [Text(f"NIK {shown}: tidak ada di daftar penyandang dana mana pun (on no funder list).")]
    parts: list[Any] = [Text(f"NIK {shown}: sudah didanai (already funded) oleh:", style="bold yellow")]
    for f in funders:
        description = f" — {f['description']}" if f.get("description") else ""
        parts.append(
            Text(
                f"  {f.get('funder')} [{f.get('source_code')}]{description}; daftar {f.get('import_id')}"
                f" ({f.get('imported_at')})"
            )
        )
    return parts
