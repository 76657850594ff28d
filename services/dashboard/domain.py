"""What the dashboard's pages show, made from the services' answers: pure (dicts in, dicts out),
no I/O, so the figures are tested without servers.

A page is one dict that the template renders first and that GET /data answers afterwards, for
the page's script to put in place: `figures` (each a number and its text, by name), `tables`
(rows of ready-made cell texts), `grid` (the 15 kecamatan), `charts` (labels and series for
Chart.js). The office's page carries the report itself (`report`: shared.report.build_report,
the very dict `muba report --format json` prints), so both always show the same numbers.

Money is whole Rupiah written the Indonesian way (Rp1.234.567, shared/format.py); days and times
are Asia/Jakarta's; personal data on a company's page is masked whatever the service sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final

from shared.format import BULAN, JAKARTA, format_number, format_rupiah
from shared.kecamatan import WHOLE_REGENCY_NAME
from shared.masking import mask_name, mask_nik, mask_phone
from shared.report import as_int, as_mapping

OFFICE: Final = "office"
COMPANY: Final = "company"
GRID_LEVELS: Final = 4

# Registry rejections in plain words (the codes of services/registry/domain/registration.py).
REJECTION_LABELS: Final[dict[str, str]] = {
    "MISSING_FIELD": "Isian wajib kosong",
    "INVALID_TYPE": "Isian tidak sesuai",
    "NIK_FORMAT": "NIK bukan 16 angka",
    "NIK_PROVINCE": "Kode wilayah NIK tidak dikenal",
    "NIK_BIRTH_DATE_MISMATCH": "Tanggal lahir tidak cocok dengan NIK",
    "NIK_SEX_MISMATCH": "Jenis kelamin tidak cocok dengan NIK",
    "NIK_SERIAL": "Nomor urut NIK tidak valid",
    "BIRTH_DATE_FORMAT": "Tanggal lahir tidak valid",
    "AGE_BELOW_MINIMUM": "Usia di bawah batas",
    "AGE_ABOVE_MAXIMUM": "Usia di atas batas",
    "SEX_INVALID": "Jenis kelamin tidak valid",
    "KECAMATAN_UNKNOWN": "Kecamatan tidak dikenal",
    "PHONE_INVALID": "Nomor HP tidak valid",
    "NAME_INVALID": "Nama tidak valid",
    "NAME_TOO_LONG": "Nama terlalu panjang",
    "OCCUPATION_INVALID": "Pekerjaan tidak dikenal",
    "INCOME_INVALID": "Penghasilan tidak valid",
    "DESA_INVALID": "Desa/kelurahan tidak dikenal",
    "DUPLICATE_NIK": "NIK sudah terdaftar",
    "ALREADY_FUNDED": "Sudah ditanggung pihak lain",
    "SOURCE_MISMATCH": "Dikirim atas nama mitra lain",
}
ENROLLMENT_STATES: Final[dict[str, str]] = {
    "requested": "menunggu BPJS",
    "confirmed": "terdaftar BPJS",
    "rejected": "ditolak BPJS",
}
MONTH_STATES: Final[dict[str, str]] = {
    "expected": "belum ditagih",
    "invoiced": "ditagih",
    "paid": "dibayar",
    "confirmed": "dibayar, dikonfirmasi BPJS",
    "missed": "terlewat",
}
PACKAGES: Final[dict[str, str]] = {"JKK_JKM": "JKK + JKM", "JKK_JKM_JHT": "JKK + JKM + JHT"}


# --- how numbers, money and days are written ---------------------------------------------------


def number(n: int) -> str:
    return format_number(n)


def rupiah(amount: int) -> str:
    return format_rupiah(int(amount))


def percent(part: float, whole: float) -> str:
    """(1234, 10000) -> '12,3%' (a decimal comma)."""
    value = 0.0 if whole <= 0 else 100.0 * part / whole
    return f"{value:.1f}".replace(".", ",") + "%"


def percent_text(value: float) -> str:
    return f"{value:.2f}".replace(".", ",") + "%"


def parse_day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def tanggal(value: Any) -> str:
    """An ISO day (or the day of an ISO time) written out: '1 Desember 2026'; '-' when absent."""
    day = parse_day(value)
    if day is None:
        return "-"
    if isinstance(value, str) and len(value) > 10 and "T" in value:
        return waktu(value).rsplit(" ", 2)[0]
    return f"{day.day} {BULAN[day.month - 1]} {day.year}"


def short_day(day: date) -> str:
    return f"{day.day} {BULAN[day.month - 1][:3]}"


def waktu(value: Any) -> str:
    """An ISO time in Jakarta's: '28 November 2026 14:05 WIB'; '-' when absent or unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "-"
    else:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JAKARTA)
    local = moment.astimezone(JAKARTA)
    return f"{local.day} {BULAN[local.month - 1]} {local.year} {local:%H:%M} WIB"


