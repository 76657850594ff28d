"""The `muba` CLI without servers: file parsing, submission ids, the local check, formatting, report
rendering, and its HTTP handling against a tiny local stdlib server answering the API's shapes."""

import ast
import csv
import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from muba import cli
from muba import workers_file as wf
from muba.cli import app, status_view
from muba.config import Config
from muba.formatting import number, percent, progress_line, rupiah, tanggal, tanggal_text, waktu, waktu_text
from muba.report import CSV_HEADER, build_report, render_csv, render_json, render_tables
from shared.events.registry import RegistrationSubmitted
from shared.kecamatan import KECAMATAN

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "workers.csv"
TODAY = date(2026, 11, 28)
TOKEN = "muba-local-operator"
ANSI = re.compile(r"\x1b\[")

HEADER = list(wf.COLUMNS)
SITI = {
    "nik": "1606015208900003",
    "full_name": "Siti Aminah",
    "birth_date": "1990-08-12",
    "sex": "P",
    "phone": "081273451120",
    "kecamatan": "Sekayu",
    "desa": "Kayuara",
    "occupation": "penyadap karet",
    "declared_income_idr": "",
}
AHMAD = {
    "nik": "1606010403850017",
    "full_name": "Ahmad Saputra",
    "birth_date": "1985-03-04",
    "sex": "L",
    "phone": "0813-6721-4490",
    "kecamatan": "07",
    "desa": "",
    "occupation": "buruh harian lepas",
    "declared_income_idr": "1.500.000",
}


def write_csv(
    path: Path, rows: list[dict[str, str]], header: list[str] = HEADER, delimiter: str = ","
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(c, "") for c in header])
    return path


# --- reading files -------------------------------------------------------------------------------


def test_the_sample_file_is_realistic_and_has_a_few_bad_rows() -> None:
    worker_file = wf.read_worker_file(SAMPLE)
    assert 28 <= len(worker_file.rows) <= 35
    checked = wf.check_rows("desa-online", worker_file.rows)
    invalid = [row for row in checked if row.reasons]
    assert 3 <= len(invalid) <= 8
    assert {r.code for row in invalid for r in row.reasons} >= {
        "NIK_FORMAT",
        "PHONE_INVALID",
        "KECAMATAN_UNKNOWN",
        "BIRTH_DATE_FORMAT",
        "DUPLICATE_NIK",
    }
    # Every kecamatan of Muba appears among the rows the registry registers; the rows the local
    # check lets through and the registry refuses break its domain rules only (age, name, NIK).
    valid = [row for row in checked if row.valid]
    from services.registry.domain.registration import validate_registration

    codes = set()
    refused_by_the_registry = set()
    for row in valid:
        result = validate_registration(row.payload, today=TODAY)
        if isinstance(result, list):
            refused_by_the_registry |= {r.code for r in result}
        else:
            codes.add(result.kecamatan_code)
    assert codes == set(KECAMATAN)
    assert refused_by_the_registry and refused_by_the_registry <= {
        "AGE_BELOW_MINIMUM",
        "AGE_ABOVE_MAXIMUM",
        "NAME_INVALID",
        "NIK_BIRTH_DATE_MISMATCH",
        "NIK_SEX_MISMATCH",
        "NIK_PROVINCE",
        "NIK_SERIAL",
    }


def test_csv_with_bom_semicolons_and_any_column_order(tmp_path: Path) -> None:
    header = list(reversed(HEADER))
    path = write_csv(tmp_path / "w.csv", [SITI, AHMAD], header=header, delimiter=";")
    path.write_bytes("\ufeff".encode() + path.read_bytes())
    worker_file = wf.read_worker_file(path)
    assert [row.line for row in worker_file.rows] == [2, 3]
    assert worker_file.rows[0].values == SITI
    assert worker_file.rows[1].values["declared_income_idr"] == "1.500.000"


def test_headers_are_trimmed_and_case_insensitive(tmp_path: Path) -> None:
    header = [
        " NIK",
        "Full Name",
        "birth-date",
        "SEX",
        "phone",
        "Kecamatan",
        "desa",
        "Occupation",
        "declared_income_idr",
    ]
    path = tmp_path / "w.csv"
    path.write_text(",".join(header) + "\n" + ",".join(SITI[c] for c in HEADER) + "\n")
    assert wf.read_worker_file(path).rows[0].values == SITI


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (HEADER[:-2], ["missing column(s): occupation, declared_income_idr"]),
        ([*HEADER, "email"], ["unknown column(s): 'email'"]),
        (["submission_id", *HEADER], ["unknown column(s): 'submission_id'", "are not columns"]),
        ([*HEADER, "nik"], ["repeated column(s): nik"]),
        (["nama", *HEADER[1:]], ["missing column(s): nik", "unknown column(s): 'nama'"]),
    ],
)
def test_column_errors_name_the_columns(tmp_path: Path, header: list[str], expected: list[str]) -> None:
    path = write_csv(tmp_path / "w.csv", [SITI], header=header)
    with pytest.raises(wf.FileError) as error:
        wf.read_worker_file(path)
    for text in expected:
        assert text in str(error.value)
    assert "Expected exactly these columns: nik, full_name" in str(error.value)


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(wf.FileError, match="empty"):
        wf.read_worker_file(tmp_path / "empty.csv")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(wf.FileError, match=r"\.csv or \.xlsx"):
        wf.read_worker_file(tmp_path / "w.txt")
    with pytest.raises(wf.FileError, match="no such file"):
        wf.read_worker_file(tmp_path / "missing.csv")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(wf.FileError, match=r"not a readable \.xlsx"):
        wf.read_worker_file(tmp_path / "broken.xlsx")


