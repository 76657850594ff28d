"""`muba payments`: the office records a company's bank transfer (PaymentSubmitted, published as
`operator`: the one principal that writes the topic) and shows a company's payments, the months
each paid and its credit (GET /api/payments)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from muba.formatting import rupiah
from shared.events.sponsorship import PaymentSubmitted
from shared.validation import Reason, contract_reasons


def payment_body(*, company_id: str, amount_idr: int, reference: str, paid_on: str) -> dict[str, Any]:
    """The PaymentSubmitted body from what the operator typed (trimmed)."""
    return {
        "company_id": company_id.strip(),
        "reference": reference.strip(),
        "amount_idr": amount_idr,
        "paid_on": paid_on.strip(),
    }


def payment_problems(raw: dict[str, Any]) -> list[Reason]:
    """What the contract refuses; sponsorship checks the rest (a day after today) on arrival."""
    return contract_reasons(PaymentSubmitted, raw)


def refusal_table(problems: list[Reason]) -> Table:
    table = Table(title="Pembayaran ditolak (payment refused)", title_justify="left", title_style="bold red")
    table.add_column("Kolom (field)", no_wrap=True)
    table.add_column("Kode (code)", no_wrap=True)
    table.add_column("Keterangan (message)")
    for reason in problems:
        table.add_row(reason.field, reason.code, reason.message)
    return table


def payments_table(body: dict[str, Any]) -> Table:
    """Each payment and every worker-month it paid (the proof of each paid month)."""
    table = Table(
        title=f"Pembayaran {body.get('company_id')} — kredit {rupiah(int(body.get('credit_idr', 0)))}",
        title_justify="left",
        box=box.SIMPLE,
    )
    for column in ("Referensi", "Tanggal bayar", "Jumlah", "Bulan", "KPJ", "Iuran", "Status", "Tepat waktu"):
        table.add_column(column)
    for payment in body.get("payments", []):
        head = (payment["reference"], payment["paid_on"], rupiah(int(payment["amount_idr"])))
        lines = payment.get("lines") or [None]
        for i, line in enumerate(lines):
            first = head if i == 0 else ("", "", "")
            if line is None:
                table.add_row(*first, "-", "-", "-", "-", "-")
                continue
            table.add_row(
                *first,
                line["month"],
                line.get("kpj_number") or "-",
                rupiah(int(line["amount_idr"])),
                line["state"],
                "ya" if line["on_time"] else "terlambat",
            )
    return table
