"""Each service's wiring under FastStream's TestKafkaBroker (no servers): a record on a contract's
topic reaches the processor of that contract, whole (key, headers and body as they were sent),
and only that one."""

from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import TestKafkaBroker

from shared import contracts, topics
from shared.consumer import MessageProcessor
from tests.unit.test_contracts import service_apps

CASES = [
    (service, contract)
    for service in ("registry", "sponsorship", "notifications")
    for contract in contracts.consumed_by(service)
]


@pytest.mark.parametrize(("service", "contract"), CASES, ids=lambda x: getattr(x, "topic", x))
async def test_a_record_reaches_the_processor_of_its_contract(
    service: str, contract: contracts.Contract[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[tuple[str, Sequence[ConsumerRecord[Any, Any]]]] = []

    async def record(self: MessageProcessor, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        received.append((self.contract.topic, records))

    monkeypatch.setattr(MessageProcessor, "process", record)
    app = service_apps()[service]
    topic = topics.intake_topic("desa-online") if contract.per_partner else contract.topic
    async with TestKafkaBroker(app.broker) as broker:
        await broker.publish(b'{"any": "body"}', topic=topic, key=b"k-1", headers={"ce_id": "e-1"})
    assert [name for name, _ in received] == [contract.topic]
    ((_, (only,)),) = received
    assert (only.topic, only.key, only.value) == (topic, b"k-1", b'{"any": "body"}')
    assert ("ce_id", b"e-1") in list(only.headers)


async def test_a_record_on_a_topic_nobody_consumes_reaches_no_processor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received: list[str] = []

    async def record(self: MessageProcessor, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        received.append(self.contract.topic)

    monkeypatch.setattr(MessageProcessor, "process", record)
    app = service_apps()["sponsorship"]
    async with TestKafkaBroker(app.broker) as broker:
        await broker.publish(b"{}", topic=contracts.NOTIFICATION_SENT_V1.topic)
    assert received == []
