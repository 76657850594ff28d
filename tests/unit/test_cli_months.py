"""`muba months WORKER`: a worker's contribution months from sponsorship's GET /api/months, by id
or by NIK (found in the registry), against the tiny local HTTP server of tests/unit/test_cli.py."""

from typing import Any

import pytest

from muba.cli import app
from tests.unit import test_cli
from tests.unit.test_cli import SITI, WORKER, FakeSystem, env_for, runner

system = test_cli.system  # the fixture: the three services' GET /api/... on one port

MONTHS = {
    "worker_id": WORKER["worker_id"],
    "months": [
        {
            "month": "2026-12",
            "enrollment_id": "e-1",
            "commitment_id": "hindoli-2026",
            "company_name": "PT Hindoli",
            "kpj_number": "73*****712",
            "contribution_idr": 8_400,
            "discount": "PP 50/2025",
            "state": "confirmed",
            "invoice_id": "INV-2026-12-HINDOLI",
            "invoiced_at": "2026-12-01T01:00:00+00:00",
            "paid_at": "2026-12-10T03:00:00+00:00",
            "confirmed_at": "2026-12-11T03:00:00+00:00",
            "missed_at": None,
        },
        {
            "month": "2027-01",
            "enrollment_id": "e-1",
            "commitment_id": "hindoli-2026",
            "company_name": "PT Hindoli",
            "kpj_number": "73*****712",
            "contribution_idr": 8_400,
            "discount": "PP 50/2025",
            "state": "expected",
            "invoice_id": None,
            "invoiced_at": None,
            "paid_at": None,
            "confirmed_at": None,
            "missed_at": None,
        },
    ],
    "totals_idr": {"expected": 8_400, "invoiced": 0, "paid": 0, "confirmed": 8_400, "missed": 0},
}


@pytest.fixture
def with_months(system: tuple[FakeSystem, str]) -> tuple[FakeSystem, str]:
    fake, _ = system
    answer = fake.answer

    def months_too(path: str, params: dict[str, str]) -> tuple[int, Any]:
        if path == "/sponsorship/api/months":
            found = params.get("worker_id") == WORKER["worker_id"]
            return (200, MONTHS) if found else (404, {"error": "not found"})
        return answer(path, params)

    fake.answer = months_too  # type: ignore[method-assign]
    return system


@pytest.mark.parametrize("who", [WORKER["worker_id"], "1606.0152.0890-0003"])
def test_months_of_a_worker_by_id_or_nik(with_months: tuple[FakeSystem, str], who: str) -> None:
    fake, base = with_months
    result = runner.invoke(app, ["months", who], env=env_for(base))
    assert result.exit_code == 0, result.output
    for expected in ("2026-12", "2027-01", "PT Hindoli", "Rp8.400", "PP 50/2025", "INV-2026-12-HINDOLI"):
        assert expected in result.output
    assert "dikonfirmasi BPJS (confirmed)" in result.output and "belum ditagih (expected)" in result.output
    assert "11 Desember 2026" in result.output  # the proof: when BPJS confirmed the month
    asked = [params for path, params, _ in fake.requests if path == "/sponsorship/api/months"]
    assert asked == [{"worker_id": WORKER["worker_id"]}]
    assert SITI["nik"] not in result.output


def test_a_worker_without_months_is_a_data_error(with_months: tuple[FakeSystem, str]) -> None:
    _, base = with_months
    result = runner.invoke(app, ["months", "00000000-0000-0000-0000-000000000001"], env=env_for(base))
    assert result.exit_code != 0 and "no contribution months" in result.output


def test_months_as_json(with_months: tuple[FakeSystem, str]) -> None:
    _, base = with_months
    result = runner.invoke(app, ["months", WORKER["worker_id"], "--format", "json"], env=env_for(base))
    assert result.exit_code == 0 and '"confirmed_at": "2026-12-11T03:00:00+00:00"' in result.output
