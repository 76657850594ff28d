"""`muba payments record` publishes the office's PaymentSubmitted (checked locally first, keyed by
the company) and `muba payments show` prints what sponsorship's GET /api/payments says: each
payment, the months it paid and the credit (against tests/unit/test_cli.py's local HTTP server)."""

from typing import Any

import pytest

from muba import kafka
from muba.cli import app
from shared import contracts
from tests.unit import test_cli
from tests.unit.test_cli import FakeSystem, closed_port, env_for, runner

system = test_cli.system

PAYMENTS = {
    "company_id": "medco",
    "credit_idr": 500,
    "payments": [
        {
            "payment_id": "p-1",
            "reference": "BCA-0001",
            "amount_idr": 17_300,
            "paid_on": "2026-12-14",
            "credit_idr": 500,
            "recorded_at": "2026-12-14T03:00:00+00:00",
            "lines": [
                {"month": "2026-12", "enrollment_id": "e-1", "worker_id": "w-1", "kpj_number": "16*****560",
                 "amount_idr": 8_400, "on_time": True, "state": "confirmed", "paid_at": None, "confirmed_at": None},
                {"month": "2027-01", "enrollment_id": "e-1", "worker_id": "w-1", "kpj_number": "16*****560",
                 "amount_idr": 8_400, "on_time": False, "state": "paid", "paid_at": None, "confirmed_at": None},
            ],
        }
    ],
}  # fmt: skip


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, list[Any]]]:
    found: list[tuple[str, Any, list[Any]]] = []

    async def publish(connection: Any, topic: str, contract: Any, messages: Any, *a: Any, **k: Any) -> int:
        found.append((topic, contract, list(messages)))
        return len(messages)

    monkeypatch.setattr(kafka, "publish", publish)
    return found


RECORD = ["payments", "record", "--company", " medco ", "--amount", "17300", "--reference", "BCA-0001"]


def test_record_publishes_the_payment_as_the_office(sent: list[tuple[str, Any, list[Any]]]) -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    result = runner.invoke(app, [*RECORD, "--paid-on", "2026-12-14"], env=env)
    assert result.exit_code == 0, result.output
    [(topic, contract, messages)] = sent
    assert topic.endswith(contracts.PAYMENT_SUBMITTED.topic) and contract is contracts.PAYMENT_SUBMITTED
    assert messages == [
        (
            "medco",
            {"company_id": "medco", "reference": "BCA-0001", "amount_idr": 17_300, "paid_on": "2026-12-14"},
        )
    ]


def test_record_refuses_a_bad_payment_and_sends_nothing(sent: list[tuple[str, Any, list[Any]]]) -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    bad = [
        "payments",
        "record",
        "--company",
        "medco",
        "--amount",
        "0",
        "--reference",
        "x",
        "--paid-on",
        "14-12-2026",
    ]
    result = runner.invoke(app, bad, env=env)
    assert result.exit_code == 1
    assert "AMOUNT_INVALID" in result.stdout and "PAID_ON_INVALID" in result.stdout
    assert sent == []


def test_show_prints_each_paid_month_and_the_credit(system: tuple[FakeSystem, str]) -> None:
    fake, base = system
    answer = fake.answer

    def payments_too(path: str, params: dict[str, str]) -> tuple[int, Any]:
        if path == "/sponsorship/api/payments":
            return (200, PAYMENTS) if params.get("company_id") == "medco" else (404, {"error": "not found"})
        return answer(path, params)

    fake.answer = payments_too  # type: ignore[method-assign]
    result = runner.invoke(app, ["payments", "show", "--company", "medco"], env=env_for(base))
    assert result.exit_code == 0, result.output
    for expected in (
        "BCA-0001",
        "2026-12",
        "2027-01",
        "Rp17.300",
        "Rp8.400",
        "confirmed",
        "terlambat",
        "Rp500",
    ):
        assert expected in result.output
    unknown = runner.invoke(app, ["payments", "show", "--company", "nobody"], env=env_for(base))
    assert unknown.exit_code == 1 and "no payments" in unknown.output
