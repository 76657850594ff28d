"""MessageProcessor without servers (tests/fakes/db.py stands in for PostgreSQL): the fast path,
the inbox, isolation of a failing message in its savepoint, retries, dead letters and transient
faults. tests/services/test_consumer_faults.py attacks the same promises on the real servers."""

import dataclasses
import json
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from shared import contracts, topics
from shared.consumer import MessageContext, MessageProcessor, PoisonMessage
from shared.events.registry import WorkerRegistered
from tests.fakes.db import FakeConn, FakeDatabase
from tests.unit.test_consumer import record
from tests.unit.test_contracts import sample

CONTRACT = contracts.WORKER_REGISTERED  # consumed by sponsorship, which publishes WorkerWaitlisted
CONSUMER = "sponsorship.test"


def registered(n: int) -> WorkerRegistered:
    event: WorkerRegistered = sample(WorkerRegistered)
    return event.model_copy(update={"worker_id": str(uuid.UUID(int=n)), "registration_seq": n})


def records(*events: WorkerRegistered | bytes, version: int = 1) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for offset, event in enumerate(events):
        body = event if isinstance(event, bytes) else event.model_dump_json().encode()
        event_id = f"e-{offset}" if not isinstance(event, bytes) else f"raw-{offset}"
        headers = [
            ("ce_id", event_id.encode()),
            ("ce_source", b"/muba/registry"),
            ("ce_type", CONTRACT.event_type.replace(".v1", f".v{version}").encode()),
            ("ce_specversion", b"1.0"),
        ]
        out.append(
            dataclasses.replace(record(headers=headers, value=body, topic=CONTRACT.topic), offset=offset)
        )
    return out


class Store:
    """A store made per transaction (what the runtime's store factory does)."""

    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn


