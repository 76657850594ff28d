"""Worker files (CSV or XLSX) as partners send them: reading, stable submission ids, local checks.

The columns are exactly those of the partner contract `RegistrationSubmitted` except
`submission_id` and `source`: the source is the partner id given on the command line, and the
submission id is derived from the source and the row's content, so that the same row always gets
the same id (re-importing a file submits nothing twice) and a corrected row gets a new one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final

from shared import validation
from shared.events.registry import RegistrationSubmitted
from shared.kecamatan import resolve_kecamatan
from shared.validation import (
    DUPLICATE_NIK,
    KECAMATAN_UNKNOWN,
    MAX_NIK_LENGTH,
    Reason,
    contract_reasons,
    normalise_nik,
)

DERIVED: Final = ("submission_id", "source")
# The file's columns are the partner contract's fields, but for the two the CLI derives.
COLUMNS: Final = tuple(name for name in RegistrationSubmitted.model_fields if name not in DERIVED)

# Local-only reason codes (the registry's own codes are shared/validation.py's).
ROW_SHAPE: Final = "ROW_SHAPE"

MAX_SOURCE_LENGTH: Final = (
    63  # a partner's name (shared.topics.PARTNER_NAME); "<source>-<16 hex>" fits in 100
)
SUBMISSION_HASH_LENGTH: Final = 16

_HEADER_SEPARATORS = re.compile(r"[\s\-]+")
_INCOME_GROUPED = re.compile(r"(?:rp\.?\s*)?([0-9]{1,3}(?:[.,\s][0-9]{3})+)(?:,-|,00|\.00)?", re.IGNORECASE)
_INCOME_PLAIN = re.compile(r"(?:rp\.?\s*)?([0-9]+)(?:,-|,00|\.00)?", re.IGNORECASE)
_NIK_DIGITS = re.compile(r"[0-9]{16}")


class FileError(Exception):
    """The file cannot be read as a worker file: its message says what to fix."""


@dataclass(frozen=True)
class Row:
    """One data row: `line` is where it is in the file (1 = the header line or row)."""

    line: int
    values: dict[str, str]
    problems: tuple[Reason, ...] = ()  # found while reading (e.g. too many cells)


@dataclass
class WorkerFile:
    path: Path
    rows: list[Row]
    warnings: list[str] = field(default_factory=list)


# --- reading -------------------------------------------------------------------------------------


def normalise_header(name: str) -> str:
    """ " Full Name " -> "full_name"; a UTF-8 byte-order mark is dropped."""
    return _HEADER_SEPARATORS.sub("_", name.replace("\ufeff", "").strip().lower())


def check_columns(header: Sequence[str]) -> list[str]:
    """The normalised header, or FileError naming the missing, unknown and repeated columns."""
    names = [normalise_header(h) for h in header]
    while names and names[-1] == "":
        names.pop()  # trailing empty cells (spreadsheets often leave some)
    problems: list[str] = []
    repeated = sorted({n for n in names if names.count(n) > 1 and n})
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in dict.fromkeys(names) if n not in COLUMNS]
    if missing:
        problems.append("missing column(s): " + ", ".join(missing))
    if unknown:
        shown = [repr(u) if u else "(a column without a name)" for u in unknown]
        note = ""
        if any(u in DERIVED for u in unknown):
            note = " (submission_id and source are not columns: the source is --source, ids are derived)"
        problems.append("unknown column(s): " + ", ".join(shown) + note)
    if repeated:
        problems.append("repeated column(s): " + ", ".join(repeated))
    if problems:
        raise FileError("; ".join(problems) + ". Expected exactly these columns: " + ", ".join(COLUMNS) + ".")
    return names


def read_worker_file(path: Path) -> WorkerFile:
    """Read a .csv or .xlsx worker file (by its extension)."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise FileError(f"{path}: no such file")
    if not path.is_file():
        raise FileError(f"{path}: not a file")
    if suffix == ".csv":
        return read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    raise FileError(f"{path}: expected a .csv or .xlsx file")


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(f"{path}: not a text file in UTF-8 (save it as 'CSV UTF-8')")  # pragma: no cover


