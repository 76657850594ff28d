"""`muba status NIK`: where one worker stands, from the three services' answers (registry's worker,
sponsorship's status and enrollment, the notifications sent). Pure: dicts in, rich renderables out."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from muba.errors import DataError
from muba.formatting import key_value_table, rupiah, tanggal_text, waktu_text
from shared.masking import mask_nik
from shared.validation import MAX_NIK_LENGTH, normalise_nik

STATUS_TEXT = {
    "waitlisted": ("Menunggu sponsor (waitlisted)", "yellow"),
    "matched": ("Mendapat sponsor, menunggu konfirmasi BPJS (matched)", "cyan"),
    "enrolled": ("Terdaftar BPJS Ketenagakerjaan (enrolled)", "bold green"),
    "failed": ("Gagal didaftarkan BPJS (failed)", "bold red"),
    "funded_elsewhere": ("Didanai pihak lain, ditarik dari daftar tunggu (funded elsewhere)", "magenta"),
}
PACKAGE_TEXT = {"JKK_JKM": "JKK + JKM", "JKK_JKM_JHT": "JKK + JKM + JHT"}
# What BPJS did with the membership (EnrollmentConfirmed.membership).
MEMBERSHIP_TEXT = {
    "new": "Peserta baru",
    "continued": "Peserta aktif, iuran dilanjutkan dengan nomor KPJ-nya sendiri",
    "resumed": "Peserta nonaktif, diaktifkan kembali dengan nomor KPJ-nya sendiri",
}
NOTIFICATION_COLUMNS = ("Waktu", "Pesan", "Untuk", "Kanal", "Penerima", "Status")


def valid_nik(typed: str) -> str:
    nik = normalise_nik(typed) if len(typed) <= MAX_NIK_LENGTH else typed
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        raise DataError(
            "a NIK has 16 digits, as on the KTP (spaces, dots and dashes between digits are ignored)",
            hint="NIK harus terdiri dari 16 angka, sesuai KTP.",
        )
    return nik


def status_view(
    nik_typed: str,
    worker: dict[str, Any],
    sponsorship: dict[str, Any] | None,
    notifications: list[dict[str, Any]],
) -> list[Any]:
    """What `muba status` prints (rich renderables), from the three services' answers."""
    return [
        Text("Pekerja (worker)", style="bold underline"),
        worker_table(nik_typed, worker),
        Text(""),
        Text("Kepesertaan (sponsorship)", style="bold underline"),
        sponsorship_table(sponsorship),
        Text(""),
        Text("Notifikasi (notifications)", style="bold underline"),
        notifications_table(notifications)
        if notifications
        else Text("Belum ada notifikasi (none yet).", style="dim"),
    ]


def worker_table(nik_typed: str, worker: dict[str, Any]) -> Table:
    """The registry's worker, masked as the registry sends it (the typed NIK masked if it sent none)."""
    person = key_value_table()
    person.add_row("NIK", str(worker.get("nik_masked") or mask_nik(nik_typed)))
    person.add_row("Nama", str(worker.get("full_name", "")))
    person.add_row("Nomor HP", str(worker.get("phone_masked", "")))
    person.add_row(
        "Kecamatan kerja", f"{worker.get('kecamatan_name', '')} ({worker.get('kecamatan_code', '')})"
    )
    person.add_row("Pekerjaan", str(worker.get("occupation", "")))
    person.add_row(
        "Terdaftar di registry",
        f"{waktu_text(worker.get('registered_at'))} (sumber {worker.get('source', '-')})",
    )
    return person


def sponsorship_table(sponsorship: dict[str, Any] | None) -> Table:
    """Sponsorship's status of the worker and, once matched, the enrollment."""
    spons = key_value_table()
    if sponsorship is None:
        spons.add_row(
            "Status", Text("Belum diproses sponsorship (not yet seen by sponsorship)", style="yellow")
        )
        return spons
    status = str(sponsorship.get("status", ""))
    label, style = STATUS_TEXT.get(status, (status, ""))
    spons.add_row("Status", Text(label, style=style))
    spons.add_row("Sejak", waktu_text(sponsorship.get("status_changed_at")))
    elsewhere = sponsorship.get("funded_elsewhere")
    if isinstance(elsewhere, dict):
        payer = str(elsewhere.get("funder", ""))
        if elsewhere.get("description"):
            payer += f" ({elsewhere['description']})"
        spons.add_row(
            "Didanai pihak lain",
            Text(f"{payer}, sejak {waktu_text(elsewhere.get('noticed_at'))}", style="magenta"),
        )
    enrollment = sponsorship.get("enrollment")
    if isinstance(enrollment, dict):
        _add_enrollment(spons, enrollment, released=status == "failed")
    return spons


def _add_enrollment(spons: Table, enrollment: dict[str, Any], released: bool) -> None:
    """The sponsor, package and BPJS answer; a failed enrollment's slot is released (no coverage)."""
    package = str(enrollment.get("package", ""))
    spons.add_row(
        "Sponsor (slot dilepas)" if released else "Sponsor", str(enrollment.get("company_name", ""))
    )
    spons.add_row(
        "Paket",
        f"{PACKAGE_TEXT.get(package, package)}, {enrollment.get('months', '?')} bulan, "
        f"iuran {rupiah(int(enrollment.get('contribution_idr') or 0))}",
    )
    if enrollment.get("kpj_number"):
        spons.add_row("Nomor KPJ", str(enrollment["kpj_number"]))
    membership = enrollment.get("membership")
    if membership:
        spons.add_row("Kepesertaan", MEMBERSHIP_TEXT.get(str(membership), str(membership)))
    if enrollment.get("coverage_start") and enrollment.get("coverage_end") and not released:
        spons.add_row(
            "Masa perlindungan",
            f"{tanggal_text(enrollment.get('coverage_start'))} s.d. "
            f"{tanggal_text(enrollment.get('coverage_end'))}",
        )
    if enrollment.get("reason_code"):
        spons.add_row("Alasan BPJS", f"{enrollment['reason_code']}: {enrollment.get('reason_message') or ''}")
    spons.add_row("Diajukan ke BPJS", waktu_text(enrollment.get("requested_at")))


# A message's state as the office reads it: what the provider said, not what we hoped.
MESSAGE_STATES = {"queued": "antre", "sent": "terkirim", "delivered": "sampai", "failed": "gagal"}


def notifications_table(notifications: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in NOTIFICATION_COLUMNS:
        table.add_column(column, no_wrap=column != "Pesan")
    for n in notifications:
        table.add_row(
            waktu_text(
                n.get("delivered_at") or n.get("failed_at") or n.get("sent_at") or n.get("created_at")
            ),
            str(n.get("template", "")),
            str(n.get("audience", "")),
            str(n.get("channel", "")),
            str(n.get("recipient_masked", "")),
            MESSAGE_STATES.get(str(n.get("status", "")), str(n.get("status", ""))),
        )
    return table
