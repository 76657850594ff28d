"""How every consumer polls (shared.runtime._poll_batch, FastStream's batch poll without the
sleep after an empty poll): an idle consumer waits in aiokafka's getmany, which returns as soon
as records are there; nothing sleeps after an empty poll."""

import types
from typing import Any

import anyio
import pytest
from faststream.kafka.subscriber.usecase import BatchSubscriber

from shared import runtime


class _Consumer:
    def __init__(self, answer: dict[str, list[str]]) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    async def getmany(self, **kwargs: Any) -> dict[str, list[str]]:
        self.calls.append(kwargs)
        return self.answer


def _subscriber() -> Any:
    return types.SimpleNamespace(batch_timeout_ms=runtime.POLL_TIMEOUT_MS, max_records=200)


def test_every_batch_subscriber_polls_the_way_of_shared_runtime() -> None:
    assert BatchSubscriber.get_msg is runtime._poll_batch


async def test_an_empty_poll_returns_at_once_without_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_sleep(*_: object) -> None:
        raise AssertionError("slept after an empty poll")

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    consumer = _Consumer({})
    assert await runtime._poll_batch(_subscriber(), consumer) == ()  # type: ignore[arg-type]
    assert consumer.calls == [{"timeout_ms": runtime.POLL_TIMEOUT_MS, "max_records": 200}]


async def test_the_records_of_every_partition_come_back_in_one_batch() -> None:
    consumer = _Consumer({"p0": ["a", "b"], "p1": ["c"]})
    assert await runtime._poll_batch(_subscriber(), consumer) == ("a", "b", "c")  # type: ignore[arg-type]
