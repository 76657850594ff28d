"""`muba report` and `muba status` show the workers another payer funds (issue 12, item 4):
withdrawn from the waitlist, or flagged with an enrollment for the office to decide."""

import csv
import io
from typing import Any

from muba.report import build_report, render_csv, render_tables
from muba.status import status_view
from tests.unit.test_cli import ENROLLED, REGISTRY_REPORT, SPONSORSHIP_REPORT, WORKER, render

FLAGGED_ROW = {
    "worker_id": "6f1c2d3e-0000-4000-8000-000000000002",
    "funder": "PAKE KELAMBU",
    "status": "enrolled",
    "kecamatan_name": "Sekayu",
    "enrollment_id": "e2",
    "enrollment_status": "confirmed",
    "company_name": "PT Hindoli",
    "noticed_at": "2026-11-29T01:00:00+00:00",
}
WITH_FUNDED: dict[str, Any] = SPONSORSHIP_REPORT | {
    "funded_elsewhere": {"withdrawn": 4, "flagged": 1, "not_registered": 2},
    "funded_elsewhere_flagged": [FLAGGED_ROW],
}
ELSEWHERE = {
    "funder": "PAKE KELAMBU",
    "source_code": "SA",
    "description": "APBD Kabupaten Musi Banyuasin",
    "noticed_at": "2026-11-29T01:00:00+00:00",
}


def test_the_report_counts_and_lists_workers_funded_elsewhere() -> None:
    report = build_report(REGISTRY_REPORT, WITH_FUNDED)
    assert report["funded_elsewhere"] == {"withdrawn": 4, "flagged": 1, "not_registered": 2}
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=160, color_system=None).print(render_tables(report))
    text = buffer.getvalue()
    assert "Didanai pihak lain (funded elsewhere): 4 ditarik dari daftar tunggu · 1 sudah diajukan" in text
    assert FLAGGED_ROW["worker_id"] in text and "PAKE KELAMBU" in text
    rows = {(s, n, m): v for s, n, m, v in list(csv.reader(io.StringIO(render_csv(report))))[1:]}
    assert rows[("funded_elsewhere", "", "withdrawn")] == "4"
    assert rows[("funded_elsewhere", "", "flagged")] == "1"


def test_a_report_from_a_sponsorship_without_the_counts_says_zero() -> None:
    report = build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT)
    assert report["funded_elsewhere"] == {"withdrawn": 0, "flagged": 0, "not_registered": 0}
    assert report["funded_elsewhere_flagged"] == []


def test_status_says_a_worker_is_funded_elsewhere() -> None:
    withdrawn = dict(ENROLLED, status="funded_elsewhere", enrollment=None, funded_elsewhere=ELSEWHERE)
    text = render(status_view("1606015208900003", WORKER, withdrawn, []))
    assert "Didanai pihak lain, ditarik dari daftar tunggu (funded elsewhere)" in text
    assert "PAKE KELAMBU (APBD Kabupaten Musi Banyuasin)" in text
    flagged = render(status_view("1606015208900003", WORKER, dict(ENROLLED, funded_elsewhere=ELSEWHERE), []))
    assert "Terdaftar BPJS Ketenagakerjaan (enrolled)" in flagged and "PAKE KELAMBU" in flagged
