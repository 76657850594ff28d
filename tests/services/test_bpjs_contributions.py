"""The BPJS simulator confirming paid months on the real Kafka and PostgreSQL: each ContributionPaid
answered with a ContributionConfirmed, the lose share never answered on its first sending, a
re-send of a lost month answered, and a redelivery or a re-send of an answered month answered by
no second event (seen on the topics)."""

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared import contracts
from shared.envelope import event_type, new_envelope
from shared.events.bpjs import ContributionPaid
from simulators.bpjs.domain import SOURCE, contribution_answer_id, contribution_loss_score
from simulators.bpjs.settings import SimulatorSettings
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events
from tests.services.test_bpjs_simulator import serving, simulator_settings

__all__ = ["simulator_settings"]  # the fixture, used by name

PAID_AT = datetime(2027, 1, 12, 2, 0, tzinfo=UTC)
LOSE_PERCENT = 50


def paid_month(i: int, attempt: int = 1) -> dict[str, Any]:
    return ContributionPaid(
        payment_id=f"pay-{i // 5}",
        enrollment_id=str(uuid.UUID(int=10_000 + i)),
        worker_id=str(uuid.UUID(int=20_000 + i)),
        kpj_number=f"1600{i:07d}",
        month=date(2027, 1 + i % 3, 1),
        amount_idr=16_800,
        paid_at=PAID_AT,
        attempt=attempt,
    ).model_dump(mode="json")


async def send(
    infra: Infra, topic: str, bodies: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> dict[str, str]:
    given: dict[str, str] = {}
    for body in bodies:
        given = (
            headers
            or new_envelope(
                event_type("contribution-paid.v1"), "/muba/sponsorship", subject=body["worker_id"]
            ).headers()
        )
        await publish_json(infra.kafka, topic, [(body["worker_id"], body)], headers=given)
    return given


async def test_paid_months_are_confirmed_the_lost_ones_on_a_re_send_and_none_twice(
    infra: Infra, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    settings = simulator_settings(
        SIMULATOR_CONTRIBUTION_LOSE_PERCENT=LOSE_PERCENT, SIMULATOR_CONTRIBUTION_DELAY_MS=200
    )
    months = [paid_month(i) for i in range(24)]
    lost = {
        m["enrollment_id"]
        for m in months
        if contribution_loss_score(ContributionPaid.model_validate(m)) < LOSE_PERCENT
    }
    assert 0 < len(lost) < len(months)  # the hash splits them: both cases are exercised
    paid_topic = settings.topic(contracts.CONTRIBUTION_PAID.topic)
    confirmed_topic = settings.topic(contracts.CONTRIBUTION_CONFIRMED.topic)
    async with serving(settings), record_events(infra.kafka, confirmed_topic) as recorder:
        await send(infra, paid_topic, months)
        first = await recorder.wait_for(len(months) - len(lost), 60)
        answered = [m for m in months if m["enrollment_id"] not in lost]
        # The same record again (the same event id: the inbox drops it), and an answered month
        # re-sent as a new attempt (a new event id: answered by the same event, so none is added).
        headers = await send(infra, paid_topic, answered[:1])
        await send(infra, paid_topic, answered[:1], headers)
        await send(infra, paid_topic, [m | {"attempt": 2} for m in answered[1:3]])
        # The lost months re-sent (reconciliation): answered now.
        await send(infra, paid_topic, [m | {"attempt": 2} for m in months if m["enrollment_id"] in lost])
        await recorder.wait_for(len(months), 60)
        events = await recorder.settle(2.0)

    assert {e.payload["enrollment_id"] for e in first} == {m["enrollment_id"] for m in answered}
    assert len(events) == len(months)  # one confirmation per month, whatever was sent again
    by_enrollment = {e.payload["enrollment_id"]: e for e in events}
    for m in months:
        event = by_enrollment[m["enrollment_id"]]
        month = date.fromisoformat(m["month"])
        assert event.headers["ce_id"] == contribution_answer_id(m["payment_id"], m["enrollment_id"], month)
        assert event.headers["ce_source"] == SOURCE
        assert event.event_type == event_type("contribution-confirmed.v1")
        assert event.key == m["worker_id"]
        assert {
            k: event.payload[k] for k in ("payment_id", "worker_id", "kpj_number", "month", "amount_idr")
        } == {k: m[k] for k in ("payment_id", "worker_id", "kpj_number", "month", "amount_idr")}
        confirmed_at = datetime.fromisoformat(event.payload["confirmed_at"])
        assert confirmed_at == PAID_AT + timedelta(milliseconds=200)