def _delimiter(header_line: str) -> str:
    """Comma, or the semicolon Excel writes under Indonesian regional settings, or a tab."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path) -> WorkerFile:
    return parse_csv(_decode(path.read_bytes(), path), path)


def parse_csv(text: str, path: Path = Path("<csv>")) -> WorkerFile:
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise FileError(f"{path}: the file is empty (expected a header line: {', '.join(COLUMNS)})")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    header: list[str] | None = None
    rows: list[Row] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = check_columns(cells)
            continue
        rows.append(_row(reader.line_num, header, cells))
    assert header is not None
    return WorkerFile(path, rows)


def _row(line: int, header: list[str], cells: Sequence[str]) -> Row:
    values = {c: "" for c in COLUMNS}
    for name, cell in zip(header, cells, strict=False):
        if name in values:
            values[name] = cell.strip()
    extra = [c for c in cells[len(header) :] if c.strip()]
    problems: tuple[Reason, ...] = ()
    if extra:
        problems = (
            Reason(
                "row",
                ROW_SHAPE,
                f"Baris ini berisi {len(header) + len(extra)} kolom, padahal header hanya {len(header)} "
                "(ada pemisah atau koma yang berlebih?).",
            ),
        )
    return Row(line, values, problems)


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV of it would hold (dates ISO, whole numbers without .0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


@contextmanager
def first_sheet_rows(path: Path) -> Iterator[Iterable[Sequence[object]]]:
    """The cell values of an .xlsx workbook's first sheet, row by row (the workbook is closed
    after); an unreadable file is a FileError naming it."""
    try:
        from openpyxl import load_workbook
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise FileError("reading .xlsx needs openpyxl: pip install openpyxl") from None
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        raise FileError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        yield workbook.worksheets[0].iter_rows(values_only=True)
    finally:
        workbook.close()


def read_xlsx(path: Path) -> WorkerFile:
    with first_sheet_rows(path) as cell_rows:
        return rows_from_cells(cell_rows, path)


def rows_from_cells(cell_rows: Iterable[Sequence[object]], path: Path = Path("<xlsx>")) -> WorkerFile:
    header: list[str] | None = None
    rows: list[Row] = []
    numeric_nik: list[int] = []
    for number, cells in enumerate(cell_rows, start=1):
        texts = [cell_text(c) for c in cells]
        if not any(texts):
            continue
        if header is None:
            header = check_columns(texts)
            continue
        if "nik" in header:
            nik_cell = cells[header.index("nik")] if header.index("nik") < len(cells) else None
            if isinstance(nik_cell, int | float) and not isinstance(nik_cell, bool):
                numeric_nik.append(number)
        rows.append(_row(number, header, texts))
    if header is None:
        raise FileError(f"{path}: the first sheet is empty (expected a header row: {', '.join(COLUMNS)})")
    warnings = []
    if numeric_nik:
        warnings.append(
            "NIK stored as a number in row(s) "
            + _ranges(numeric_nik)
            + ": Excel keeps only 15 digits of a number, so the last digit may be lost. "
            "Format the nik column as Text and type the NIKs again."
        )
    return WorkerFile(path, rows, warnings)


def _ranges(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


# --- submission ids and payloads -----------------------------------------------------------------


def check_source(source: str) -> str | None:
    """Why `source` cannot be a partner id, or None when it can."""
    if not source:
        return "the partner id must not be empty"
    if len(source) > MAX_SOURCE_LENGTH:
        return f"the partner id is at most {MAX_SOURCE_LENGTH} characters"
    if not validation.PARTNER_NAME.fullmatch(source):
        return (
            "the partner id may hold lower-case letters, digits and '-', starting with a letter or"
            " digit (e.g. desa-online): it names the partner's intake topic and Kafka principal"
        )
    return None


def canonical_row(values: Mapping[str, str]) -> str:
    """The row's content as one stable text: the contract's columns (whatever their order in the
    file), each trimmed with runs of spaces collapsed."""
    canonical = {c: " ".join(str(values.get(c, "") or "").split()) for c in COLUMNS}
    return json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def submission_id(source: str, values: Mapping[str, str]) -> str:
    """ "<source>-<first 16 hex of sha256(source + canonical row)>"."""
    digest = hashlib.sha256((source + "\n" + canonical_row(values)).encode()).hexdigest()
    return f"{source}-{digest[:SUBMISSION_HASH_LENGTH]}"


def parse_income(text: str) -> int | str | None:
    """ "" -> None; "1500000", "1.500.000", "Rp 1.500.000,-" -> 1500000; anything else as given
    (the registry then names it INCOME_INVALID)."""
    text = text.strip()
    if not text:
        return None
    for pattern in (_INCOME_PLAIN, _INCOME_GROUPED):
        match = pattern.fullmatch(text)
        if match:
            return int(re.sub(r"[^0-9]", "", match.group(1)))
    return text


def payload(source: str, row: Row) -> dict[str, Any]:
    """The RegistrationSubmitted body for a row: trimmed text, sex in upper case, income a number."""
    v = row.values
    sex = v["sex"].upper() if v["sex"].upper() in ("L", "P") else v["sex"]
    return {
        "submission_id": submission_id(source, v),
        "source": source,
        "nik": v["nik"],
        "full_name": v["full_name"],
        "birth_date": v["birth_date"],
        "sex": sex,
        "phone": v["phone"],
        "kecamatan": v["kecamatan"],
        "desa": v["desa"] or None,
        "occupation": v["occupation"],
        "declared_income_idr": parse_income(v["declared_income_idr"]),
    }


# --- local check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedRow:
    line: int
    submission_id: str
    payload: dict[str, Any]
    reasons: tuple[Reason, ...]
    repeat_of: int | None = None  # an identical row earlier in the file (same submission id)

    @property
    def valid(self) -> bool:
        return not self.reasons and self.repeat_of is None

    @property
    def publishable_when_invalid(self) -> bool:
        """--include-invalid: rows the registry can judge (not structural errors, not repeats)."""
        return self.repeat_of is None and not any(r.code == ROW_SHAPE for r in self.reasons)


def check_rows(source: str, rows: Iterable[Row]) -> list[CheckedRow]:
    """Check every row against the partner contract (RegistrationSubmitted: its limits and formats,
    with the registry's reason codes) and the kecamatan list, plus what only the file shows:
    identical rows repeated, and one NIK on two different rows (the first valid one counts).

    The registry's other rules (the NIK against the birth date and sex, the age, the letters of a
    name) need the registry: it answers them on registry.registration-rejected.v1 (`muba report`)."""
    checked: list[CheckedRow] = []
    first_line_of_id: dict[str, int] = {}
    first_line_of_nik: dict[str, int] = {}
    for row in rows:
        body = payload(source, row)
        sid = body["submission_id"]
        if sid in first_line_of_id:
            checked.append(CheckedRow(row.line, sid, body, (), repeat_of=first_line_of_id[sid]))
            continue
        first_line_of_id[sid] = row.line
        reasons = list(row.problems) + contract_reasons(RegistrationSubmitted, body)
        if not any(r.field == "kecamatan" for r in reasons) and resolve_kecamatan(body["kecamatan"]) is None:
            reasons.append(
                Reason(
                    "kecamatan",
                    KECAMATAN_UNKNOWN,
                    "Kecamatan tidak dikenal; isi nama atau kode kecamatan tempat bekerja di Kabupaten "
                    "Musi Banyuasin, misalnya Sekayu atau 01.",
                )
            )
        nik = normalise_nik(row.values["nik"]) if len(row.values["nik"]) <= MAX_NIK_LENGTH else ""
        if _NIK_DIGITS.fullmatch(nik) and nik in first_line_of_nik:
            reasons.append(
                Reason(
                    "nik",
                    DUPLICATE_NIK,
                    f"NIK yang sama sudah ada di baris {first_line_of_nik[nik]} berkas ini; "
                    "satu NIK hanya didaftarkan sekali.",
                )
            )
        elif not reasons:
            first_line_of_nik[nik] = row.line  # only a valid row claims its NIK
        checked.append(CheckedRow(row.line, sid, body, tuple(reasons)))
    return checked


def iter_rejections(checked: Iterable[CheckedRow]) -> Iterator[tuple[int, Reason]]:
    for row in checked:
        for reason in row.reasons:
            yield row.line, reason
