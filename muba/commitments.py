"""`muba commitments`: a company's commitment as the CLI submits it (the partner contract's body,
checked locally first), what the operator reads about it, and the list of commitments."""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from typing import Any, TextIO

from rich import box
from rich.table import Table
from rich.text import Text

from muba.api import Api
from muba.config import Config
from muba.errors import CliError, DataError
from muba.formatting import key_value_table, number, rupiah
from shared.events.sponsorship import CommitmentExtensionSubmitted, CommitmentSubmitted
from shared.kecamatan import WHOLE_REGENCY, resolve_kecamatan
from shared.validation import KECAMATAN_UNKNOWN, Reason, contract_reasons

WAIT_S = 30  # --wait: how long sponsorship has to list a new commitment

COMMITMENT_CSV_COLUMNS = (
    "commitment_id",
    "company_id",
    "company_name",
    "kecamatan",
    "package",
    "months",
    "slots",
    "slots_used",
    "budget_idr",
    "budget_used_idr",
    "enrolled",
    "requested",
    "created_at",
)


def commitment_body(
    *,
    commitment_id: str,
    company_id: str,
    company_name: str,
    kecamatan: Sequence[str],
    slots: int,
    months: int,
    package: str,
    preferred_occupations: Sequence[str],
    email: str | None,
    webhook_url: str | None,
) -> dict[str, Any]:
    """The CommitmentSubmitted body from what the operator typed (trimmed; the package upper-case)."""
    return {
        "commitment_id": commitment_id.strip(),
        "company_id": company_id.strip(),
        "company_name": company_name.strip(),
        "kecamatan": [k.strip() for k in kecamatan],
        "slots": slots,
        "months": months,
        "package": package.strip().upper(),
        "preferred_occupations": [o.strip() for o in preferred_occupations],
        "email": email.strip() if email else None,
        "webhook_url": webhook_url.strip() if webhook_url else None,
    }


def commitment_problems(raw: dict[str, Any]) -> list[Reason]:
    """What the partner contract (CommitmentSubmitted) refuses, and kecamatan Musi Banyuasin does
    not have; sponsorship checks the rest when the commitment arrives."""
    problems = contract_reasons(CommitmentSubmitted, raw)
    for i, entry in enumerate(raw["kecamatan"]):
        if entry != WHOLE_REGENCY and resolve_kecamatan(entry) is None:
            problems.append(
                Reason(
                    f"kecamatan[{i}]",
                    KECAMATAN_UNKNOWN,
                    f'Kecamatan "{entry[:100]}" tidak dikenal di Kabupaten Musi Banyuasin.',
                )
            )
    return problems


def extension_body(*, commitment_id: str, company_id: str, months: int, reference: str) -> dict[str, Any]:
    """The CommitmentExtensionSubmitted body (a renewal) from what the operator typed (trimmed)."""
    return {
        "commitment_id": commitment_id.strip(),
        "company_id": company_id.strip(),
        "reference": reference.strip(),
        "months": months,
    }


def extension_problems(raw: dict[str, Any]) -> list[Reason]:
    """What the renewal contract refuses (the same limits as sponsorship's validate_extension, a
    test says so); sponsorship checks the rest on arrival: the commitment is the company's, and
    its months stay within the limit."""
    return contract_reasons(CommitmentExtensionSubmitted, raw)


def extension_details(raw: dict[str, Any]) -> Table:
    details = key_value_table()
    details.add_row("Komitmen", f"{raw['commitment_id']} ({raw['company_id']})")
    details.add_row("Tambahan", f"{raw['months']} bulan untuk setiap pekerja yang disponsori")
    details.add_row("Referensi", raw["reference"])
    return details


def refusal_table(problems: list[Reason], title: str = "Komitmen ditolak (commitment refused)") -> Table:
    table = Table(title=title, title_justify="left", title_style="bold red")
    table.add_column("Kolom (field)", no_wrap=True)
    table.add_column("Kode (code)", no_wrap=True)
    table.add_column("Keterangan (message)")
    for reason in problems:
        table.add_row(reason.field, reason.code, reason.message)
    return table