def test_a_row_with_too_many_cells_is_rejected_locally_and_never_published(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(SITI[c] for c in HEADER) + ",extra\n")
    [row] = wf.check_rows("p", wf.read_worker_file(path).rows)
    assert [r.code for r in row.reasons] == [wf.ROW_SHAPE]
    assert not row.publishable_when_invalid


def xlsx(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_xlsx_cells_read_as_the_csv_would_hold_them(tmp_path: Path) -> None:
    path = xlsx(
        tmp_path / "w.xlsx",
        [
            [
                "1606015208900003",
                "Siti Aminah",
                datetime(1990, 8, 12),
                "P",
                "081273451120",
                "Sekayu",
                "Kayuara",
                "penyadap karet",
                None,
            ],
            [
                "1606010403850017",
                "Ahmad Saputra",
                date(1985, 3, 4),
                "L",
                "0813-6721-4490",
                7,
                None,
                "buruh harian lepas",
                1500000.0,
            ],
        ],
    )
    worker_file = wf.read_worker_file(path)
    assert worker_file.warnings == []
    first, second = (row.values for row in worker_file.rows)
    assert first == SITI
    assert second["birth_date"] == "1985-03-04"
    assert second["kecamatan"] == "7"
    assert second["declared_income_idr"] == "1500000"
    # The same worker in a CSV and in a workbook gets the same submission id.
    assert wf.submission_id("p", first) == wf.submission_id("p", SITI)


def test_xlsx_numeric_nik_is_read_but_warned_about(tmp_path: Path) -> None:
    path = xlsx(
        tmp_path / "w.xlsx",
        [
            [
                1606015208900003,
                "Siti Aminah",
                "1990-08-12",
                "P",
                81273451120,
                "Sekayu",
                "",
                "penyadap karet",
                "",
            ]
        ],
    )
    worker_file = wf.read_worker_file(path)
    assert worker_file.rows[0].values["nik"] == "1606015208900003"
    assert worker_file.rows[0].values["phone"] == "81273451120"
    assert len(worker_file.warnings) == 1 and "15 digits" in worker_file.warnings[0]
    [row] = wf.check_rows("p", worker_file.rows)
    assert row.valid


def test_xlsx_column_errors(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "w.xlsx", [], header=["nik", "nama"])
    with pytest.raises(wf.FileError, match="missing column"):
        wf.read_worker_file(path)


# --- submission ids ------------------------------------------------------------------------------


def test_submission_ids_are_stable_and_follow_the_content() -> None:
    sid = wf.submission_id("desa-online", SITI)
    assert re.fullmatch(r"desa-online-[0-9a-f]{16}", sid)
    assert wf.submission_id("desa-online", dict(SITI)) == sid
    assert wf.submission_id("desa-online", dict(reversed(list(SITI.items())))) == sid  # column order
    assert wf.submission_id("desa-online", {k: f"  {v} " for k, v in SITI.items()}) == sid  # padding
    assert wf.submission_id("desa-online", dict(SITI, full_name="Siti  Aminah")) == sid  # spaces
    assert wf.submission_id("desa-online", dict(SITI, phone="081273451121")) != sid  # changed row
    assert wf.submission_id("desa-online", dict(SITI, desa="")) != sid
    assert wf.submission_id("other-partner", SITI) != sid  # another source


def test_row_order_does_not_change_ids(tmp_path: Path) -> None:
    a = wf.check_rows("p", wf.read_worker_file(write_csv(tmp_path / "a.csv", [SITI, AHMAD])).rows)
    b = wf.check_rows("p", wf.read_worker_file(write_csv(tmp_path / "b.csv", [AHMAD, SITI])).rows)
    assert {r.submission_id for r in a} == {r.submission_id for r in b}
    assert len({r.submission_id for r in a}) == 2


def test_submission_ids_fit_the_contract() -> None:
    # The source names the partner's intake topic and principal: at most 63 characters
    # (shared.topics.PARTNER_NAME), so the longest accepted one still fits a submission id.
    long_source = "p" * 63
    assert len(wf.submission_id(long_source, SITI)) <= 100
    assert wf.check_source(long_source) is None
    assert wf.check_source(long_source + "p") is not None
    assert wf.check_source("") is not None
    assert wf.check_source("desa online") is not None
    # What cannot name an intake topic or a principal is refused before anything is sent.
    for bad in ("Desa-Online", "desa_online", "desa.online", "-desa", "mitra:kud-sekayu"):
        assert wf.check_source(bad) is not None, bad


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("1500000", 1_500_000),
        ("1.500.000", 1_500_000),
        ("1,500,000", 1_500_000),
        ("Rp 1.500.000,-", 1_500_000),
        ("Rp1.000.000", 1_000_000),
        ("satu juta", "satu juta"),
        ("1.5", "1.5"),
    ],
)
def test_income_parsing(text: str, expected: int | str | None) -> None:
    assert wf.parse_income(text) == expected


