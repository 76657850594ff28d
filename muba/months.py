"""`muba months WORKER_ID`: a worker's contribution months (sponsorship's GET /api/months), each
with what it costs the sponsor and its proof: invoiced, paid, confirmed by BPJS."""

from typing import Any

from rich.table import Table

from muba.formatting import rupiah, waktu_text

STATE_TEXT = {
    "expected": "belum ditagih (expected)",
    "invoiced": "ditagih (invoiced)",
    "paid": "dibayar (paid)",
    "confirmed": "dikonfirmasi BPJS (confirmed)",
    "missed": "terlewat (missed)",
}


def months_table(body: dict[str, Any]) -> Table:
    table = Table(title=f"Iuran per bulan: pekerja {body.get('worker_id', '')}", title_justify="left")
    for column in (
        "Bulan",
        "Perusahaan",
        "KPJ",
        "Iuran",
        "Diskon",
        "Status",
        "Tagihan",
        "Dibayar",
        "Dikonfirmasi",
    ):
        table.add_column(column, justify="right" if column == "Iuran" else "left")
    for m in body.get("months") or ():
        table.add_row(
            str(m.get("month", "")),
            str(m.get("company_name") or ""),
            str(m.get("kpj_number") or ""),
            rupiah(int(m.get("contribution_idr") or 0)),
            str(m.get("discount") or ""),
            STATE_TEXT.get(str(m.get("state")), str(m.get("state"))),
            str(m.get("invoice_id") or ""),
            waktu_text(m.get("paid_at")) if m.get("paid_at") else "",
            waktu_text(m.get("confirmed_at")) if m.get("confirmed_at") else "",
        )
    totals = body.get("totals_idr") or {}
    table.caption = "  ".join(
        f"{STATE_TEXT[state].split(' (')[0]}: {rupiah(int(totals.get(state) or 0))}" for state in STATE_TEXT
    )
    return table