def submitted_details(raw: dict[str, Any], budget: str) -> Table:
    """The submitted commitment as the operator checks it: who, where, how many, what it costs."""
    if WHOLE_REGENCY in raw["kecamatan"]:
        where = "Seluruh Kabupaten Musi Banyuasin"
    else:
        where = ", ".join(sorted(k for k in raw["kecamatan"] if k != WHOLE_REGENCY))
    details = key_value_table()
    details.add_row("Komitmen", raw["commitment_id"])
    details.add_row("Perusahaan", f"{raw['company_name']} ({raw['company_id']})")
    details.add_row("Kecamatan", where)
    details.add_row(
        "Slot × bulan",
        f"{number(raw['slots'])} pekerja × {raw['months']} bulan, paket {raw['package']}",
    )
    details.add_row("Anggaran", budget)
    return details


def budget_text(cfg: Config, package: str, months: int, slots: int) -> str:
    """The budget as sponsorship computes it (its tariffs and discount setting, today), or why not."""
    try:
        with Api(cfg) as api:
            quote = api.commitment_quote(package, months, slots)
    except CliError as exc:
        return f"? (sponsorship tidak menjawab: {exc.message}; lihat `muba commitments list`)"
    discount = "dengan diskon" if quote.get("discount_applied") else "tanpa diskon"
    return (
        f"{rupiah(int(quote.get('budget_idr') or 0))} "
        f"({rupiah(int(quote.get('per_worker_idr') or 0))} per pekerja, {discount}, pada penghasilan minimum)"
    )


def wait_until_listed(cfg: Config, commitment_id: str) -> dict[str, Any]:
    """--wait: sponsorship's row of the commitment once it lists it, polling for up to WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    with Api(cfg) as api:
        while True:
            found = [c for c in api.commitments() if c.get("commitment_id") == commitment_id]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise DataError(
                    f"sponsorship does not list the commitment after {WAIT_S} s",
                    hint="it may have been rejected: `muba dlq list` and the sponsorship log say why",
                )
            time.sleep(0.5)


def accepted_text(listed: dict[str, Any]) -> Text:
    budget = rupiah(int(listed.get("budget_idr") or 0))
    used, slots = number(int(listed.get("slots_used") or 0)), number(int(listed.get("slots") or 0))
    return Text(
        f"Diterima sponsorship (accepted): anggaran {budget}, slot {used}/{slots} terpakai.",
        style="green",
    )


def _table_row(c: dict[str, Any]) -> tuple[Any, ...]:
    kec = c.get("kecamatan") or []
    requested = int(c.get("requested") or 0)
    return (
        Text.assemble(
            str(c.get("company_name", "")),
            "\n",
            (f"{c.get('commitment_id', '')}\n{c.get('package', '')}, {c.get('months', '?')} bulan", "dim"),
        ),
        ", ".join(str(k) for k in kec) if isinstance(kec, list) else str(kec),
        f"{number(int(c.get('slots_used') or 0))}\ndari {number(int(c.get('slots') or 0))}",
        f"{rupiah(int(c.get('budget_used_idr') or 0))}\ndari {rupiah(int(c.get('budget_idr') or 0))}",
        number(int(c.get("enrolled") or 0)) + (f"\n+{number(requested)} diproses" if requested else ""),
    )


def commitments_table(commitments: list[dict[str, Any]]) -> Table:
    rows = [_table_row(c) for c in commitments]

    def widest(i: int, header: str) -> int:
        return max([len(line) for row in rows for line in str(row[i]).splitlines()] + [len(header)])

    table = Table(
        title="Komitmen perusahaan (commitments)",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Perusahaan", min_width=12, overflow="fold")
    table.add_column("Kecamatan", min_width=10, overflow="fold")
    # Numbers and money are never cut or wrapped: their columns are as wide as their widest value.
    table.add_column("Slot", justify="right", min_width=widest(2, "Slot"), no_wrap=True)
    table.add_column("Anggaran", justify="right", min_width=widest(3, "Anggaran"), no_wrap=True)
    table.add_column("Terdaftar", justify="right", min_width=widest(4, "Terdaftar"), no_wrap=True)
    for row in rows:
        table.add_row(*row)
    if not rows:
        table.add_row(Text("(belum ada komitmen)", style="dim"), "", "", "", "")
    return table


def write_csv(commitments: list[dict[str, Any]], stream: TextIO) -> None:
    """One line per commitment, its kecamatan joined with "; "."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COMMITMENT_CSV_COLUMNS)
    for c in commitments:
        row = dict(c, kecamatan="; ".join(str(k) for k in c.get("kecamatan") or []))
        writer.writerow([row.get(col, "") for col in COMMITMENT_CSV_COLUMNS])