def test_payloads_of_valid_rows_follow_the_partner_contract(tmp_path: Path) -> None:
    rows = wf.read_worker_file(write_csv(tmp_path / "w.csv", [SITI, dict(AHMAD, sex="l")])).rows
    checked = wf.check_rows("desa-online", rows)
    assert all(row.valid for row in checked)
    for row in checked:
        model = RegistrationSubmitted.model_validate(row.payload)
        assert model.source == "desa-online" and model.submission_id == row.submission_id
    assert checked[1].payload["sex"] == "L"
    assert checked[1].payload["declared_income_idr"] == 1_500_000
    assert checked[0].payload["declared_income_idr"] is None and checked[1].payload["desa"] is None


# --- the local check -----------------------------------------------------------------------------


def test_local_rejections_name_row_field_code_and_message(tmp_path: Path) -> None:
    bad = dict(SITI, nik="160601520890003", phone="0711-123456", kecamatan="Palembang")
    rows = wf.read_worker_file(write_csv(tmp_path / "w.csv", [AHMAD, bad])).rows
    checked = wf.check_rows("p", rows)
    assert checked[0].valid
    rejections = [(line, r.field, r.code) for line, r in wf.iter_rejections(checked)]
    assert rejections == [
        (3, "nik", "NIK_FORMAT"),
        (3, "phone", "PHONE_INVALID"),
        (3, "kecamatan", "KECAMATAN_UNKNOWN"),
    ]
    assert all(r.message for _, r in wf.iter_rejections(checked))


def test_repeated_rows_and_repeated_niks_in_one_file(tmp_path: Path) -> None:
    corrected = dict(SITI, phone="0711-1", desa="Soak Baru")  # invalid first ...
    rows = wf.read_worker_file(
        write_csv(tmp_path / "w.csv", [corrected, SITI, SITI, dict(SITI, phone="081311112222")])
    ).rows
    checked = wf.check_rows("p", rows)
    assert [r.code for r in checked[0].reasons] == ["PHONE_INVALID"]
    assert checked[1].valid  # ... then the corrected row claims the NIK
    assert checked[2].repeat_of == 3 and not checked[2].valid and not checked[2].reasons
    assert [r.code for r in checked[3].reasons] == ["DUPLICATE_NIK"]
    assert "baris 3" in checked[3].reasons[0].message


def test_the_local_check_is_the_contract_not_the_registry_rules(tmp_path: Path) -> None:
    """Limits and formats the contract states are refused locally, with the registry's codes;
    the registry's own rules (here the NIK against the birth date) are left to the registry."""
    long_name = dict(SITI, full_name="Siti " * 20 + "A", sex="l")
    mismatch = dict(AHMAD, birth_date="1985-03-05")
    rows = wf.read_worker_file(write_csv(tmp_path / "w.csv", [long_name, mismatch])).rows
    checked = wf.check_rows("p", rows)
    assert [(r.field, r.code) for r in checked[0].reasons] == [("full_name", "NAME_TOO_LONG")]
    assert checked[1].valid


def test_the_age_limits_come_from_the_registry_settings() -> None:
    config = Config.from_env({"REGISTRY_MIN_AGE": "18", "REGISTRY_MAX_AGE": "55", "TOPIC_PREFIX": "t1."})
    assert (config.min_age, config.max_age, config.topic("x")) == (18, 55, "t1.x")


# --- formatting ----------------------------------------------------------------------------------


def test_money_numbers_and_percentages() -> None:
    assert rupiah(1_234_567) == "Rp1.234.567"
    assert rupiah(0) == "Rp0"
    assert rupiah(16_800) == "Rp16.800"
    assert rupiah(-5_000) == "-Rp5.000"
    assert number(10_000) == "10.000"
    assert percent(1_234, 10_000) == "12,3%"
    assert percent(1, 0) == "0,0%"


def test_dates_in_bahasa_indonesia() -> None:
    assert tanggal(date(2026, 12, 1)) == "1 Desember 2026"
    assert tanggal(date(2027, 1, 31)) == "31 Januari 2027"
    assert tanggal_text("2026-12-01") == "1 Desember 2026"
    assert tanggal_text(None) == "-"
    assert waktu(datetime(2026, 11, 28, 17, 30, tzinfo=UTC)) == "29 November 2026 00:30 WIB"
    assert waktu_text("2026-08-17T03:00:00Z") == "17 Agustus 2026 10:00 WIB"
    assert waktu_text("2026-08-17T10:00:00+07:00") == "17 Agustus 2026 10:00 WIB"
    assert waktu_text("bukan tanggal") == "bukan tanggal"


def test_progress_line() -> None:
    assert progress_line(2_500, 10_000, width=8) == "[██░░░░░░] 2.500 / 10.000 (25,0%)"
    assert progress_line(12_000, 10_000, width=4).startswith("[████]")
    assert progress_line(0, 10_000, width=4).startswith("[░░░░]")


# --- report rendering ----------------------------------------------------------------------------

