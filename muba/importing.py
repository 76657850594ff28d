"""`muba import workers` in pieces: which rows of a partner's file go out (the plan), and what the
operator reads about them (the check, the summary). No I/O here: the command reads the file, asks
the registry, publishes and prints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from muba.formatting import key_value_table, number, tanggal
from muba.workers_file import CheckedRow, Row, check_rows, iter_rejections
from shared.masking import mask_nik


@dataclass(frozen=True)
class ImportPlan:
    """A file's rows after the local check: valid, rejected (first occurrences), repeated, and the
    candidates to publish (valid ones, plus the rejected the registry can judge with --include-invalid)."""

    checked: list[CheckedRow]
    valid: list[CheckedRow]
    invalid: list[CheckedRow]
    repeats: list[CheckedRow]
    candidates: list[CheckedRow]


def plan_import(source: str, rows: Iterable[Row], include_invalid: bool) -> ImportPlan:
    checked = check_rows(source, rows)
    valid = [row for row in checked if row.valid]
    invalid = [row for row in checked if row.reasons and row.repeat_of is None]
    repeats = [row for row in checked if row.repeat_of is not None]
    extra = [row for row in invalid if row.publishable_when_invalid] if include_invalid else []
    return ImportPlan(checked, valid, invalid, repeats, valid + extra)


@dataclass(frozen=True)
class Sending:
    """The candidates split by what the registry already has (it may not have answered: --dry-run)."""

    already: list[CheckedRow]
    to_publish: list[CheckedRow]
    registry_answered: bool
    published: int = 0


def split_known(candidates: list[CheckedRow], known: set[str], registry_answered: bool) -> Sending:
    return Sending(
        already=[row for row in candidates if row.submission_id in known],
        to_publish=[row for row in candidates if row.submission_id not in known],
        registry_answered=registry_answered,
    )


def messages(source: str, rows: list[CheckedRow]) -> list[tuple[str | None, dict[str, Any]]]:
    """(key, body) per row; the key `<source>/<submission id>` keeps a partner's rows in order."""
    return [(f"{source}/{row.submission_id}", row.payload) for row in rows]


def check_report(file: Path, source: str, plan: ImportPlan, today: date) -> list[Any]:
    """What the local check found (rich renderables): the file, its rejections, its repeated rows."""
    parts: list[Any] = [
        Text.assemble(
            ("Berkas ", "bold"),
            str(file),
            f": {number(len(plan.checked))} baris data, sumber (source) ",
            (source, "bold"),
            f", diperiksa per {tanggal(today)}",
        )
    ]
    if plan.invalid:
        parts.append(rejection_table(plan.invalid))
    else:
        parts.append(Text("Semua baris lolos pemeriksaan lokal (no local rejections).", style="green"))
    for row in plan.repeats:
        parts.append(
            Text(
                f"Baris {row.line} sama persis dengan baris {row.repeat_of}: dikirim sekali saja.",
                style="dim",
            )
        )
    return parts


def rejection_table(checked: list[CheckedRow]) -> Table:
    table = Table(
        title="Ditolak pemeriksaan lokal (local rejections)", title_justify="left", title_style="bold"
    )
    table.add_column("Baris", justify="right", no_wrap=True)
    table.add_column("NIK", no_wrap=True)
    table.add_column("Kolom (field)", no_wrap=True)
    table.add_column("Kode (code)", no_wrap=True)
    table.add_column("Keterangan (message)")
    by_line = {row.line: row for row in checked}
    last = None
    for line, reason in iter_rejections(checked):
        nik = by_line[line].payload["nik"]
        first = line != last
        table.add_row(
            str(line) if first else "",
            (mask_nik(nik) if nik else "-") if first else "",
            reason.field,
            reason.code,
            reason.message,
        )
        last = line
    return table


def summary(plan: ImportPlan, sending: Sending, dry_run: bool, include_invalid: bool) -> list[Any]:
    """The counts at the end (rich renderables), with --dry-run's "would publish"."""
    table = key_value_table(numbers=True)
    table.add_row("Baris data (rows)", number(len(plan.checked)))
    table.add_row("Lolos pemeriksaan lokal (valid)", number(len(plan.valid)))
    table.add_row("Ditolak lokal (invalid)", number(len(plan.invalid)))
    if plan.repeats:
        table.add_row("Baris ganda di berkas (repeated rows)", number(len(plan.repeats)))
    already = number(len(sending.already)) if sending.registry_answered else "? (registry not asked)"
    table.add_row("Sudah ada di registry (already submitted)", already)
    if dry_run:
        table.add_row("Akan dikirim (would publish)", number(len(sending.to_publish)))
        table.add_row("Dikirim (published)", "0 (--dry-run)")
    else:
        table.add_row("Dikirim (published)", number(sending.published))
        if include_invalid:
            sent_invalid = sum(1 for row in sending.to_publish if row.reasons)
            table.add_row("  di antaranya tidak valid (of them invalid)", number(sent_invalid))
    return [Text("Ringkasan (summary)", style="bold"), table]


def published_note(published: int, topic: str) -> Text:
    return Text(
        f"The registry now checks the {number(published)} submission(s) on {topic}; "
        "see `muba report` or `muba status NIK`.",
        style="dim",
    )
