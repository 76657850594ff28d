"""`muba report`: the programme's progress as tables, CSV or JSON.

The report itself is assembled by `shared.report.build_report` (pure: dicts in, dict out; the
dashboard shows the same figures), re-exported here for the CLI and its tests.
CSV is long ("tidy"): one `section,name,metric,value` line per number, easy to pivot in a
spreadsheet; JSON is the joined structure itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from muba.formatting import number, percent, progress_line, rupiah, tanggal_text
from shared.report import (
    BURN_NUMBERS,
    COVERAGE_DAY,
    COVERAGE_TOTALS,
    DEFAULT_TARGET,
    FUNDED_ELSEWHERE,
    MEMBERSHIPS,
    build_report,
)

__all__ = [
    "BURN_NUMBERS",
    "COVERAGE_DAY",
    "COVERAGE_TOTALS",
    "CSV_HEADER",
    "DEFAULT_TARGET",
    "FUNDED_ELSEWHERE",
    "MEMBERSHIPS",
    "build_report",
    "csv_rows",
    "print_report",
    "render_csv",
    "render_json",
    "render_tables",
]

CSV_HEADER: Final = ("section", "name", "metric", "value")

# --- machine-readable ----------------------------------------------------------------------------


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def csv_rows(report: Mapping[str, Any]) -> Iterator[tuple[str, str, str, int | float]]:
    for metric in ("target", "enrolled", "progress_percent", "requested", "waitlisted", "failed"):
        yield "total", "", metric, report[metric]
    for metric, value in report["submissions"].items():
        yield "total", "", f"submissions_{metric}", value
    yield "total", "", "budget_committed_idr", report["budget_committed_idr"]
    yield "total", "", "budget_used_idr", report["budget_used_idr"]
    for row in report["by_kecamatan"]:
        for metric in ("registered", "enrolled", "waitlisted", "failed", "rejected"):
            yield "kecamatan", row["kecamatan"], metric, row[metric]
    for row in report["by_company"]:
        for metric in ("enrolled", "slots", "slots_used", "budget_idr", "budget_used_idr"):
            yield "company", row["company"], metric, row[metric]
    for row in report["by_occupation"]:
        for metric in ("registered", "enrolled", "waitlisted"):
            yield "occupation", row["occupation"], metric, row[metric]
    for code, n in report["rejected_by_code"].items():
        yield "rejection_code", code, "rejected", n
    for membership, n in report["enrolled_by_membership"].items():
        yield "membership", membership, "enrolled", n
    for metric, n in report["funded_elsewhere"].items():
        yield "funded_elsewhere", "", metric, n
    notifications = report.get("notifications")
    if notifications:
        for state in ("queued", "sent", "delivered", "failed", "sms_segments"):
            yield "notifications", "", state, notifications[state]
        for name, n in notifications["by_template"].items():
            yield "notification_template", name, "sent", n
        for name, n in notifications["by_channel"].items():
            yield "notification_channel", name, "sent", n
    coverage = report.get("coverage")
    if coverage:
        for metric in (*COVERAGE_DAY, *COVERAGE_TOTALS):
            yield "coverage", coverage["day"] or "", metric, coverage[metric]
        for c in coverage["commitments"]:
            for metric in BURN_NUMBERS:
                yield "budget_burn", c["commitment_id"], metric, c[metric]


def render_csv(report: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(report))
    return out.getvalue()


# --- for people ----------------------------------------------------------------------------------


def _num_table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_lines=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i > 0)
    return table


def render_tables(report: Mapping[str, Any]) -> Group:
    parts: list[Any] = [
        _headline(report),
        _kecamatan_table(report["by_kecamatan"]),
        _company_table(report["by_company"]),
        _occupation_table(report["by_occupation"]),
    ]
    if report["funded_elsewhere_flagged"]:
        flagged = _num_table(
            "Didanai pihak lain, sudah diajukan/terdaftar BPJS (funded elsewhere)",
            "Worker",
            "Pendana",
            "Status",
            "Kecamatan",
            "Sponsor",
        )
        for row in report["funded_elsewhere_flagged"]:
            flagged.add_row(
                str(row.get("worker_id", "")),
                str(row.get("funder", "")),
                str(row.get("status", "")),
                str(row.get("kecamatan_name", "")),
                str(row.get("company_name") or "-"),
            )
        parts.append(flagged)
    if report["rejected_by_code"]:
        codes = _num_table("Alasan penolakan registry", "Kode", "Jumlah")
        for code, n in report["rejected_by_code"].items():
            codes.add_row(code, number(n))
        parts.append(codes)
    coverage = report.get("coverage")
    if coverage:
        parts.append(_coverage_text(coverage))
        parts.append(_burn_table(coverage["commitments"]))
    notifications = report.get("notifications")
    if notifications:
        channels = ", ".join(f"{name} {number(n)}" for name, n in notifications["by_channel"].items()) or "-"
        parts.append(
            Text(
                f"Notifikasi: {number(notifications['delivered'])} sampai, "
                f"{number(notifications['sent'])} diterima penyedia (belum ada tanda terima), "
                f"{number(notifications['failed'])} gagal, {number(notifications['queued'])} dalam antrean"
                f" (kanal: {channels}; {number(notifications['sms_segments'])} segmen SMS)"
            )
        )
    return Group(*parts)


def _headline(report: Mapping[str, Any]) -> Text:
    """Progress to the target, where the workers are in the flow, submissions and the budget."""
    enrolled, target = report["enrolled"], report["target"]
    subs = report["submissions"]
    return Text.assemble(
        ("Progres target ", "bold"),
        (f"{number(target)} pekerja terdaftar BPJS Ketenagakerjaan\n", "bold"),
        (progress_line(enrolled, target), "green"),
        "\n",
        f"Terdaftar BPJS {number(enrolled)} · menunggu jawaban BPJS {number(report['requested'])} · "
        f"menunggu sponsor {number(report['waitlisted'])} · gagal di BPJS {number(report['failed'])}\n",
        _membership_line(report["enrolled_by_membership"]),
        _funded_elsewhere_line(report["funded_elsewhere"]),
        f"Pengajuan ke registry: {number(subs['registered'])} diterima, {number(subs['rejected'])} ditolak\n",
        f"Anggaran: {rupiah(report['budget_used_idr'])} terpakai dari {rupiah(report['budget_committed_idr'])} "
        f"({percent(report['budget_used_idr'], report['budget_committed_idr'])})",
    )


def _coverage_text(coverage: Mapping[str, Any]) -> Text:
    """The latest day's coverage numbers; an unplanned gap (must be 0) in red."""
    gaps = coverage["unplanned_gaps"]
    if coverage["day"] is None:
        return Text("Cakupan (coverage): belum ada hari yang dihitung (the coverage job has not run yet)")
    return Text.assemble(
        (f"Cakupan (coverage) {tanggal_text(coverage['day'])}\n", "bold"),
        f"Pekerja tertanggung {number(coverage['workers_covered'])} · "
        f"tidak tertanggung lagi {number(coverage['workers_uncovered'])} · ",
        (
            f"celah tak terencana {number(gaps)} (harus 0)",
            "bold red" if gaps or coverage["unplanned_gap_days"] else "green",
        ),
        f" · berisiko (iuran terlewat) {number(coverage['members_at_risk'])} · "
        f">= 6 bulan iuran dibayar (KPI BPJS) {number(coverage['members_six_paid_months'])}\n",
        f"Sejak awal: {number(coverage['coverage_days_lost'])} hari-cakupan hilang (coverage-days lost) · "
        f"{number(coverage['unplanned_gap_days'])} hari-celah tak terencana (unplanned gap-days)",
    )


