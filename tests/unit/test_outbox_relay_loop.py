"""The outbox relay's loop without servers: a fake connection (the outbox as a list) and a fake
producer that fails the sends it is told to. What is checked: the retry delay starts again from
the base after progress, acknowledged rows are not sent again, and pruning runs on its timer
under a load that never lets a poll come back empty (issue 9, C3 and the pruning item)."""

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

import shared.relay as relay_module

BASE_DELAY_S = 0.2  # the relay's first retry delay


class FakeOutbox:
    """The rows of one schema's outbox; `endless` adds new rows whenever the relay reads."""

    def __init__(self, rows: int = 0, endless: int = 0) -> None:
        self.waiting: dict[int, dict[str, Any]] = {}
        self.published: set[int] = set()
        self.last_id = 0
        self.prunes = 0
        self.full_fetches = 0
        self.endless = endless
        for _ in range(rows):
            self.add()

    def add(self) -> None:
        self.last_id += 1
        row_id = self.last_id
        self.waiting[row_id] = {
            "id": row_id,
            "topic": "t",
            "key": f"k{row_id}".encode(),
            "payload": b"{}",
            "headers": {"n": str(row_id)},
            "raw_headers": None,
            "attempts": 0,
            "held_by": None,
        }

    def publish(self, ids: list[int]) -> None:
        for row_id in ids:
            self.waiting.pop(row_id, None)
            self.published.add(row_id)

    def pending(self, limit: int) -> list[dict[str, Any]]:
        while self.endless and len(self.waiting) < limit:
            self.add()
        found = list(self.waiting.values())[:limit]
        if len(found) == limit:
            self.full_fetches += 1
        return found


class FakeConnection:
    def __init__(self, db: FakeOutbox) -> None:
        self.db = db
        self.closed = False

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if "current_schema" in sql:
            return "fake"
        if "DELETE" in sql:
            self.db.prunes += 1
            return 0
        return True  # the lead (lease or lock) is ours

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        await asyncio.sleep(0.001)  # a round trip: others run meanwhile
        return self.db.pending(int(args[0]))

    async def execute(self, sql: str, *args: Any) -> str:
        if "published_at = now()" in sql:
            self.db.publish(list(args[0]))
        return "UPDATE"

    async def add_listener(self, channel: str, callback: Any) -> None:
        pass

    async def close(self) -> None:
        self.closed = True

    def is_closed(self) -> bool:
        return self.closed

    def terminate(self) -> None:
        self.closed = True


class FakeClient:
    async def force_metadata_update(self) -> bool:
        return True


class FakeProducer:
    """Sends succeed or fail as `script` says, one entry per send (then succeed)."""

    def __init__(self, script: list[str], sent: Counter[str]) -> None:
        self.script = script
        self.sent = sent
        self.client = FakeClient()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None
    ) -> "asyncio.Future[Any]":
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "fail":
            raise KafkaTimeoutError("the producer's buffer is full")
        self.sent[dict(headers)["n"].decode()] += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], Counter[str], list[FakeOutbox]]]:
    script: list[str] = []
    sent: Counter[str] = Counter()
    dbs: list[FakeOutbox] = []

    async def connect(dsn: str, **options: Any) -> FakeConnection:
        return FakeConnection(dbs[0])

    monkeypatch.setattr(relay_module, "connect", connect)
    monkeypatch.setattr(relay_module, "kafka_producer", lambda *a, **k: FakeProducer(script, sent))
    yield script, sent, dbs


async def _until(check: Any, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, "the relay did not get there"
        await asyncio.sleep(0.02)


async def test_the_retry_delay_starts_again_from_the_base_after_progress(
    fakes: tuple[list[str], Counter[str], list[FakeOutbox]], caplog: pytest.LogCaptureFixture
) -> None:
    script, sent, dbs = fakes
    db = FakeOutbox(rows=6)
    dbs.append(db)
    # Two failed cycles (the delay grows), then three rows go out and the fourth fails.
    script.extend(["fail", "fail", "ok", "ok", "ok", "fail"])
    caplog.set_level(logging.WARNING, logger="shared.relay")
    relay = relay_module.OutboxRelay("fake", "fake", batch_size=10, idle_poll_s=0.05)
    relay.start()
    try:
        await _until(lambda: len(db.published) == 6)
    finally:
        await relay.stop(drain_timeout_s=1.0)
    delays = [r.retry_in_s for r in caplog.records if hasattr(r, "retry_in_s")]
    assert len(delays) == 3, delays
    assert delays[1] >= delays[0]  # no progress: the delay grows
    assert delays[2] <= BASE_DELAY_S, delays  # after rows went out it starts again from the base
    # The rows acknowledged before the failure were marked then, not sent again.
    assert sent == Counter({str(n): 1 for n in range(1, 7)}), sent


async def test_pruning_runs_on_its_timer_while_every_poll_is_full(
    fakes: tuple[list[str], Counter[str], list[FakeOutbox]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, dbs = fakes
    db = FakeOutbox(endless=5)
    dbs.append(db)
    monkeypatch.setattr(relay_module, "PRUNE_EVERY_S", 0.0)  # due at every cycle
    relay = relay_module.OutboxRelay("fake", "fake", batch_size=5, idle_poll_s=0.05)
    relay.start()
    try:
        await _until(lambda: db.full_fetches >= 20, timeout_s=20.0)
    finally:
        await relay.stop(drain_timeout_s=0.5)
    assert db.prunes >= 2 * 10, (db.prunes, db.full_fetches)  # outbox and inbox, cycle after cycle