REGISTRY_REPORT: dict[str, Any] = {
    "submissions": {"registered": 7, "rejected": 3},
    "registered_by_kecamatan": {"Sekayu": 4, "Sungai Lilin": 3},
    "registered_by_occupation": {"penyadap karet": 4, "buruh kebun sawit": 3},
    "rejected_by_code": {"PHONE_INVALID": 1, "KECAMATAN_UNKNOWN": 2},
    "rejected_by_kecamatan": {"Sekayu": 1, "(tidak diketahui)": 2},
}
SPONSORSHIP_REPORT: dict[str, Any] = {
    "target": 10000,
    "enrolled": 5,
    "requested": 1,
    "waitlisted": 1,
    "failed": 0,
    "by_kecamatan": {
        "Sekayu": {"enrolled": 3, "waitlisted": 1, "failed": 0},
        "Sungai Lilin": {"enrolled": 2, "waitlisted": 0, "failed": 0},
    },
    "by_company": {
        "PT Hindoli": {
            "enrolled": 5,
            "slots": 20,
            "slots_used": 6,
            "budget_idr": 4_032_000,
            "budget_used_idr": 1_209_600,
        }
    },
    "by_occupation": {
        "penyadap karet": {"enrolled": 3, "waitlisted": 1},
        "buruh kebun sawit": {"enrolled": 2, "waitlisted": 0},
    },
    "budget_committed_idr": 4_032_000,
    "budget_used_idr": 1_209_600,
    "enrolled_by_membership": {"new": 3, "continued": 1, "resumed": 1},
}
NOTIFICATIONS_REPORT: dict[str, Any] = {
    "by_template": {"enrollment_confirmed": 10},
    "by_channel": {"sms": 5, "email": 5},
    "delivered": 9,
    "queued": 1,
}
# Sponsorship's GET /api/coverage (see tests/unit/test_cli_coverage.py).
COVERAGE: dict[str, Any] = {
    "today": "2027-02-02",
    "from": None,
    "to": None,
    "days": [
        {"day": "2027-02-02", "workers_covered": 1234, "workers_uncovered": 7, "unplanned_gaps": 0,
         "members_at_risk": 12, "members_six_paid_months": 845, "reported_at": "2027-02-01T17:00:00+00:00"},
        {"day": "2027-02-01", "workers_covered": 1230, "workers_uncovered": 5, "unplanned_gaps": 0,
         "members_at_risk": 3, "members_six_paid_months": 800, "reported_at": "2027-01-31T17:00:00+00:00"},
    ],
    "totals": {"days": 2, "coverage_days_lost": 12, "unplanned_gap_days": 0},
    "commitments": [
        {"commitment_id": "hindoli-2026", "company_id": "pt-hindoli", "company_name": "PT Hindoli", "months": 12,
         "budget_idr": 4_032_000, "budget_used_idr": 1_209_600, "ledger_idr": 1_209_600, "paid_idr": 403_200,
         "missed_idr": 0, "live_enrollments": 6, "covered_until": "2027-11-30", "days_left": 302,
         "months_left": 9, "suspended_on": None},
        {"commitment_id": "medco-2026", "company_id": "medco", "company_name": "PT Medco", "months": 12,
         "budget_idr": 2_016_000, "budget_used_idr": 504_000, "ledger_idr": 504_000, "paid_idr": 0,
         "missed_idr": 151_200, "live_enrollments": 0, "covered_until": None, "days_left": 0,
         "months_left": 0, "suspended_on": "2027-01-17"},
    ],
}  # fmt: skip


def test_the_report_joins_registry_and_sponsorship_by_kecamatan() -> None:
    report = build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, NOTIFICATIONS_REPORT)
    rows = {row["kecamatan"]: row for row in report["by_kecamatan"]}
    assert list(rows)[:15] == list(KECAMATAN.values())  # all 15, in code order, then the rest
    assert rows["Sekayu"] == {
        "kecamatan": "Sekayu",
        "registered": 4,
        "enrolled": 3,
        "waitlisted": 1,
        "failed": 0,
        "rejected": 1,
    }
    assert rows["(tidak diketahui)"]["rejected"] == 2
    assert rows["Lalan"]["enrolled"] == 0
    assert report["progress_percent"] == 0.05
    assert report["rejected_by_code"] == {"KECAMATAN_UNKNOWN": 2, "PHONE_INVALID": 1}
    assert report["by_occupation"][0]["occupation"] == "penyadap karet"


def test_report_csv_is_long_and_machine_readable() -> None:
    text = render_csv(build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, NOTIFICATIONS_REPORT))
    assert not ANSI.search(text)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_HEADER
    assert all(len(row) == 4 for row in rows)
    values = {(s, n, m): v for s, n, m, v in rows[1:]}
    assert values[("total", "", "enrolled")] == "5"
    assert values[("total", "", "budget_used_idr")] == "1209600"  # plain numbers, no "Rp"
    assert values[("kecamatan", "Sekayu", "rejected")] == "1"
    assert values[("company", "PT Hindoli", "slots_used")] == "6"
    assert values[("occupation", "buruh kebun sawit", "enrolled")] == "2"
    assert values[("rejection_code", "KECAMATAN_UNKNOWN", "rejected")] == "2"
    assert values[("notification_channel", "sms", "sent")] == "5"
    assert [values[("membership", m, "enrolled")] for m in ("new", "continued", "resumed")] == ["3", "1", "1"]


def test_report_json_round_trips() -> None:
    report = build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT)
    text = render_json(report)
    assert not ANSI.search(text)
    assert json.loads(text) == report
    assert "notifications" not in report