def _burn_table(rows: list[dict[str, Any]]) -> Table:
    burn = _num_table(
        "Pemakaian anggaran per komitmen (budget burn)",
        "Komitmen",
        "Perusahaan",
        "Anggaran",
        "Tagihan (ledger)",
        "Dibayar",
        "Terlewat",
        "Sisa bulan",
        "Tertanggung s.d.",
        "Status",
    )
    for row in rows:
        status = (
            Text(f"ditangguhkan {tanggal_text(row['suspended_on'])}", style="red")
            if row["suspended_on"]
            else Text("aktif")
        )
        burn.add_row(
            row["commitment_id"],
            row["company_name"],
            rupiah(row["budget_idr"]),
            f"{rupiah(row['ledger_idr'])} ({percent(row['ledger_idr'], row['budget_idr'])})",
            f"{rupiah(row['paid_idr'])} ({percent(row['paid_idr'], row['budget_idr'])})",
            rupiah(row["missed_idr"]),
            number(row["months_left"]),
            tanggal_text(row["covered_until"]),
            status,
        )
    if not rows:
        burn.add_row(Text("(belum ada komitmen perusahaan)", style="dim"), *[""] * 8)
    return burn


def _funded_elsewhere_line(funded: Mapping[str, int]) -> str:
    """Workers another payer funds: the programme does not pay for them (flagged: the office decides)."""
    return (
        f"Didanai pihak lain (funded elsewhere): {number(funded['withdrawn'])} ditarik dari daftar tunggu · "
        f"{number(funded['flagged'])} sudah diajukan/terdaftar, perlu keputusan kantor\n"
    )


