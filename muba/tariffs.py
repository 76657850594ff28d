"""`muba tariffs show` and `muba tariffs load FILE`: the BPU tariff table sponsorship prices
budgets and reservations from, as the API answers it (GET/PUT /api/tariffs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from muba.errors import DataError
from muba.formatting import rupiah, tanggal_text, waktu_text

SECTOR_TEXT = {"transport": "transportasi (ojek, sopir, kurir)", "other": "sektor lain"}
# What sponsorship's domain reads (services/sponsorship/domain/tariffs.py): the CLI only checks
# that the file is a JSON object; the service validates it and names each row it refuses.
MAX_FILE_BYTES = 64 * 1024


def read_table_file(path: Path) -> dict[str, Any]:
    """A tariff table document (JSON) from `path`, or a DataError saying why not."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise DataError(f"{path} is {len(raw)} bytes; a tariff table is at most {MAX_FILE_BYTES}")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path} is not a JSON document: {exc}") from None
    if not isinstance(document, dict):
        raise DataError(f"{path}: a JSON object expected (as `muba tariffs show --format json` writes)")
    return document


def _until(value: str | None) -> str:
    return tanggal_text(value) if value else "seterusnya (open)"


def _income_range(band: dict[str, Any]) -> str:
    start, end = band.get("income_from_idr", 0), band.get("income_to_idr")
    if end is None:
        return f"di atas {rupiah(int(start) - 1)}" if start else "semua"
    if not start:
        return f"s.d. {rupiah(int(end))}"
    return f"{rupiah(int(start))} – {rupiah(int(end))}"


def _permille(value: int) -> str:
    whole, rest = divmod(int(value), 10)
    return f"{whole}%" if not rest else f"{whole},{rest}%"


def tariffs_view(answer: dict[str, Any]) -> list[RenderableType]:
    """What `muba tariffs show` prints: the version, each tariff with its bands, the discounts,
    and whether PP 50/2025 applies to company-paid members here."""
    table = answer.get("table") or {}
    parts: list[RenderableType] = []
    head = Text.assemble(
        ("Tabel tarif BPU", "bold"),
        f" — versi {answer.get('version')}, dimuat oleh {answer.get('loaded_by')}",
        f" pada {waktu_text(answer.get('loaded_at'))}",
    )
    parts.append(head)
    if table.get("name"):
        parts.append(Text(str(table["name"])))
    if table.get("source"):
        parts.append(Text(f"Sumber: {table['source']}", style="dim"))
    if table.get("uncertain"):
        parts.append(Text(f"BELUM PASTI / {table['uncertain']}", style="bold yellow"))
    for t in table.get("tariffs") or []:
        parts.append(
            Text(
                f"Berlaku {tanggal_text(t.get('valid_from'))} s.d. {_until(t.get('valid_to'))}:"
                f" batas bawah penghasilan {rupiah(int(t['income_floor_idr']))},"
                f" JKM {rupiah(int(t['jkm_idr']))} sebulan, JHT {_permille(t['jht_rate_permille'])}"
                " dari penghasilan; JKK menurut kelompok penghasilan:",
                style="bold",
            )
        )
        bands = Table(box=box.SIMPLE, show_edge=False)
        bands.add_column("Penghasilan")
        bands.add_column("Nominal", justify="right")
        bands.add_column("JKK", justify="right")
        for band in t.get("jkk_bands") or []:
            bands.add_row(
                _income_range(band), rupiah(int(band["nominal_income_idr"])), rupiah(int(band["jkk_idr"]))
            )
        parts.append(bands)
    parts.append(Text("Keringanan iuran (JKK dan JKM, tidak JHT):", style="bold"))
    discounts = Table(box=box.SIMPLE, show_edge=False)
    for column in ("Nama", "Sektor", "Dari", "Sampai", "Potongan", "Catatan"):
        discounts.add_column(column, justify="right" if column == "Potongan" else "left")
    for d in table.get("discounts") or []:
        discounts.add_row(
            str(d.get("name", "")),
            SECTOR_TEXT.get(str(d.get("sector")), str(d.get("sector"))),
            tanggal_text(d.get("valid_from")),
            tanggal_text(d.get("valid_to")),
            f"{d.get('percent')}%",
            str(d.get("note") or ""),
        )
    parts.append(discounts if table.get("discounts") else Text("Tidak ada keringanan iuran."))
    applies = bool(answer.get("discount_applies_to_company_paid"))
    parts.append(
        Text.assemble(
            ("PP 50/2025 untuk peserta yang dibayar perusahaan (CSR): ", "bold"),
            ("diterapkan" if applies else "TIDAK diterapkan", "green" if applies else "yellow"),
            f" (SPONSORSHIP_APPLY_DISCOUNT={'true' if applies else 'false'})",
        )
    )
    return [Group(*parts)]


def loaded_text(answer: dict[str, Any]) -> Text:
    return Text(
        f"Tabel tarif versi {answer.get('version')} dimuat; anggaran dan reservasi berikutnya memakai tabel ini.",
        style="bold green",
    )