def test_report_tables_for_people() -> None:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None)
    console.print(render_tables(build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, NOTIFICATIONS_REPORT)))
    text = buffer.getvalue()
    assert "5 / 10.000 (0,1%)" in text
    assert "Rp1.209.600 / Rp4.032.000" in text
    assert "6 / 20" in text and "PT Hindoli" in text and "Jirak Jaya" in text
    assert "3 peserta baru · 1 peserta aktif dilanjutkan · 1 peserta nonaktif diaktifkan kembali" in text


def test_an_empty_system_reports_zeros() -> None:
    report = build_report({}, {})
    assert report["target"] == 10_000 and report["enrolled"] == 0
    assert len(report["by_kecamatan"]) == 15
    assert report["enrolled_by_membership"] == {"new": 0, "continued": 0, "resumed": 0}
    render_csv(report)


# --- status rendering ----------------------------------------------------------------------------

WORKER: dict[str, Any] = {
    "worker_id": "6f1c2d3e-0000-4000-8000-000000000001",
    "nik_masked": "160601********03",
    "full_name": "Siti Aminah",
    "phone_masked": "+62812****1120",
    "kecamatan_code": "01",
    "kecamatan_name": "Sekayu",
    "occupation": "penyadap karet",
    "registered_at": "2026-11-28T07:15:00+00:00",
    "source": "desa-online",
    "submission_id": "desa-online-0123456789abcdef",
}
ENROLLED: dict[str, Any] = {
    "worker_id": WORKER["worker_id"],
    "status": "enrolled",
    "kecamatan_name": "Sekayu",
    "occupation": "penyadap karet",
    "status_changed_at": "2026-11-28T07:16:00+00:00",
    "enrollment": {
        "enrollment_id": "e1",
        "status": "confirmed",
        "commitment_id": "hindoli-2026",
        "company_name": "PT Hindoli",
        "package": "JKK_JKM",
        "months": 12,
        "contribution_idr": 201_600,
        "kpj_number": "73255520712",
        "coverage_start": "2026-12-01",
        "coverage_end": "2027-11-30",
        "reason_code": None,
        "reason_message": None,
        "requested_at": "2026-11-28T07:15:30+00:00",
    },
}
NOTIFICATIONS = [
    {
        "template": "enrollment_confirmed",
        "audience": "worker",
        "channel": "sms",
        "recipient_masked": "+62812****1120",
        "status": "delivered",
        "created_at": "2026-11-28T07:16:01+00:00",
        "delivered_at": "2026-11-28T07:16:02+00:00",
    }
]


def render(parts: list[Any]) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=140, color_system=None)
    for part in parts:
        console.print(part)
    return buffer.getvalue()


def test_status_of_an_enrolled_worker() -> None:
    text = render(status_view("1606015208900003", WORKER, ENROLLED, NOTIFICATIONS))
    for expected in (
        "160601********03",
        "+62812****1120",
        "Terdaftar BPJS Ketenagakerjaan (enrolled)",
        "PT Hindoli",
        "Rp201.600",
        "73255520712",
        "1 Desember 2026 s.d. 30 November 2027",
        "28 November 2026 14:15 WIB",
        "enrollment_confirmed",
    ):
        assert expected in text
    assert "1606015208900003" not in text and "81273451120" not in text


def test_status_says_an_existing_members_own_kpj_number_is_continued_or_resumed() -> None:
    for membership, expected in (
        ("continued", "Peserta aktif, iuran dilanjutkan dengan nomor KPJ-nya sendiri"),
        ("resumed", "Peserta nonaktif, diaktifkan kembali dengan nomor KPJ-nya sendiri"),
        ("new", "Peserta baru"),
    ):
        sponsorship = dict(ENROLLED, enrollment=dict(ENROLLED["enrollment"], membership=membership))
        text = render(status_view("1606015208900003", WORKER, sponsorship, NOTIFICATIONS))
        assert expected in text and "73255520712" in text
    before = render(status_view("1606015208900003", WORKER, ENROLLED, NOTIFICATIONS))  # no membership said
    assert "Peserta baru" not in before and "Peserta aktif" not in before


@pytest.mark.parametrize(
    ("sponsorship", "expected"),
    [
        (None, "Belum diproses sponsorship"),
        (dict(ENROLLED, status="waitlisted", enrollment=None), "Menunggu sponsor (waitlisted)"),
        (
            dict(ENROLLED, status="matched", enrollment=dict(ENROLLED["enrollment"], kpj_number=None)),
            "menunggu konfirmasi BPJS (matched)",
        ),
        (
            dict(
                ENROLLED,
                status="failed",
                enrollment=dict(
                    ENROLLED["enrollment"],
                    kpj_number=None,
                    reason_code="NIK_NOT_FOUND",
                    reason_message="NIK tidak ditemukan",
                ),
            ),
            "NIK_NOT_FOUND: NIK tidak ditemukan",
        ),
    ],
)
def test_status_of_workers_elsewhere_in_the_flow(sponsorship: dict[str, Any] | None, expected: str) -> None:
    text = render(status_view("1606015208900003", WORKER, sponsorship, []))
    assert expected in text
    assert "Belum ada notifikasi" in text


# --- the CLI against a tiny local HTTP server ----------------------------------------------------


