"""The office's view of coverage that lasts: `muba report`'s Coverage section (the latest day's
numbers, the totals, each commitment's budget burn) from sponsorship's GET /api/coverage, in
tables, CSV and JSON; and `muba commitments extend`, which publishes the office's renewal
(CommitmentExtensionSubmitted, checked locally by the contract first, keyed by the commitment)."""

import json
from typing import Any

import pytest
from rich.console import Console

from muba import kafka
from muba.cli import app
from muba.report import build_report, csv_rows, render_tables
from shared import contracts
from tests.unit import test_cli
from tests.unit.test_cli import (
    COVERAGE,
    NOTIFICATIONS_REPORT,
    REGISTRY_REPORT,
    SPONSORSHIP_REPORT,
    FakeSystem,
    closed_port,
    env_for,
    runner,
)

system = test_cli.system


def rendered(coverage: dict[str, Any]) -> str:
    console = Console(record=True, width=220, color_system=None)
    console.print(
        render_tables(build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, NOTIFICATIONS_REPORT, coverage))
    )
    return console.export_text()


def test_the_coverage_section_takes_the_latest_day_and_the_totals() -> None:
    report = build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, None, COVERAGE)["coverage"]
    assert {k: v for k, v in report.items() if k != "commitments"} == {
        "day": "2027-02-02",
        "workers_covered": 1234,
        "workers_uncovered": 7,
        "unplanned_gaps": 0,
        "members_at_risk": 12,
        "members_six_paid_months": 845,
        "coverage_days_lost": 12,
        "unplanned_gap_days": 0,
    }
    assert [c["commitment_id"] for c in report["commitments"]] == ["hindoli-2026", "medco-2026"]
    assert report["commitments"][1]["suspended_on"] == "2027-01-17"


def test_the_report_shows_todays_coverage_numbers() -> None:
    text = rendered(COVERAGE)
    for expected in (
        "Cakupan (coverage) 2 Februari 2027",
        "Pekerja tertanggung 1.234",
        "tidak tertanggung lagi 7",
        "celah tak terencana 0 (harus 0)",
        "berisiko (iuran terlewat) 12",
        ">= 6 bulan iuran dibayar (KPI BPJS) 845",
        "12 hari-cakupan hilang",
        "0 hari-celah tak terencana",
    ):
        assert expected in text, expected
    assert "1.230" not in text  # the day before is not today's number


def test_the_budget_burn_table_has_a_row_per_commitment() -> None:
    text = rendered(COVERAGE)
    assert "Pemakaian anggaran per komitmen (budget burn)" in text
    [hindoli] = [line for line in text.splitlines() if "hindoli-2026" in line and "PT Hindoli" in line]
    for cell in (
        "Rp4.032.000",
        "Rp1.209.600 (30,0%)",
        "Rp403.200 (10,0%)",
        " 9 ",
        "30 November 2027",
        "aktif",
    ):
        assert cell in hindoli, cell
    [medco] = [line for line in text.splitlines() if "medco-2026" in line]
    for cell in ("Rp151.200", "ditangguhkan 17 Januari 2027", "Rp0 (0,0%)"):
        assert cell in medco, cell


def test_an_unplanned_gap_is_shown_in_red() -> None:
    gap = json.loads(json.dumps(COVERAGE))
    gap["days"][0]["unplanned_gaps"] = 2
    gap["totals"]["unplanned_gap_days"] = 3
    console = Console(record=True, width=220, color_system="truecolor", force_terminal=True)
    console.print(render_tables(build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, None, gap)))
    styled = console.export_text(styles=True, clear=False)
    assert "celah tak terencana 2 (harus 0)" in console.export_text()
    assert "\x1b[1;31mcelah tak terencana 2 (harus 0)" in styled
    assert "\x1b[32mcelah tak terencana" not in styled


def test_before_the_job_ran_the_section_says_so() -> None:
    empty = {"days": [], "totals": {}, "commitments": []}
    text = rendered(empty)
    assert "the coverage job has not run yet" in text
    assert "(belum ada komitmen perusahaan)" in text


def test_the_csv_carries_the_coverage_numbers_and_each_commitments_burn() -> None:
    rows = list(csv_rows(build_report(REGISTRY_REPORT, SPONSORSHIP_REPORT, None, COVERAGE)))
    assert ("coverage", "2027-02-02", "unplanned_gaps", 0) in rows
    assert ("coverage", "2027-02-02", "coverage_days_lost", 12) in rows
    assert ("coverage", "2027-02-02", "members_six_paid_months", 845) in rows
    assert ("budget_burn", "hindoli-2026", "paid_idr", 403_200) in rows
    assert ("budget_burn", "medco-2026", "missed_idr", 151_200) in rows
    assert ("budget_burn", "hindoli-2026", "months_left", 9) in rows


def test_muba_report_asks_sponsorship_for_the_coverage(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    result = runner.invoke(app, ["report"], env=env_for(base))
    assert result.exit_code == 0, result.output
    assert "/sponsorship/api/coverage" in [path for path, _, _ in fake.requests]
    assert "Pekerja tertanggung 1.234" in result.stdout and "budget burn" in result.stdout
    as_json = runner.invoke(app, ["report", "--format", "json"], env=env_for(base))
    assert json.loads(as_json.stdout)["coverage"]["workers_covered"] == 1234


# --- muba commitments extend ----------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, list[Any]]]:
    found: list[tuple[str, Any, list[Any]]] = []

    async def publish(connection: Any, topic: str, contract: Any, messages: Any, *a: Any, **k: Any) -> int:
        found.append((topic, contract, list(messages)))
        return len(messages)

    monkeypatch.setattr(kafka, "publish", publish)
    return found


def extend(*args: str) -> list[str]:
    return ["commitments", "extend", *args]


def test_extend_publishes_the_renewal_as_the_office(sent: list[tuple[str, Any, list[Any]]]) -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    args = extend("--commitment", " hindoli-2026 ", "--company", "pt-hindoli", "--months", "6")
    result = runner.invoke(app, [*args, "--reference", " SK-2027/01 "], env=env)
    assert result.exit_code == 0, result.output
    [(topic, contract, messages)] = sent
    assert topic.endswith(contracts.COMMITMENT_EXTENSION_SUBMITTED.topic)
    assert contract is contracts.COMMITMENT_EXTENSION_SUBMITTED
    assert messages == [
        (
            "hindoli-2026",
            {
                "commitment_id": "hindoli-2026",
                "company_id": "pt-hindoli",
                "reference": "SK-2027/01",
                "months": 6,
            },
        )
    ]
    assert "Perpanjangan dikirim" in result.stdout and "6 bulan" in result.stdout


def test_extend_refuses_a_bad_renewal_and_sends_nothing(sent: list[tuple[str, Any, list[Any]]]) -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    args = extend("--commitment", "hindoli-2026", "--company", " ", "--months", "61")
    result = runner.invoke(app, [*args, "--reference", "x" * 101], env=env)
    assert result.exit_code == 1
    for code in ("VALUE_EMPTY", "MONTHS_INVALID", "VALUE_TOO_LONG"):
        assert code in result.stdout, code
    assert "Perpanjangan ditolak" in result.stdout
    assert sent == []