class Waitlister:
    """A handler that waitlists every worker; `fail_on` names workers it fails on (a bug)."""

    def __init__(self, fail_on: set[int] = frozenset(), poison_on: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.fail_on, self.poison_on = fail_on, poison_on
        self.calls: list[int] = []
        self.stores: list[Store] = []

    async def __call__(self, ctx: MessageContext[WorkerRegistered, Store]) -> None:
        n = ctx.event.registration_seq or 0
        self.calls.append(n)
        self.stores.append(ctx.store)  # kept alive, so no two share an id()
        ctx.publish(
            sample(contracts.WORKER_WAITLISTED.model).model_copy(update={"worker_id": ctx.event.worker_id})
        )
        if n in self.poison_on:
            raise PoisonMessage("UNSENDABLE", f"worker {n} cannot be told")
        if n in self.fail_on:
            raise RuntimeError(f"a bug on worker {n}")


def processor(db: FakeDatabase, handler: Any, max_attempts: int = 3) -> MessageProcessor:
    pool = db.pool()
    return MessageProcessor(
        service="sponsorship",
        consumer=CONSUMER,
        contract=CONTRACT,
        handler=handler,
        store_factory=Store,  # type: ignore[arg-type]
        pool_getter=lambda: pool,  # type: ignore[arg-type,return-value]
        max_attempts=max_attempts,
        retry_delay_s=0,
    )


def published(db: FakeDatabase) -> list[str]:
    """The worker ids of the WorkerWaitlisted events in the outbox, in order."""
    return [json.loads(r["payload"])["worker_id"] for r in db.outbox if r["event_type"] != "dead-letter"]


def letters(db: FakeDatabase) -> list[dict[str, str]]:
    return [r["headers"] for r in db.outbox if r["event_type"] == "dead-letter"]


async def test_a_batch_is_processed_in_one_transaction_with_one_store() -> None:
    db, handler = FakeDatabase(), Waitlister()
    await processor(db, handler).process(records(registered(1), registered(2), registered(3)))
    assert handler.calls == [1, 2, 3]
    assert len({id(s) for s in handler.stores}) == 1  # one store for the batch's transaction
    assert published(db) == [registered(n).worker_id for n in (1, 2, 3)]
    assert {r["topic"] for r in db.outbox} == {contracts.WORKER_WAITLISTED.topic}
    assert len(db.inbox) == 3


async def test_a_redelivered_batch_and_a_copy_in_the_same_batch_change_nothing() -> None:
    db, handler = FakeDatabase(), Waitlister()
    batch = records(registered(1), registered(2))
    consumer = processor(db, handler)
    await consumer.process([*batch, batch[0]])  # a copy of the first in the same batch
    await consumer.process(batch)  # the whole batch again (a rebalance, a crash before commit)
    assert handler.calls == [1, 2]
    assert published(db) == [registered(1).worker_id, registered(2).worker_id]
    assert (consumer.stats.processed, consumer.stats.duplicates) == (2, 3)


async def test_a_failing_message_is_retried_alone_then_dead_lettered_and_leaves_no_effects() -> None:
    db, handler = FakeDatabase(), Waitlister(fail_on={2})
    consumer = processor(db, handler, max_attempts=3)
    await consumer.process(records(registered(1), registered(2), registered(3)))
    # The fast path failed on 2; each message then ran in a savepoint of its own, 2 three times.
    assert handler.calls == [1, 2, 1, 2, 2, 2, 3]
    assert len({id(s) for s in handler.stores[2:]}) == 5  # a fresh store per message on the isolated path
    assert published(db) == [registered(1).worker_id, registered(3).worker_id]  # 2's publish undone
    (letter,) = letters(db)
    assert letter["dlq_reason"] == "HANDLER_FAILED" and letter["dlq_attempts"] == "3"
    assert "a bug on worker 2" in letter["dlq_error"]
    assert next(r for r in db.outbox if r["event_type"] == "dead-letter")[
        "topic"
    ] == topics.dead_letter_topic(CONTRACT.topic)
    assert (consumer.stats.processed, consumer.stats.dead_lettered) == (2, 1)


async def test_a_poison_message_is_dead_lettered_at_once_with_its_bytes() -> None:
    db, handler = FakeDatabase(), Waitlister(poison_on={2})
    batch = records(registered(1), registered(2), b"\xff not json")
    await processor(db, handler).process(batch)
    assert handler.calls.count(2) == 2  # the fast path, then once alone: no retries for poison
    reasons = [letter["dlq_reason"] for letter in letters(db)]
    assert reasons == ["UNSENDABLE", "CONTRACT_VIOLATION"]
    raw = [r for r in db.outbox if r["event_type"] == "dead-letter"][1]
    assert raw["payload"] == b"\xff not json"  # byte for byte


async def test_an_event_of_another_version_is_dead_lettered_unread() -> None:
    db, handler = FakeDatabase(), Waitlister()
    await processor(db, handler).process(records(registered(1), version=2))
    assert handler.calls == []
    assert [letter["dlq_reason"] for letter in letters(db)] == ["UNKNOWN_VERSION"]


async def test_a_transient_fault_retries_the_whole_batch_and_skips_nothing() -> None:
    db, handler = FakeDatabase(), Waitlister()
    faults = iter([asyncpg.exceptions.DeadlockDetectedError("deadlock"), OSError("connection reset")])

    def fail_twice(sql: str) -> None:
        if sql.startswith("INSERT INTO outbox"):
            fault = next(faults, None)
            if fault is not None:
                raise fault

    db.before_statement = fail_twice
    consumer = processor(db, handler)
    await consumer.process(records(registered(1), registered(2)))
    assert consumer.stats.retries == 2
    assert published(db) == [registered(1).worker_id, registered(2).worker_id]  # once each
    assert len(db.inbox) == 2 and consumer.stats.failing_since is None


async def test_a_failure_outside_any_message_is_not_committed() -> None:
    """The batch's claim fails on something that is not transient, even alone: BatchNotProcessed,
    so the runtime reads the batch again instead of committing past it."""
    from shared.consumer import BatchNotProcessed

    db, handler = FakeDatabase(), Waitlister()

    def broken(sql: str) -> None:
        if sql.startswith("INSERT INTO inbox"):
            raise ValueError("not a fault of any message")

    db.before_statement = broken
    with pytest.raises(BatchNotProcessed):
        await processor(db, handler).process(records(registered(1)))
    assert db.outbox == [] and db.inbox == set()