class FakeSystem:
    """The three services' GET /api/... on one port, answering the documented shapes."""

    def __init__(self) -> None:
        self.workers = {SITI["nik"]: WORKER}
        self.sponsorship = {WORKER["worker_id"]: ENROLLED}
        self.notifications = {WORKER["worker_id"]: NOTIFICATIONS}
        self.submissions: dict[str, list[str]] = {}
        self.commitments: list[dict[str, Any]] = [
            {
                "commitment_id": "hindoli-2026",
                "company_id": "pt-hindoli",
                "company_name": "PT Hindoli",
                "kecamatan": ["Sungai Lilin", "Keluang"],
                "slots": 20,
                "slots_used": 6,
                "months": 12,
                "package": "JKK_JKM",
                "budget_idr": 4_032_000,
                "budget_used_idr": 1_209_600,
                "enrolled": 5,
                "requested": 1,
                "created_at": "2026-11-28T07:00:00+00:00",
            }
        ]
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        self.delay_s = 0.0
        self.fail_with: int | None = None

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        if self.fail_with:
            return self.fail_with, {"error": "database unavailable"}
        routes: dict[str, Any] = {
            "/registry/api/workers": lambda: self.workers.get(params.get("nik", "")),
            "/registry/api/submissions": lambda: {
                "source": params["source"],
                "submission_ids": self.submissions.get(params["source"], []),
            },
            "/registry/api/report": lambda: REGISTRY_REPORT,
            "/sponsorship/api/workers": lambda: self.sponsorship.get(params.get("worker_id", "")),
            "/sponsorship/api/commitments": lambda: self.commitments,
            "/sponsorship/api/report": lambda: SPONSORSHIP_REPORT,
            "/sponsorship/api/commitment-quote": lambda: {
                "package": params["package"],
                "months": int(params["months"]),
                "slots": int(params["slots"]),
                "discount_applied": False,
                "per_worker_idr": 201_600,
                "budget_idr": 201_600 * int(params["slots"]),
            },
            "/notifications/api/notifications": lambda: self.notifications.get(
                params.get("worker_id", ""), []
            ),
            "/notifications/api/report": lambda: NOTIFICATIONS_REPORT,
            "/sponsorship/api/coverage": lambda: COVERAGE,
        }
        if path not in routes:
            return 404, "Not Found"
        body = routes[path]()
        return (404, {"error": "not found"}) if body is None else (200, body)


@pytest.fixture
def system() -> Iterator[tuple[FakeSystem, str]]:
    fake = FakeSystem()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            fake.requests.append((url.path, params, self.headers.get("Authorization")))
            if fake.delay_s:
                time.sleep(fake.delay_s)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, {"error": "an operator token is required"}
            else:
                status, body = fake.answer(url.path, params)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(base: str, **extra: str) -> dict[str, str]:
    return {
        "REGISTRY_URL": f"{base}/registry",
        "SPONSORSHIP_URL": f"{base}/sponsorship",
        "NOTIFICATIONS_URL": f"{base}/notifications",
        "MUBA_OPERATOR_TOKEN": TOKEN,
        # Nothing listens here: a test that reaches Kafka fails with exit 3 instead of publishing.
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        # A password, so that what is tested is the broker being away (not the secrets dir).
        "KAFKA_PASSWORD": "unit-test-password",
        "TOPIC_PREFIX": "",
        "COLUMNS": "200",
        "NO_COLOR": "1",
        **extra,
    }


runner = CliRunner()


