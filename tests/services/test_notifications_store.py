"""One contract for the notifications store, run on both implementations: `PgNotificationsStore`
on the real PostgreSQL and the in-memory fake the handlers' unit tests use. What passes here is
what those unit tests may rely on."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

import pytest

from services.notifications.app import MIGRATIONS
from services.notifications.domain import (
    TEMPLATE_ENROLLMENT_COMPLETED,
    TEMPLATE_WORKER_WAITLISTED,
    Notification,
)
from services.notifications.repository import NotificationsStore, PgNotificationsStore
from shared.db import create_pool, migrate
from testkit.infra import Infra
from tests.fakes.notifications import InMemoryNotifications
from tests.support import truncate_schema

Transaction = Callable[[], AbstractAsyncContextManager[NotificationsStore]]


def message(
    template: str = TEMPLATE_WORKER_WAITLISTED, audience: str = "worker", to: str = "+6281200000001"
) -> Notification:
    channel = "email" if "@" in to else "sms"
    return Notification(template, audience, channel, to, None, "Yth. Budi, ...")  # type: ignore[arg-type]


@pytest.fixture(params=["postgres", "memory"])
async def transaction(request: pytest.FixtureRequest) -> AsyncIterator[Transaction]:
    """`transaction()`: the store of one transaction, committed at the end of the block, rolled
    back when it raises."""
    if request.param == "memory":
        yield InMemoryNotifications().transaction
        return
    infra: Infra = request.getfixturevalue("infra")
    url = infra.database_urls["notifications"]
    await migrate(url, MIGRATIONS)
    await truncate_schema(infra, "notifications")
    pool = await create_pool(url, 1, 4)

    @asynccontextmanager
    async def pg_transaction() -> AsyncIterator[NotificationsStore]:
        async with pool.acquire() as conn, conn.transaction():
            yield PgNotificationsStore(conn)

    try:
        yield pg_transaction
    finally:
        await pool.close()
        await truncate_schema(infra, "notifications")


async def test_a_dedupe_key_is_queued_once_ever(transaction: Transaction) -> None:
    async with transaction() as store:
        first = await store.queue(dedupe_key="k1", event_id="e1", worker_id=None, notification=message())
        again = await store.queue(
            dedupe_key="k1", event_id="e2", worker_id=None, notification=message(to="x@y.id")
        )
        other = await store.queue(dedupe_key="k2", event_id="e1", worker_id=None, notification=message())
    async with transaction() as store:
        later = await store.queue(dedupe_key="k1", event_id="e3", worker_id=None, notification=message())
        third = await store.queue(dedupe_key="k3", event_id="e3", worker_id=None, notification=message())
    assert first is not None and other is not None and third is not None
    assert again is None and later is None
    assert first.id < other.id < third.id


async def test_the_rows_of_one_transaction_share_its_start_time(transaction: Transaction) -> None:
    async with transaction() as store:
        a = await store.queue(dedupe_key="a", event_id="e", worker_id=None, notification=message())
        await asyncio.sleep(0.01)
        b = await store.queue(dedupe_key="b", event_id="e", worker_id=None, notification=message())
    async with transaction() as store:
        c = await store.queue(dedupe_key="c", event_id="e", worker_id=None, notification=message())
    assert a is not None and b is not None and c is not None
    assert a.created_at == b.created_at < c.created_at
    assert a.created_at.utcoffset() == timedelta(0)


async def test_a_rolled_back_transaction_queues_nothing(transaction: Transaction) -> None:
    worker = uuid.uuid4()
    enrolled = message(TEMPLATE_ENROLLMENT_COMPLETED)
    with pytest.raises(RuntimeError):
        async with transaction() as store:
            gone = await store.queue(dedupe_key="k", event_id="e", worker_id=worker, notification=enrolled)
            assert gone is not None and await store.was_told_enrolled(worker)
            raise RuntimeError("the handler failed after queueing")
    async with transaction() as store:
        assert not await store.was_told_enrolled(worker)
        again = await store.queue(dedupe_key="k", event_id="e", worker_id=worker, notification=enrolled)
    assert gone is not None and again is not None and again.id > gone.id  # a sequence never gives an id back


async def test_told_enrolled_means_the_workers_own_enrollment_message(transaction: Transaction) -> None:
    worker, other = uuid.uuid4(), uuid.uuid4()
    async with transaction() as store:
        assert not await store.was_told_enrolled(worker)
        # Neither the company's copy, nor another message to the worker, nor another worker's.
        for i, n in enumerate(
            (
                message(TEMPLATE_ENROLLMENT_COMPLETED, "company", "csr@hindoli.co.id"),
                message(TEMPLATE_WORKER_WAITLISTED),
            )
        ):
            await store.queue(dedupe_key=f"w{i}", event_id="e", worker_id=worker, notification=n)
        await store.queue(
            dedupe_key="o", event_id="e", worker_id=other, notification=message(TEMPLATE_ENROLLMENT_COMPLETED)
        )
        assert not await store.was_told_enrolled(worker)
        assert await store.was_told_enrolled(other)
    async with transaction() as store:
        await store.queue(
            dedupe_key="w",
            event_id="e",
            worker_id=worker,
            notification=message(TEMPLATE_ENROLLMENT_COMPLETED),
        )
    async with transaction() as store:
        assert await store.was_told_enrolled(worker)


async def test_lock_worker_holds_the_worker_until_the_transaction_ends(transaction: Transaction) -> None:
    worker, other = uuid.uuid4(), uuid.uuid4()
    locked, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with transaction() as store:
            await store.lock_worker(worker)
            await store.lock_worker(worker)  # again in the same transaction: no wait
            order.append("first locked")
            locked.set()
            await release.wait()
            order.append("first ends")

    async def contender(who: uuid.UUID, name: str) -> None:
        async with transaction() as store:
            await store.lock_worker(who)
            order.append(f"{name} locked")

    first = asyncio.create_task(holder())
    await locked.wait()
    same = asyncio.create_task(contender(worker, "same worker"))
    await asyncio.wait_for(contender(other, "other worker"), timeout=10)  # not held up
    await asyncio.sleep(0.2)
    assert not same.done()  # still waiting for the first transaction
    release.set()
    await asyncio.wait_for(asyncio.gather(first, same), timeout=10)
    assert order == ["first locked", "other worker locked", "first ends", "same worker locked"]
