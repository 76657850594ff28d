"""A message that fails until the code is fixed: retried, dead-lettered with the reason, the
consumer moves on; after the fix, a replay processes it once."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaError

from services.registry.app import MIGRATIONS
from services.registry.settings import RegistrySettings
from shared import topics
from shared.consumer import MessageContext
from shared.contracts import Contract
from shared.dlq import list_dead_letters, replay
from shared.envelope import new_envelope
from shared.events import EventModel
from shared.kafka_admin import ensure_topic
from shared.runtime import ServiceRuntime, conn_store
from testkit.infra import Infra
from testkit.kafka import publish_json
from tests.support import provision_like_the_catalogue, running


class ToyEvent(EventModel):
    n: int


# A contract of the test's own, consumed by the registry (nothing publishes it but the test).
TOY = Contract("registry", "toy-event", 1, ToyEvent, "partner", ("registry",), lambda e: None, "")
TOPIC = TOY.topic


async def test_dead_letter_then_replay_after_a_fix(
    infra: Infra, service_env: Callable[..., dict[str, Any]]
) -> None:
    prefix = service_env(REGISTRY_DATABASE_URL=infra.database_urls["registry"], HANDLER_MAX_ATTEMPTS=3)[
        "prefix"
    ]
    bug = {"present": True}
    calls: list[str] = []
    # Keyed by event id: a handler may run again after its batch was rolled back (only its
    # database effects are undone), so in-memory effects must be idempotent like this one.
    done: dict[str, int] = {}

    async def on_toy_event(uow: MessageContext[ToyEvent, Any]) -> None:
        calls.append(uow.incoming.event_id)
        if bug["present"] and uow.incoming.json_object().get("n") == 2:
            raise RuntimeError("a bug in the handler")
        done[uow.incoming.event_id] = uow.incoming.json_object()["n"]

    # The toy topic is no catalogue topic: it gets what one would (its .dlq; the registry reads it
    # in group "toy"; operators list and replay its dead letters, as `muba dlq` does).
    await provision_like_the_catalogue(infra, prefix, TOPIC, "registry", groups=["toy"])
    operator = infra.kafka_as("operator")
    runtime = ServiceRuntime("registry", RegistrySettings(), MIGRATIONS, store=conn_store)
    runtime.subscribe(TOY, on_toy_event, group_id="toy")
    async with running(runtime.asgi_app()):
        for n in (1, 2, 3):
            headers = new_envelope(TOY.event_type, "/test").headers()
            await publish_json(infra.kafka, prefix + TOPIC, [("k", {"n": n})], headers)
        await _until(lambda: len(done) == 2)
        letters = await _letters(infra, prefix)
        assert [(d.headers["dlq_reason"], d.headers["dlq_attempts"]) for d in letters] == [
            ("HANDLER_FAILED", "3")
        ]
        assert "a bug in the handler" in letters[0].headers["dlq_error"]
        assert sorted(done.values()) == [1, 3]  # the consumer moved on

        bug["present"] = False
        assert await replay(operator, prefix + TOPIC) == 1
        await _until(lambda: len(done) == 3)
        assert await replay(operator, prefix + TOPIC) == 0  # replayed once only
        await asyncio.sleep(1.0)
    assert sorted(done.values()) == [1, 2, 3]
    assert calls.count(next(e for e, n in done.items() if n == 2)) == 1  # the replay ran once


async def _letters(infra: Infra, prefix: str) -> list[Any]:
    for _ in range(50):
        letters = await list_dead_letters(infra.kafka_as("operator"), prefix + TOPIC)
        if letters:
            return letters
        await asyncio.sleep(0.2)
    return []


async def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_listing_a_topic_without_dead_letters_or_rights_says_so(
    infra: Infra, topic_prefix: str
) -> None:
    """`muba dlq` as the operator: a .dlq topic that does not exist, or that it may not read, is
    an error naming the topic (not an empty list, not aiokafka's 'No partitions are assigned')."""
    operator = infra.kafka_as("operator")
    with pytest.raises(KafkaError, match=r"no such topic, or 'operator' may not read it"):
        await list_dead_letters(operator, topic_prefix + "registry.never-provisioned.v1")
    hidden = topic_prefix + "registry.not-the-operators.v1"
    await ensure_topic(infra.kafka, topics.dead_letter_topic(hidden))  # exists, no ACL for operator
    with pytest.raises(KafkaError, match=r"may not read it \(TopicAuthorizationFailedError\)"):
        await list_dead_letters(operator, hidden)
    with pytest.raises(KafkaError, match="may not read it"):
        await replay(operator, hidden)
    assert await list_dead_letters(infra.kafka, hidden) == []  # it is there, and empty
