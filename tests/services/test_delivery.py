"""The sender against the real PostgreSQL and a real HTTP receiver (the gateway simulator, served
in this process): what the receiver recorded is the truth about what was sent."""

import asyncio
import inspect
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.notifications import repository
from services.notifications.app import MIGRATIONS, create_app
from services.notifications.delivery import Accepted, DeliveryWorker, HttpGateway
from services.notifications.domain import Notification
from services.notifications.repository import PgNotificationsStore
from services.notifications.settings import NotificationsSettings
from shared import contracts
from shared.db import create_pool, migrate
from shared.envelope import event_type, new_envelope
from simulators.gateway.settings import GatewaySimulatorSettings
from simulators.gateway.simulator import GatewaySimulator, Plan, serve_in_process
from testkit.infra import Infra
from testkit.kafka import publish_json
from tests.support import running, truncate_schema

Planner = Callable[[dict[str, Any], int], Plan]


def phone(i: int) -> str:
    return f"+62812{i:08d}"


class Receiver(GatewaySimulator):
    """The gateway simulator with a test's own answers: `planner(message, nth request of its key)`."""

    def __init__(self, record: Path, planner: Planner | None = None) -> None:
        super().__init__(GatewaySimulatorSettings(record_path=str(record)))
        self.planner = planner
        self.requests: Counter[str] = Counter()

    def plan(self, message: dict[str, Any]) -> Plan:
        self.requests[message["idempotency_key"]] += 1
        if self.planner is None:
            return super().plan(message)
        return self.planner(message, self.requests[message["idempotency_key"]])

    def accepted(self) -> Counter[str]:
        """How often the receiver accepted each idempotency key (read back from its record file)."""
        return Counter(e["idempotency_key"] for e in self.received() if e["outcome"] == "accepted")

    def of(self, key: str) -> list[dict[str, Any]]:
        return [e for e in self.received() if e.get("idempotency_key") == key]


@pytest.fixture
def receiver(tmp_path: Path) -> Callable[..., Any]:
    """`async with receiver(planner) as (simulator, url)`: a real HTTP receiver for one test."""

    @asynccontextmanager
    async def start(planner: Planner | None = None) -> AsyncIterator[tuple[Receiver, str]]:
        simulator = Receiver(tmp_path / f"received-{uuid.uuid4().hex[:6]}.jsonl", planner)
        async with serve_in_process(simulator) as url:
            yield simulator, f"{url}/messages"

    return start


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    await migrate(infra.database_urls["notifications"], MIGRATIONS)
    await truncate_schema(infra, "notifications")
    pool = await create_pool(infra.database_urls["notifications"], 1, 8)
    try:
        yield pool
    finally:
        await pool.close()
        await truncate_schema(infra, "notifications")


@asynccontextmanager
async def gateway(url: str, timeout_s: float = 10.0) -> AsyncIterator[HttpGateway]:
    http = HttpGateway(url, timeout_s=timeout_s)
    try:
        yield http
    finally:
        await http.stop()


async def queue(pool: asyncpg.Pool, count: int, first: int = 0) -> list[asyncpg.Record]:
    """`count` worker SMS, recipients phone(first) ..., one per (fake) event; rows in id order."""
    async with pool.acquire() as conn:
        for i in range(first, first + count):
            n = Notification("worker_waitlisted", "worker", "sms", phone(i), None, f"Yth. Budi {i}, ...")
            assert await PgNotificationsStore(conn).queue(
                dedupe_key=f"key-{i}", event_id=f"event-{i}", worker_id=None, notification=n
            )
    return await table(pool)