def _membership_line(by_membership: Mapping[str, int]) -> str:
    """Of the enrolled: new members and existing members sponsored (their own KPJ numbers)."""
    return (
        f"Kepesertaan: {number(by_membership['new'])} peserta baru · "
        f"{number(by_membership['continued'])} peserta aktif dilanjutkan · "
        f"{number(by_membership['resumed'])} peserta nonaktif diaktifkan kembali\n"
    )


def _kecamatan_table(rows: list[dict[str, Any]]) -> Table:
    kec = _num_table(
        "Per kecamatan", "Kecamatan", "Terdaftar BPJS", "Menunggu sponsor", "Gagal BPJS", "Ditolak registry"
    )
    for row in rows:
        kec.add_row(
            row["kecamatan"],
            number(row["enrolled"]),
            number(row["waitlisted"]),
            number(row["failed"]),
            number(row["rejected"]),
        )
    kec.add_section()
    kec.add_row(
        Text("Jumlah", style="bold"),
        *(number(sum(r[m] for r in rows)) for m in ("enrolled", "waitlisted", "failed", "rejected")),
    )
    return kec


def _company_table(rows: list[dict[str, Any]]) -> Table:
    company = _num_table(
        "Per perusahaan", "Perusahaan", "Terdaftar BPJS", "Slot terpakai", "Anggaran terpakai"
    )
    for row in rows:
        company.add_row(
            row["company"],
            number(row["enrolled"]),
            f"{number(row['slots_used'])} / {number(row['slots'])}",
            f"{rupiah(row['budget_used_idr'])} / {rupiah(row['budget_idr'])}",
        )
    if not rows:
        company.add_row(Text("(belum ada komitmen perusahaan)", style="dim"), "", "", "")
    return company


def _occupation_table(rows: list[dict[str, Any]]) -> Table:
    occupation = _num_table(
        "Per pekerjaan", "Pekerjaan", "Terdaftar registry", "Terdaftar BPJS", "Menunggu sponsor"
    )
    for row in rows:
        occupation.add_row(
            row["occupation"], number(row["registered"]), number(row["enrolled"]), number(row["waitlisted"])
        )
    if not rows:
        occupation.add_row(Text("(belum ada pekerja)", style="dim"), "", "", "")
    return occupation


def print_report(report: Mapping[str, Any], console: Console) -> None:
    console.print(render_tables(report))