def test_status_finds_a_worker_through_the_three_apis(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    result = runner.invoke(app, ["status", "1606.0152.0890-0003"], env=env_for(base))
    assert result.exit_code == 0, result.output
    assert "73255520712" in result.stdout and "1 Desember 2026" in result.stdout
    assert "160601********03" in result.stdout and "+62812****1120" in result.stdout
    assert "81273451120" not in result.output
    assert [path for path, _, _ in fake.requests] == [
        "/registry/api/workers",
        "/sponsorship/api/workers",
        "/notifications/api/notifications",
    ]
    assert fake.requests[0][1] == {"nik": "1606015208900003"}
    assert {auth for _, _, auth in fake.requests} == {f"Bearer {TOKEN}"}


def test_status_of_an_unknown_nik_is_not_found(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    result = runner.invoke(app, ["status", "1606010403850017"], env=env_for(base))
    assert result.exit_code == 1
    assert "NIK not found" in result.output
    assert "Traceback" not in result.output
    assert len(fake.requests) == 1


def test_status_checks_the_nik_format_before_asking(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    for typed in ("12345", "16060152089000031", "1606O15208900003"):
        result = runner.invoke(app, ["status", typed], env=env_for(base))
        assert result.exit_code == 1 and "16 digits" in result.output
    assert fake.requests == []


def test_not_running_is_exit_3_with_how_to_start_it() -> None:
    port = closed_port()
    env = env_for(f"http://127.0.0.1:{port}")
    for args in (["status", "1606015208900003"], ["report"], ["commitments", "list"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 3, result.output
        assert f"the system is not running at http://127.0.0.1:{port}" in result.output
        assert "make demo" in result.output and "Traceback" not in result.output


def test_a_timeout_is_not_running_too(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    fake.delay_s = 1.0
    result = runner.invoke(app, ["report"], env=env_for(base, MUBA_HTTP_TIMEOUT="0.2"))
    assert result.exit_code == 3
    assert "the system is not running at" in result.output and "did not answer within 0.2 s" in result.output


def test_a_server_error_is_exit_3(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    fake.fail_with = 500
    result = runner.invoke(app, ["status", "1606015208900003"], env=env_for(base))
    assert result.exit_code == 3 and "HTTP 500" in result.output and "database unavailable" in result.output


def test_a_wrong_token_is_explained(system: tuple[FakeSystem, str]) -> None:
    _, base = system
    result = runner.invoke(app, ["report"], env=env_for(base, MUBA_OPERATOR_TOKEN="wrong"))
    assert result.exit_code == 1
    assert "401" in result.output and "MUBA_OPERATOR_TOKEN" in result.output


def test_a_missing_route_is_not_taken_for_a_missing_worker(system: tuple[FakeSystem, str]) -> None:
    _, base = system
    result = runner.invoke(
        app, ["status", "1606015208900003"], env=env_for(base, REGISTRY_URL=f"{base}/elsewhere")
    )
    assert result.exit_code == 3 and "does not offer GET /api/workers" in result.output


@pytest.mark.parametrize("output", ["json", "csv"])
def test_report_formats_are_machine_readable(system: tuple[FakeSystem, str], output: str) -> None:
    _, base = system
    result = runner.invoke(app, ["report", "--format", output], env=env_for(base))
    assert result.exit_code == 0, result.output
    assert not ANSI.search(result.stdout)
    expected = build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, NOTIFICATIONS_REPORT, COVERAGE)
    if output == "json":
        assert json.loads(result.stdout) == expected
    else:
        assert result.stdout == render_csv(expected)


def test_report_table(system: tuple[FakeSystem, str]) -> None:
    _, base = system
    result = runner.invoke(app, ["report"], env=env_for(base))
    assert result.exit_code == 0, result.output
    assert (
        "5 / 10.000" in result.stdout and "Rp1.209.600" in result.stdout and "Sungai Lilin" in result.stdout
    )


def test_commitments_list(system: tuple[FakeSystem, str]) -> None:
    _, base = system
    result = runner.invoke(app, ["commitments", "list"], env=env_for(base))
    assert result.exit_code == 0, result.output
    for expected in (
        "PT Hindoli",
        "Sungai Lilin, Keluang",
        "6",
        "dari 20",
        "Rp1.209.600",
        "dari Rp4.032.000",
    ):
        assert expected in result.stdout
    as_json = runner.invoke(app, ["commitments", "list", "--format", "json"], env=env_for(base))
    assert json.loads(as_json.stdout)[0]["commitment_id"] == "hindoli-2026"


def test_usage_errors_exit_2(system: tuple[FakeSystem, str]) -> None:
    _, base = system
    assert runner.invoke(app, ["report", "--format", "xml"], env=env_for(base)).exit_code == 2
    assert (
        runner.invoke(app, ["import", "workers", str(SAMPLE), "--source", "a b"], env=env_for(base)).exit_code
        == 2
    )
    assert runner.invoke(app, ["import", "workers", str(SAMPLE)], env=env_for(base)).exit_code == 2
    assert runner.invoke(app, ["nonsense"], env=env_for(base)).exit_code == 2


def test_import_dry_run_reports_local_rejections_without_personal_data(
    system: tuple[FakeSystem, str], tmp_path: Path
) -> None:
    fake, base = system
    bad = dict(AHMAD, nik="1606010403850018", phone="0711-123456", kecamatan="Palembang")
    path = write_csv(tmp_path / "w.csv", [SITI, bad, SITI])
    known = wf.submission_id("desa-online", SITI)
    fake.submissions["desa-online"] = [known]
    result = runner.invoke(
        app, ["import", "workers", str(path), "--source", "desa-online", "--dry-run"], env=env_for(base)
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "PHONE_INVALID" in out and "KECAMATAN_UNKNOWN" in out and "NIK_BIRTH_DATE_MISMATCH" not in out
    assert "160601********18" in out  # the row's NIK, masked
    assert "1606010403850018" not in result.output and "123456" not in result.output
    assert "Baris 4 sama persis dengan baris 2" in out
    assert re.search(r"already submitted\)\s+1\b", out)
    assert re.search(r"would publish\)\s+0\b", out)
    assert fake.requests[0][:2] == ("/registry/api/submissions", {"source": "desa-online"})


def test_import_publishes_nothing_when_the_registry_has_every_row(
    system: tuple[FakeSystem, str], tmp_path: Path
) -> None:
    fake, base = system
    path = write_csv(tmp_path / "w.csv", [SITI, AHMAD])
    fake.submissions["p"] = [wf.submission_id("p", SITI), wf.submission_id("p", AHMAD)]
    # Kafka is unreachable in this environment, so reaching it would end with exit 3.
    result = runner.invoke(app, ["import", "workers", str(path), "--source", "p"], env=env_for(base))
    assert result.exit_code == 0, result.output
    assert re.search(r"published\)\s+0\b", result.stdout)


def test_import_with_kafka_away_is_exit_3(system: tuple[FakeSystem, str], tmp_path: Path) -> None:
    _, base = system
    path = write_csv(tmp_path / "w.csv", [SITI])
    env = env_for(base)
    result = runner.invoke(app, ["import", "workers", str(path), "--source", "p"], env=env)
    assert result.exit_code == 3, result.output
    assert f"the system is not running at Kafka {env['KAFKA_BOOTSTRAP_SERVERS']}" in result.output


def test_import_of_a_file_with_wrong_columns_is_exit_1(
    system: tuple[FakeSystem, str], tmp_path: Path
) -> None:
    fake, base = system
    path = write_csv(tmp_path / "w.csv", [SITI], header=[*HEADER, "submission_id"])
    result = runner.invoke(app, ["import", "workers", str(path), "--source", "p"], env=env_for(base))
    assert result.exit_code == 1
    assert "unknown column(s): 'submission_id'" in result.output and "Traceback" not in result.output
    assert fake.requests == []


def test_dry_run_works_offline(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", [SITI, AHMAD])
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    result = runner.invoke(app, ["import", "workers", str(path), "--source", "p", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "the system is not running" in result.output
    assert re.search(r"would publish\)\s+2\b", result.stdout)


def test_commitments_add_refuses_an_invalid_commitment_with_reasons() -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    result = runner.invoke(
        app,
        [
            "commitments", "add", "--commitment-id", "c1", "--company-id", "pt-x", "--company-name", "PT X",
            "--kecamatan", "*", "--kecamatan", "Palembang", "--slots", "0", "--months", "61", "--package", "JKN",
        ],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1
    for code in ("KECAMATAN_UNKNOWN", "SLOTS_INVALID", "MONTHS_INVALID", "PACKAGE_UNKNOWN"):
        assert code in result.stdout
    assert "not submitted" in result.output


def test_commitments_add_needs_a_contact() -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    result = runner.invoke(
        app,
        [
            "commitments", "add", "--commitment-id", "c1", "--company-id", "pt-x", "--company-name", "PT X",
            "--kecamatan", "Sekayu", "--slots", "5", "--months", "12", "--package", "JKK_JKM",
            "--email", "  ",
        ],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1 and "CONTACT_MISSING" in result.stdout


def test_the_budget_shown_is_the_one_sponsorship_computes(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    config = Config.from_env(env_for(base))
    assert cli.budget_text(config, "JKK_JKM", 12, 20) == (
        "Rp4.032.000 (Rp201.600 per pekerja, tanpa diskon, pada penghasilan minimum)"
    )
    assert fake.requests[-1][:2] == (
        "/sponsorship/api/commitment-quote",
        {"package": "JKK_JKM", "months": "12", "slots": "20"},
    )
    away = Config.from_env(env_for(f"http://127.0.0.1:{closed_port()}"))
    assert cli.budget_text(away, "JKK_JKM", 12, 20).startswith("? (sponsorship tidak menjawab")


def test_the_cli_imports_nothing_from_the_services() -> None:
    """The CLI speaks Kafka (shared contracts) and the services' HTTP API only."""
    offenders = []
    for path in sorted((ROOT / "muba").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] == "services"]
    assert offenders == []


def test_commitments_add_with_kafka_away_is_exit_3() -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    result = runner.invoke(
        app,
        [
            "commitments", "add", "--commitment-id", "c1", "--company-id", "pt-x", "--company-name", "PT X",
            "--kecamatan", "Sekayu", "--slots", "5", "--months", "12", "--package", "jkk_jkm",
            "--email", "csr@x.example",
        ],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "the system is not running at Kafka" in result.output


def test_dlq_with_kafka_away_is_exit_3() -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    for args in (["dlq", "list"], ["dlq", "replay", "--topic", "registry.registration-submitted.v1"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 3, result.output
        assert "the system is not running at Kafka" in result.output


def test_an_xlsx_import_matches_the_same_rows_as_csv(tmp_path: Path) -> None:
    rows = list(csv.reader(SAMPLE.open()))
    book = xlsx(tmp_path / "workers.xlsx", rows[1:], header=rows[0])
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    from_csv = runner.invoke(app, ["import", "workers", str(SAMPLE), "--source", "p", "--dry-run"], env=env)
    from_xlsx = runner.invoke(app, ["import", "workers", str(book), "--source", "p", "--dry-run"], env=env)
    assert from_csv.exit_code == from_xlsx.exit_code == 0, from_xlsx.output
    ids_csv = {r.submission_id for r in wf.check_rows("p", wf.read_worker_file(SAMPLE).rows)}
    ids_xlsx = {r.submission_id for r in wf.check_rows("p", wf.read_worker_file(book).rows)}
    assert ids_csv == ids_xlsx
    assert from_csv.stdout.replace(str(SAMPLE), "F") == from_xlsx.stdout.replace(str(book), "F")


def test_import_without_the_registry_is_exit_3(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", [SITI])
    port = closed_port()
    result = runner.invoke(
        app, ["import", "workers", str(path), "--source", "p"], env=env_for(f"http://127.0.0.1:{port}")
    )
    assert result.exit_code == 3
    assert f"the system is not running at http://127.0.0.1:{port}/registry" in result.output


def test_bad_configuration_is_a_usage_error() -> None:
    result = runner.invoke(app, ["report"], env={"MUBA_HTTP_TIMEOUT": "soon"})
    assert result.exit_code == 2 and "MUBA_HTTP_TIMEOUT" in result.output