def month_text(value: Any) -> str:
    """'2026-11' -> 'November 2026'."""
    if isinstance(value, str) and len(value) >= 7 and value[4] == "-" and value[5:7].isdigit():
        month = int(value[5:7])
        if 1 <= month <= 12:
            return f"{BULAN[month - 1]} {value[:4]}"
    return str(value or "-")


def figure(value: int | float, text: str) -> dict[str, Any]:
    return {"value": value, "text": text}


def _objects(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list | tuple) else []


# --- the office's page ---------------------------------------------------------------------------


def timeline(enrolled_by_day: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Enrollments confirmed per day (sponsorship's /api/report), oldest first, with the running
    total: the programme's progress over time."""
    days = sorted(
        ((d, as_int(row.get("enrolled"))) for row in enrolled_by_day if (d := parse_day(row.get("day")))),
        key=lambda pair: pair[0],
    )
    total = 0
    out: list[dict[str, Any]] = []
    for day, n in days:
        total += n
        out.append({"day": day.isoformat(), "enrolled": n, "cumulative": total})
    return out


def _timeline_chart(days: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The running total by day, from 0 on the day before the first confirmation (a line needs
    two points to show a rise)."""
    points = [(date.fromisoformat(d["day"]), int(d["cumulative"])) for d in days]
    if points:
        points.insert(0, (points[0][0] - timedelta(days=1), 0))
    return {
        "labels": [short_day(day) for day, _ in points],
        "datasets": [{"label": "Terdaftar BPJS (kumulatif)", "data": [n for _, n in points]}],
    }


def invoices_due(invoices: Sequence[Mapping[str, Any]], today: date) -> list[Mapping[str, Any]]:
    """Invoices whose due day is today or later, the soonest first."""
    due = [i for i in invoices if (d := parse_day(i.get("due_date"))) is not None and d >= today]
    return sorted(due, key=lambda i: (str(i.get("due_date")), str(i.get("number"))))


def unpaid_invoiced_idr(sponsorship: Mapping[str, Any]) -> int:
    """What companies were invoiced and have not paid yet (the ledger's `invoiced` lines)."""
    return sum(
        as_int(as_mapping(c.get("ledger_idr")).get("invoiced")) for c in _objects(sponsorship.get("ledger"))
    )


def _level(n: int, most: int) -> int:
    if n <= 0 or most <= 0:
        return 0
    return max(1, round(GRID_LEVELS * n / most))


def office_page(
    report: Mapping[str, Any],
    sponsorship: Mapping[str, Any],
    invoices: Sequence[Mapping[str, Any]],
    *,
    today: date,
    now: datetime,
    masked: bool,
) -> dict[str, Any]:
    """The office's (and, masked, the auditor's) page: `report` is build_report's answer,
    `sponsorship` sponsorship's /api/report (its daily enrollments and ledger), `invoices` its
    /api/invoices."""
    coverage = as_mapping(report.get("coverage"))
    submissions = as_mapping(report.get("submissions"))
    due = invoices_due(invoices, today)
    days = timeline(_objects(sponsorship.get("enrolled_by_day")))
    committed, used = as_int(report.get("budget_committed_idr")), as_int(report.get("budget_used_idr"))
    figures: dict[str, dict[str, Any]] = {
        "target": figure(as_int(report.get("target")), number(as_int(report.get("target")))),
        "enrolled": figure(as_int(report.get("enrolled")), number(as_int(report.get("enrolled")))),
        "progress_percent": figure(
            float(report.get("progress_percent") or 0.0),
            percent_text(float(report.get("progress_percent") or 0)),
        ),
        "requested": figure(as_int(report.get("requested")), number(as_int(report.get("requested")))),
        "waitlisted": figure(as_int(report.get("waitlisted")), number(as_int(report.get("waitlisted")))),
        "failed": figure(as_int(report.get("failed")), number(as_int(report.get("failed")))),
        "submissions_registered": figure(
            as_int(submissions.get("registered")), number(as_int(submissions.get("registered")))
        ),
        "submissions_rejected": figure(
            as_int(submissions.get("rejected")), number(as_int(submissions.get("rejected")))
        ),
        "budget_committed_idr": figure(committed, rupiah(committed)),
        "budget_used_idr": figure(used, rupiah(used)),
        "budget_used_percent": figure(
            round(100.0 * used / committed, 1) if committed else 0.0, percent(used, committed)
        ),
        "invoices_due": figure(len(due), number(len(due))),
        "invoices_due_idr": figure(
            sum(as_int(i.get("total_idr")) for i in due), rupiah(sum(as_int(i.get("total_idr")) for i in due))
        ),
        "unpaid_invoiced_idr": figure(
            unpaid_invoiced_idr(sponsorship), rupiah(unpaid_invoiced_idr(sponsorship))
        ),
    }
    for key in (
        "workers_covered",
        "workers_uncovered",
        "unplanned_gaps",
        "members_at_risk",
        "members_six_paid_months",
    ):
        figures[key] = figure(as_int(coverage.get(key)), number(as_int(coverage.get(key))))
    # Messages as the providers answered (queued -> sent -> delivered | failed).
    notifications = as_mapping(report.get("notifications"))
    for key in ("queued", "sent", "delivered", "failed", "sms_segments"):
        figures[f"messages_{key}"] = figure(
            as_int(notifications.get(key)), number(as_int(notifications.get(key)))
        )
    figures["coverage_day"] = figure(
        0, tanggal(coverage.get("day")) if coverage.get("day") else "belum dihitung"
    )

    kecamatan = _objects(report.get("by_kecamatan"))
    most = max((as_int(r.get("enrolled")) for r in kecamatan), default=0)
    grid = [
        {
            "kecamatan": str(r.get("kecamatan", "")),
            "enrolled": as_int(r.get("enrolled")),
            "enrolled_text": number(as_int(r.get("enrolled"))),
            "detail": f"menunggu {number(as_int(r.get('waitlisted')))} · ditolak {number(as_int(r.get('rejected')))}",
            "level": _level(as_int(r.get("enrolled")), most),
        }
        for r in kecamatan
    ]
    companies = _objects(report.get("by_company"))
    occupations = _objects(report.get("by_occupation"))
    rejections = [(str(code), as_int(n)) for code, n in as_mapping(report.get("rejected_by_code")).items()]
    burn = _objects(coverage.get("commitments"))
    tables: dict[str, list[list[str]]] = {
        "companies": [
            [
                str(c.get("company", "")),
                number(as_int(c.get("enrolled"))),
                f"{number(as_int(c.get('slots_used')))} / {number(as_int(c.get('slots')))}",
                rupiah(as_int(c.get("budget_idr"))),
                rupiah(as_int(c.get("budget_used_idr"))),
            ]
            for c in companies
        ],
        "occupations": [
            [
                str(o.get("occupation", "")),
                number(as_int(o.get("registered"))),
                number(as_int(o.get("enrolled"))),
                number(as_int(o.get("waitlisted"))),
            ]
            for o in occupations
        ],
        "rejections": [[REJECTION_LABELS.get(code, code), code, number(n)] for code, n in rejections],
        "burn": [
            [
                str(c.get("company_name", "")),
                str(c.get("commitment_id", "")),
                rupiah(as_int(c.get("budget_idr"))),
                rupiah(as_int(c.get("paid_idr"))),
                rupiah(as_int(c.get("missed_idr"))),
                number(as_int(c.get("months_left"))),
                tanggal(c.get("covered_until")),
                f"ditangguhkan {tanggal(c.get('suspended_on'))}" if c.get("suspended_on") else "aktif",
            ]
            for c in burn
        ],
        "invoices": [
            [
                str(i.get("number", "")),
                str(i.get("company_name", "")),
                month_text(i.get("month")),
                rupiah(as_int(i.get("total_idr"))),
                tanggal(i.get("due_date")),
            ]
            for i in due
        ],
    }
    charts = {
        "kecamatan": {
            "labels": [str(r.get("kecamatan", "")) for r in kecamatan],
            "datasets": [
                {"label": "Terdaftar BPJS", "data": [as_int(r.get("enrolled")) for r in kecamatan]},
                {"label": "Menunggu sponsor", "data": [as_int(r.get("waitlisted")) for r in kecamatan]},
            ],
        },
        "companies": {
            "labels": [str(c.get("company", "")) for c in companies],
            "datasets": [
                {"label": "Terdaftar BPJS", "data": [as_int(c.get("enrolled")) for c in companies]},
                {"label": "Slot", "data": [as_int(c.get("slots")) for c in companies]},
            ],
        },
        "occupations": {
            "labels": [str(o.get("occupation", "")) for o in occupations[:10]],
            "datasets": [
                {"label": "Terdaftar BPJS", "data": [as_int(o.get("enrolled")) for o in occupations[:10]]}
            ],
        },
        "timeline": _timeline_chart(days),
        "rejections": {
            "labels": [REJECTION_LABELS.get(code, code) for code, _ in rejections],
            "datasets": [{"label": "Ditolak", "data": [n for _, n in rejections]}],
        },
    }
    return {
        "view": OFFICE,
        "masked": masked,
        "updated": waktu(now),
        "report": dict(report),
        "timeline": days,
        "figures": figures,
        "grid": grid,
        "tables": tables,
        "charts": charts,
    }


# --- a company's page ------------------------------------------------------------------------------


def coverage_until(enrollments: Iterable[Mapping[str, Any]]) -> date | None:
    """The last day the live (requested or confirmed) enrollments of a commitment cover."""
    ends = [
        d
        for e in enrollments
        if e.get("status") in ("requested", "confirmed") and (d := parse_day(e.get("coverage_end")))
    ]
    return max(ends) if ends else None


def worker_row(enrollment: Mapping[str, Any], commitment_id: str) -> dict[str, Any]:
    """One of the company's workers, masked whatever the service sent (masking is idempotent)."""
    return {
        "commitment_id": commitment_id,
        "worker_id": str(enrollment.get("worker_id", "")),
        "nik_masked": mask_nik(str(enrollment.get("nik_masked") or "")),
        "full_name": mask_name(str(enrollment.get("full_name") or "")) or "-",
        "phone_masked": mask_phone(str(enrollment.get("phone_masked") or "")),
        "kecamatan": str(enrollment.get("kecamatan_name") or "-"),
        "occupation": str(enrollment.get("occupation") or "-"),
        "status": ENROLLMENT_STATES.get(str(enrollment.get("status")), str(enrollment.get("status") or "-")),
        "kpj_number": str(enrollment.get("kpj_number") or "-"),
        "coverage_start": tanggal(enrollment.get("coverage_start")),
        "coverage_end": tanggal(enrollment.get("coverage_end")),
    }


def company_page(
    company_id: str,
    commitments: Sequence[Mapping[str, Any]],
    enrollments: Mapping[str, Sequence[Mapping[str, Any]]],
    payments: Mapping[str, Any] | None,
    invoices: Sequence[Mapping[str, Any]],
    *,
    today: date,
    now: datetime,
    renewal_notice_days: int,
    selected: str | None = None,
) -> dict[str, Any]:
    """A company's own page: its commitments (and when each needs renewing), its workers (masked),
    each month its payments paid with the payment's reference as proof, its invoices. Only the
    rows of `company_id` are kept, whatever the answers held (the services scope already; this
    is the second lock). `selected`: one of its commitments only."""
    mine = [c for c in commitments if str(c.get("company_id")) == company_id]
    if selected is not None:
        mine = [c for c in mine if str(c.get("commitment_id")) == selected]
    ids = [str(c.get("commitment_id")) for c in mine]
    rows: list[list[str]] = []
    renewals: list[list[str]] = []
    for c in mine:
        cid = str(c.get("commitment_id"))
        until = coverage_until(enrollments.get(cid, ()))
        days_left = (until - today).days + 1 if until is not None and until >= today else 0
        due = until is not None and days_left <= renewal_notice_days
        kecamatan = c.get("kecamatan") or []
        rows.append(
            [
                cid,
                ", ".join(str(k) for k in kecamatan) if isinstance(kecamatan, list) else WHOLE_REGENCY_NAME,
                PACKAGES.get(str(c.get("package")), str(c.get("package") or "-")),
                f"{number(as_int(c.get('slots_used')))} / {number(as_int(c.get('slots')))}",
                number(as_int(c.get("enrolled"))),
                f"{rupiah(as_int(c.get('budget_used_idr')))} / {rupiah(as_int(c.get('budget_idr')))}",
                tanggal(until.isoformat()) if until else "-",
            ]
        )
        if due and until is not None:
            renewals.append(
                [
                    cid,
                    tanggal(until.isoformat()),
                    f"{number(days_left)} hari lagi" if days_left else "berakhir",
                ]
            )
    workers = [worker_row(e, cid) for cid in ids for e in enrollments.get(cid, ())]
    known = {w["worker_id"]: w for w in workers}
    paid: list[list[str]] = []
    pay = (
        as_mapping(payments) if payments and str(as_mapping(payments).get("company_id")) == company_id else {}
    )
    for p in _objects(pay.get("payments")):
        for line in _objects(p.get("lines")):
            worker = known.get(str(line.get("worker_id")))
            if selected is not None and worker is None:
                continue  # a month of another of its commitments
            paid.append(
                [
                    month_text(line.get("month")),
                    worker["full_name"] if worker else "-",
                    worker["nik_masked"] if worker else "-",
                    rupiah(as_int(line.get("amount_idr"))),
                    str(p.get("reference", "")),
                    tanggal(p.get("paid_on")),
                    MONTH_STATES.get(str(line.get("state")), str(line.get("state") or "-")),
                    waktu(line.get("confirmed_at")) if line.get("confirmed_at") else "-",
                ]
            )
    mine_invoices = [i for i in invoices if str(i.get("company_id")) == company_id]
    due_invoices = invoices_due(mine_invoices, today)
    name = next(
        (str(c.get("company_name")) for c in commitments if str(c.get("company_id")) == company_id),
        company_id,
    )
    figures = {
        "commitments": figure(len(mine), number(len(mine))),
        "workers": figure(len(workers), number(len(workers))),
        "enrolled": figure(
            sum(as_int(c.get("enrolled")) for c in mine), number(sum(as_int(c.get("enrolled")) for c in mine))
        ),
        "paid_months": figure(len(paid), number(len(paid))),
        "renewals_due": figure(len(renewals), number(len(renewals))),
        "credit_idr": figure(as_int(pay.get("credit_idr")), rupiah(as_int(pay.get("credit_idr")))),
        "invoices_due": figure(len(due_invoices), number(len(due_invoices))),
    }
    return {
        "view": COMPANY,
        "masked": True,
        "company_id": company_id,
        "company_name": name,
        "selected": selected,
        "updated": waktu(now),
        "figures": figures,
        "tables": {
            "commitments": rows,
            "workers": [
                [
                    w["full_name"],
                    w["nik_masked"],
                    w["phone_masked"],
                    w["kecamatan"],
                    w["occupation"],
                    w["status"],
                    w["kpj_number"],
                    w["coverage_end"],
                ]
                for w in workers
            ],
            "paid_months": paid,
            "renewals": renewals,
            "invoices": [
                [
                    str(i.get("number", "")),
                    month_text(i.get("month")),
                    rupiah(as_int(i.get("total_idr"))),
                    tanggal(i.get("due_date")),
                ]
                for i in sorted(mine_invoices, key=lambda i: str(i.get("month")), reverse=True)
            ],
        },
        "commitment_ids": ids,
        "grid": [],
        "charts": {},
    }
