"""The simulated BPJS side confirming paid months (domain.confirm_contribution and its handler, in
memory): the same answer every time, the lose share chosen by a hash and lost on the first sending
only, the delay on the confirmation's time, and a re-send confirmed by the same event."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError

from shared import contracts
from shared.consumer import Incoming, MessageContext, PoisonMessage, Publisher
from shared.events.bpjs import ContributionConfirmed, ContributionPaid
from simulators.bpjs.domain import (
    DEFAULT_RULES,
    NAMESPACE,
    Rules,
    confirm_contribution,
    contribution_answer_id,
    contribution_loss_score,
)
from simulators.bpjs.handlers import BpjsHandlers
from simulators.bpjs.settings import SimulatorSettings

PAID_AT = datetime(2027, 1, 10, 3, 0, tzinfo=UTC)


def paid(i: int = 0, *, month: date = date(2027, 1, 1), attempt: int = 1, **change: Any) -> ContributionPaid:
    fields: dict[str, Any] = {
        "payment_id": f"pay-{i // 10}",
        "enrollment_id": str(uuid.UUID(int=1000 + i)),
        "worker_id": str(uuid.UUID(int=2000 + i)),
        "kpj_number": "16001234567",
        "month": month,
        "amount_idr": 16_800,
        "paid_at": PAID_AT,
        "attempt": attempt,
    }
    return ContributionPaid.model_validate(fields | change)


def test_a_paid_month_is_confirmed_with_the_same_ids_and_amount() -> None:
    answer = confirm_contribution(paid(3))
    assert answer == ContributionConfirmed(
        payment_id="pay-0",
        enrollment_id=str(uuid.UUID(int=1003)),
        worker_id=str(uuid.UUID(int=2003)),
        kpj_number="16001234567",
        month=date(2027, 1, 1),
        amount_idr=16_800,
        confirmed_at=PAID_AT,
    )
    assert confirm_contribution(paid(3)) == answer  # deterministic


def test_the_delay_moves_the_confirmations_time() -> None:
    answer = confirm_contribution(paid(), Rules(contribution_delay=timedelta(milliseconds=1500)))
    assert answer is not None and answer.confirmed_at == PAID_AT + timedelta(milliseconds=1500)


def test_the_lose_share_is_chosen_by_a_hash_the_same_every_time() -> None:
    rules = Rules(contribution_lose_percent=20)
    months = [paid(i) for i in range(2000)]
    lost = {m.enrollment_id for m in months if confirm_contribution(m, rules) is None}
    assert 300 < len(lost) < 500  # about 20 %
    assert lost == {m.enrollment_id for m in months if confirm_contribution(m, rules) is None}
    assert lost == {m.enrollment_id for m in months if contribution_loss_score(m) < 20}
    assert all(confirm_contribution(m, Rules()) is not None for m in months)  # 0 %: none lost
    assert all(confirm_contribution(m, Rules(contribution_lose_percent=100)) is None for m in months)


def test_a_lost_month_re_sent_is_confirmed_by_the_same_answer() -> None:
    rules = Rules(contribution_lose_percent=100)
    assert confirm_contribution(paid(7), rules) is None
    again = confirm_contribution(paid(7, attempt=2), rules)
    assert again is not None and again == confirm_contribution(paid(7))


def test_the_answer_id_is_the_months_and_differs_per_worker_and_month() -> None:
    one = contribution_answer_id("pay-0", "e-1", date(2027, 1, 1))
    assert one == str(uuid.uuid5(NAMESPACE, "bpjs-contribution:pay-0:e-1:2027-01-01"))
    assert one != contribution_answer_id("pay-0", "e-2", date(2027, 1, 1))  # one payment, two workers
    assert one != contribution_answer_id("pay-0", "e-1", date(2027, 2, 1))


def test_the_contract_names_a_month_by_its_first_day_and_a_positive_amount() -> None:
    with pytest.raises(ValidationError, match="first day"):
        paid(month=date(2027, 1, 15))
    with pytest.raises(ValidationError):
        paid(amount_idr=0)
    with pytest.raises(ValidationError):
        paid(attempt=0)


def test_the_settings_give_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SimulatorSettings().rules().contribution_lose_percent == 0  # nothing lost by default
    monkeypatch.setenv("SIMULATOR_CONTRIBUTION_LOSE_PERCENT", "12.5")
    monkeypatch.setenv("SIMULATOR_CONTRIBUTION_DELAY_MS", "250")
    rules = SimulatorSettings().rules()
    assert rules.contribution_lose_percent == 12.5
    assert rules.contribution_delay == timedelta(milliseconds=250)
    monkeypatch.setenv("SIMULATOR_CONTRIBUTION_LOSE_PERCENT", "101")
    with pytest.raises(ValidationError):
        SimulatorSettings()


async def handled(body: bytes, rules: Rules = DEFAULT_RULES) -> Publisher:
    publisher = Publisher("bpjs-simulator")
    incoming = Incoming(contracts.CONTRIBUTION_PAID.topic, 0, 1, None, {}, body, None, 0)
    ctx = MessageContext(incoming, contracts.CONTRIBUTION_PAID, cast(Any, None), publisher)
    await BpjsHandlers(rules).on_contribution_paid(ctx)
    return publisher


async def test_the_handler_answers_through_the_outbox_with_the_months_id_and_the_workers_key() -> None:
    month = paid(5)
    publisher = await handled(month.model_dump_json().encode())
    [row] = publisher.rows
    assert row.topic == contracts.CONTRIBUTION_CONFIRMED.topic
    assert row.event_id == contribution_answer_id(month.payment_id, month.enrollment_id, month.month)
    assert row.key == month.worker_id.encode()
    assert ContributionConfirmed.model_validate_json(row.body) == confirm_contribution(month)
    resent = await handled(paid(5, attempt=3).model_dump_json().encode())
    assert [r.event_id for r in resent.rows] == [row.event_id]  # a re-send: the same answer


async def test_the_handler_answers_nothing_for_a_lost_month_and_dead_letters_a_broken_one() -> None:
    assert (
        await handled(paid(1).model_dump_json().encode(), Rules(contribution_lose_percent=100))
    ).rows == []
    broken = json.loads(paid(1).model_dump_json()) | {"month": "2027-01-15"}
    with pytest.raises(PoisonMessage) as caught:
        await handled(json.dumps(broken).encode())
    assert caught.value.reason == "CONTRACT_VIOLATION"