async def table(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch("SELECT *, idempotency_key::text AS key FROM notification ORDER BY id")


async def eventually(check: Callable[[], Any], timeout_s: float = 20.0, what: str = "the condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def lend(pool: asyncpg.Pool) -> Callable[[], asyncpg.Pool]:
    return lambda: pool


async def make_due(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE notification SET next_attempt_at = now() WHERE status = 'queued'")


# --- C5: the wedge and the storm -----------------------------------------------------------------


async def test_a_row_with_1100_attempts_is_postponed_and_the_rest_of_its_batch_goes_out_once(
    pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    """Before: least(base * power(2, 1100), max) overflowed, the whole batch rolled back, and the
    other rows were sent again on every cycle."""
    rows = await queue(pool, 5)
    dead = rows[2]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE notification SET attempts = 1100 WHERE id = $1", dead["id"])

    def unreachable_phone(message: dict[str, Any], nth: int) -> Plan:
        return Plan(503 if message["recipient"] == dead["recipient"] else 200)

    async with receiver(unreachable_phone) as (sim, url), gateway(url) as http:
        worker = DeliveryWorker(lambda: pool, http, max_attempts=5000)
        await worker.deliver_batch()
        await worker.deliver_batch()  # nothing is due again, nothing is sent again
        accepted = sim.accepted()

    after = {r["id"]: r for r in await table(pool)}
    others = [r for r in rows if r["id"] != dead["id"]]
    assert accepted == Counter({r["key"]: 1 for r in others})
    assert all(after[r["id"]]["status"] == "sent" for r in others)
    postponed = after[dead["id"]]
    assert postponed["status"] == "queued" and postponed["attempts"] == 1101
    wait = postponed["next_attempt_at"] - datetime.now(UTC)
    assert timedelta(minutes=29) < wait <= timedelta(hours=1)  # the ceiling, jittered
    assert "HTTP 503" in postponed["last_error"]


async def test_a_stop_in_the_middle_marks_what_was_sent_and_a_restart_sends_only_the_rest(
    pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    """Before: rows were marked per batch, so a slow send plus a stop rolled the batch back and
    the restart sent every delivered message of it again (50 sends became 100)."""
    rows = await queue(pool, 120)
    slow = rows[0]  # claimed first, in the first batch

    def one_slow_first_attempt(message: dict[str, Any], nth: int) -> Plan:
        if message["recipient"] == slow["recipient"] and nth == 1:
            return Plan(200, delay_s=60.0)
        return Plan(200, delay_s=0.05)

    async with receiver(one_slow_first_attempt) as (sim, url), gateway(url) as http:
        first = DeliveryWorker(lambda: pool, http, batch_size=20, idle_poll_s=0.05)
        first.start()
        await eventually(lambda: len(sim.accepted()) >= 19, what="19 messages sent")
        await first.stop(timeout_s=1.0)
        sent_before_restart = sim.accepted()
        after_stop = {r["key"]: r for r in await table(pool)}
        assert sent_before_restart and slow["key"] not in sent_before_restart
        # Everything the receiver accepted is marked delivered; nothing else is.
        assert {k for k, r in after_stop.items() if r["status"] == "sent"} == set(sent_before_restart)
        # The cut-off send was handed back at once, not left for the lease.
        assert after_stop[slow["key"]]["next_attempt_at"] <= datetime.now(UTC)
        assert [e["outcome"] for e in sim.of(slow["key"])] == ["abandoned"]

        second = DeliveryWorker(lambda: pool, http, batch_size=20, idle_poll_s=0.05)
        second.start()
        try:
            await eventually(lambda: sum(sim.accepted().values()) >= len(rows), what="every message sent")
        finally:
            await second.stop()
        accepted = sim.accepted()

    assert accepted == Counter({r["key"]: 1 for r in rows})  # each exactly once at the receiver
    assert second.sent == len(rows) - len(sent_before_restart)
    assert {r["status"] for r in await table(pool)} == {"sent"}


# --- the cap, refusals, retries and the idempotency key --------------------------------------------


async def test_attempts_are_capped_then_the_row_fails_with_a_masked_reason(
    pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    (row,) = await queue(pool, 1)
    async with receiver(lambda message, nth: Plan(503)) as (sim, url), gateway(url) as http:
        worker = DeliveryWorker(lambda: pool, http, max_attempts=3)
        for _ in range(5):
            await worker.deliver_batch()
            await make_due(pool)
        records = sim.of(row["key"])

    assert [e["status"] for e in records] == [503, 503, 503]  # the cap, not one request more
    (failed,) = await table(pool)
    assert failed["status"] == "failed" and failed["attempts"] == 3 and failed["failed_at"] is not None
    assert failed["last_error"].startswith("gave up after 3 attempts; last error:")
    assert "HTTP 503" in failed["last_error"]
    assert (worker.retried, worker.failed, worker.sent) == (2, 1, 0)


async def test_a_refusal_for_good_fails_at_once_and_the_reason_keeps_the_address_masked(
    pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    rows = await queue(pool, 2)
    refused = rows[0]

    def refuse_one(message: dict[str, Any], nth: int) -> Plan:
        return Plan(422 if message["recipient"] == refused["recipient"] else 200)

    async with receiver(refuse_one) as (sim, url), gateway(url) as http:
        worker = DeliveryWorker(lambda: pool, http)
        await worker.deliver_batch()
        await make_due(pool)
        assert await worker.deliver_batch() == 0  # nothing left to try
        records = sim.of(refused["key"])

    assert [e["status"] for e in records] == [422]
    assert refused["recipient"] in str(records)  # the provider's answer named the number ...
    after = {r["id"]: r for r in await table(pool)}
    failed = after[refused["id"]]
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert "HTTP 422" in failed["last_error"] and "+62812****0000" in failed["last_error"]
    assert refused["recipient"] not in failed["last_error"]  # ... the stored reason does not
    assert after[rows[1]["id"]]["status"] == "sent"


async def test_5xx_408_429_timeouts_are_retried_with_the_same_idempotency_key_until_delivered(
    infra: Infra, pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    (row,) = await queue(pool, 1)
    answers = [Plan(503), Plan(429), Plan(408), Plan(200, delay_s=5.0), Plan(500), Plan(201)]

    def flaky(message: dict[str, Any], nth: int) -> Plan:
        return answers[nth - 1]

    async with receiver(flaky) as (sim, url):
        for attempt in range(len(answers)):
            # A new sender instance (own pool, own HTTP client) for every attempt.
            other_pool = await create_pool(infra.database_urls["notifications"], 1, 2)
            try:
                async with gateway(url, timeout_s=1.0) as http:
                    worker = DeliveryWorker(lend(other_pool), http, send_timeout_s=1.0)
                    assert await worker.deliver_batch() == 1, f"attempt {attempt + 1}"
            finally:
                await other_pool.close()
            await make_due(pool)
        records = sim.of(row["key"])

    assert [e["status"] for e in records] == [503, 429, 408, None, 500, 201]
    assert [e["outcome"] for e in records][3] == "abandoned"  # the sender gave up waiting
    assert {e["idempotency_key"] for e in records} == {row["key"]}
    assert uuid.UUID(row["key"])  # a UUID, the same on every attempt, from every instance
    (delivered,) = await table(pool)
    assert delivered["status"] == "sent" and delivered["attempts"] == 6
    assert delivered["last_error"] is None


async def test_an_unreachable_gateway_postpones_with_backoff(pool: asyncpg.Pool) -> None:
    await queue(pool, 1)
    async with gateway("http://127.0.0.1:9/messages", timeout_s=1.0) as http:  # nothing listens on 9
        worker = DeliveryWorker(lambda: pool, http, send_timeout_s=1.0, retry_base_delay_s=40.0)
        assert await worker.deliver_batch() == 1
    (postponed,) = await table(pool)
    assert postponed["status"] == "queued" and postponed["attempts"] == 1
    assert "gateway unreachable" in postponed["last_error"]
    assert timedelta(seconds=19) < postponed["next_attempt_at"] - datetime.now(UTC) <= timedelta(seconds=40)


# --- leases: several senders, crashes ----------------------------------------------------------------


async def test_two_senders_on_one_table_never_send_a_row_twice(
    infra: Infra, pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    rows = await queue(pool, 300)
    other_pool = await create_pool(infra.database_urls["notifications"], 1, 8)
    try:
        async with (
            receiver(lambda message, nth: Plan(200, delay_s=0.01)) as (sim, url),
            gateway(url) as http_a,
            gateway(url) as http_b,
        ):
            senders = [
                DeliveryWorker(lambda: pool, http_a, batch_size=15, idle_poll_s=0.02),
                DeliveryWorker(lambda: other_pool, http_b, batch_size=15, idle_poll_s=0.02),
            ]
            for sender in senders:
                sender.start()
            try:
                await eventually(lambda: sum(sim.accepted().values()) >= len(rows), what="300 sends")
            finally:
                for sender in senders:
                    await sender.stop()
            requests = Counter(e["idempotency_key"] for e in sim.received())
    finally:
        await other_pool.close()

    assert requests == Counter({r["key"]: 1 for r in rows})  # every row, each requested once
    assert all(s.sent > 0 for s in senders) and sum(s.sent for s in senders) == len(rows)
    assert {r["status"] for r in await table(pool)} == {"sent"}


async def test_rows_of_a_sender_that_died_mid_send_come_back_after_the_lease(
    pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    rows = await queue(pool, 3)
    async with pool.acquire() as conn:  # a sender claims and dies before any answer
        claim = await repository.claim_due(conn, 10, claim_id=uuid.uuid4(), lease_s=1.5, max_attempts=30)
    assert [n.id for n in claim.to_send] == [r["id"] for r in rows]

    async with receiver() as (sim, url), gateway(url) as http:
        survivor = DeliveryWorker(lambda: pool, http, lease_s=2.0, send_timeout_s=1.0)
        assert await survivor.deliver_batch() == 0  # still leased
        assert sim.received() == []
        await eventually(lambda: survivor.deliver_batch(), what="the lease to run out")
        accepted = sim.accepted()
    assert accepted == Counter({r["key"]: 1 for r in rows})
    assert [(r["status"], r["attempts"]) for r in await table(pool)] == [("sent", 2)] * 3


async def test_a_row_whose_last_attempt_never_answered_is_closed_as_failed(
    pool: asyncpg.Pool, receiver: Callable[..., Any]
) -> None:
    rows = await queue(pool, 2)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE notification SET attempts = 3, last_error = 'HTTP 503' WHERE id = $1", rows[0]["id"]
        )
    async with receiver() as (sim, url), gateway(url) as http:
        worker = DeliveryWorker(lambda: pool, http, max_attempts=3)
        assert await worker.deliver_batch() == 2
        accepted = sim.accepted()
    assert accepted == Counter({rows[1]["key"]: 1})
    closed, sent = await table(pool)
    assert (closed["status"], closed["attempts"]) == ("failed", 3)
    assert closed["last_error"] == "no answer after 3 attempts; last error: HTTP 503"
    assert sent["status"] == "sent" and worker.failed == 1


# --- the service wired to a gateway URL ----------------------------------------------------------------


async def test_the_service_sends_through_the_gateway_url_and_reports_failed_rows(
    infra: Infra,
    service_env: Callable[..., dict[str, Any]],
    receiver: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.notifications import api

    await migrate(infra.database_urls["notifications"], MIGRATIONS)
    await truncate_schema(infra, "notifications")
    worker_id = str(uuid.uuid4())
    body = {
        "worker_id": worker_id,
        "full_name": "Budi Santoso",
        "phone": phone(1),
        "kecamatan_code": "07",
        "kecamatan_name": "Keluang",
        "waitlisted_at": "2026-11-20T03:00:00+00:00",
    }

    def refuse_everything(message: dict[str, Any], nth: int) -> Plan:
        return Plan(403)

    async with receiver(refuse_everything) as (sim, url):
        env = service_env(
            NOTIFICATIONS_DATABASE_URL=infra.database_urls["notifications"], NOTIFICATIONS_GATEWAY_URL=url
        )
        async with running(create_app(NotificationsSettings())):
            envelope = new_envelope(event_type("worker-waitlisted.v1"), "/muba/test", subject=worker_id)
            await publish_json(
                infra.kafka,
                env["prefix"] + contracts.WORKER_WAITLISTED.topic,
                [(worker_id, body)],
                headers=envelope.headers(),
            )
            records = await eventually(sim.received, what="the gateway's request")

            async def closed() -> list[asyncpg.Record]:
                found = await rows_of(infra)
                return found if found and found[0]["status"] == "failed" else []

            (row,) = await eventually(closed, what="the refused message to fail")
            conn = await asyncpg.connect(infra.database_urls["notifications"])
            try:
                report = await api.report(conn, {})
                shown = await api.of_worker(conn, {"worker_id": worker_id})
            finally:
                await conn.close()
        await truncate_schema(infra, "notifications")

    assert [(e["recipient"], e["template"], e["status"]) for e in records] == [
        (phone(1), "worker_waitlisted", 403)
    ]
    assert records[0]["idempotency_key"] == row["key"]
    assert (report["failed"], report["delivered"], report["queued"]) == (1, 0, 0)
    assert [(n["status"], n["attempts"]) for n in shown] == [("failed", 1)]
    assert "HTTP 403" in shown[0]["last_error"] and phone(1) not in str(shown)


async def test_the_service_stopping_waits_for_a_send_in_flight_and_marks_it(
    infra: Infra, service_env: Callable[..., dict[str, Any]], receiver: Callable[..., Any]
) -> None:
    """What SIGTERM runs (the app's lifespan shutdown): the sender finishes and records its sends."""
    await migrate(infra.database_urls["notifications"], MIGRATIONS)
    await truncate_schema(infra, "notifications")
    async with receiver(lambda message, nth: Plan(200, delay_s=1.5)) as (sim, url):
        service_env(
            NOTIFICATIONS_DATABASE_URL=infra.database_urls["notifications"], NOTIFICATIONS_GATEWAY_URL=url
        )
        pool = await create_pool(infra.database_urls["notifications"], 1, 2)
        try:
            async with running(create_app(NotificationsSettings())):
                await queue(pool, 3)
                await eventually(lambda: sum(sim.requests.values()) == 3, what="three sends in flight")
                assert sim.received() == []  # none answered yet
        finally:
            await pool.close()
        # The app has stopped.
        accepted = sim.accepted()
        stored = await rows_of(infra)
    await truncate_schema(infra, "notifications")
    assert accepted == Counter({r["key"]: 1 for r in stored})
    assert [r["status"] for r in stored] == ["sent"] * 3


async def rows_of(infra: Infra) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.database_urls["notifications"])
    try:
        return await conn.fetch("SELECT *, idempotency_key::text AS key FROM notification ORDER BY id")
    finally:
        await conn.close()


# --- acceptances recorded in batches --------------------------------------------------------------


class _Instant:
    """A provider that accepts every message at once (as the logging stand-in does)."""

    def __init__(self) -> None:
        self.sent: Counter[int] = Counter()

    async def send(self, notification: Any) -> Accepted:
        self.sent[notification.id] += 1
        return Accepted("log")


async def _sent_events(pool: asyncpg.Pool) -> Counter[int]:
    """The notification-sent events (v2: the provider accepted it) in the outbox, by notification."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE topic = $1", contracts.NOTIFICATION_SENT.topic
        )
    return Counter(int(json.loads(r["payload"])["notification_id"]) for r in rows)


async def test_acceptances_returned_together_are_recorded_together_each_once(pool: asyncpg.Pool) -> None:
    """120 sends that return at once: every row sent, each with one notification-sent, whatever
    batch it was written in; an acceptance reported twice is news once."""
    rows = await queue(pool, 120)
    provider = _Instant()
    worker = DeliveryWorker(lambda: pool, provider, batch_size=120)
    assert await worker.deliver_batch() == 120
    assert worker.sent == 120 and set(provider.sent) == {r["id"] for r in rows}
    assert {r["status"] for r in await table(pool)} == {"sent"}
    assert await _sent_events(pool) == Counter({r["id"]: 1 for r in rows})

    again = (await queue(pool, 1, first=500))[-1]
    _, claimed, _ = await worker._claim(1)
    twice = await asyncio.gather(*(worker._record_sent(claimed[0], Accepted("log")) for _ in range(2)))
    assert sorted(twice) == [False, True] and claimed[0].id == again["id"]
    assert (await _sent_events(pool))[again["id"]] == 1
