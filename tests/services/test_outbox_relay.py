"""The outbox relay against the real servers (issue 9, C3 and C4): one row that can never be sent
is parked with its reason while every other row goes out exactly once; a frozen leader is
replaced within seconds and, woken, does not lead beside its successor; the roles' timeouts hold.

Each test runs its relays on a throw-away role and schema of its own (the shared migrations
only), so no service's rows are published by these relays and nothing is left behind."""

import asyncio
import json
import os
import signal
import socket
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from muba.cli import app as cli
from shared import contracts, topics
from shared.db import migrate
from shared.kafka_admin import provision_topics
from shared.outbox import add_raw, outbox_status
from shared.relay import OutboxRelay
from shared.runtime import ServiceRuntime, conn_store
from shared.settings import ServiceSettings
from testkit.infra import SERVICES, Infra
from testkit.kafka import EventRecorder, record_events
from tests.support import scratch_role

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
# What the README tells an operator to run to send parked rows again (section "Parked outbox rows").
UNPARK = (
    "UPDATE outbox SET parked_at = NULL, park_reason = NULL"
    " WHERE parked_at IS NOT NULL AND published_at IS NULL AND topic = $1"
)


@pytest.fixture
async def relay_dsn(infra: Infra, admin_db: asyncpg.Connection, tmp_path: Path) -> AsyncIterator[str]:
    """A role with a schema of its own holding the shared outbox and inbox tables."""
    async with scratch_role(infra, admin_db, "relay") as dsn:
        (tmp_path / "migrations").mkdir()
        await migrate(dsn, tmp_path / "migrations")
        yield dsn


@asynccontextmanager
async def database(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def relay_running(dsn: str, infra: Infra, **options: Any) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(dsn, infra.kafka, idle_poll_s=0.2, **options)
    relay.start()
    try:
        yield relay
    finally:
        await relay.stop(drain_timeout_s=2.0)


async def create_topic(infra: Infra, topic: str, **configs: str) -> None:
    admin = AIOKafkaAdminClient(**infra.kafka.options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
    finally:
        await admin.close()


async def set_topic_config(infra: Infra, topic: str, **configs: str) -> None:
    admin = AIOKafkaAdminClient(**infra.kafka.options())
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
    finally:
        await admin.close()


async def add(conn: asyncpg.Connection, topic: str, key: str | None, body: bytes, name: str) -> str:
    """One outbox row as a service writes it; returns its event id (also sent as a header)."""
    event_id = str(uuid.uuid4())
    await add_raw(
        conn,
        topic=topic,
        key=None if key is None else key.encode(),
        body=body,
        headers={"ce_id": event_id, "name": name},
        event_id=event_id,
    )
    return event_id


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Wait for a liveness bound (generous: the machine is shared), not a duration."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.2)


def copies(recorder: EventRecorder) -> Counter[str]:
    return Counter(e.headers.get("name", "?") for e in recorder.events)


async def outcomes(conn: asyncpg.Connection) -> dict[str, tuple[bool, str | None]]:
    """name -> (published, park reason)."""
    rows = await conn.fetch("SELECT headers->>'name' AS name, published_at, park_reason FROM outbox")
    return {r["name"]: (r["published_at"] is not None, r["park_reason"]) for r in rows}


# --- C3: one bad row ------------------------------------------------------------------------------


async def test_an_oversized_row_is_parked_and_the_rows_around_it_go_out_exactly_once(
    infra: Infra, relay_dsn: str, topic_prefix: str
) -> None:
    topic = topic_prefix + "outbox.sizes"
    # One partition: every row shares the idempotent producer's sequence there, as the
    # rows of one key do. The topic takes 1 MiB; the producer takes up to 5 MiB.
    await create_topic(infra, topic, **{"max.message.bytes": str(MiB)})
    async with database(relay_dsn) as conn, record_events(infra.kafka, topic) as rec:
        async with conn.transaction():  # one batch for the relay
            await add(conn, topic, "a", b"1", "good-1")
            await add(conn, topic, "b", b"2", "good-2")
            await add(conn, topic, "big", b"x" * (3 * MiB // 2), "too-big-for-the-topic")
            await add(conn, topic, "c", b"3", "good-3")
            await add(conn, topic, "huge", b"y" * (6 * MiB), "too-big-for-the-producer")
            await add(conn, topic, "big", b"4", "behind-too-big")  # same key: must not overtake
            await add(conn, topic, "d", b"5", "good-4")
            await add(conn, topic, None, b"6", "good-5")
        good = {"good-1", "good-2", "good-3", "good-4", "good-5"}
        async with relay_running(relay_dsn, infra) as relay:
            await rec.wait_for(len(good), timeout_s=60)
            await rec.settle(quiet_s=2.0)
            assert copies(rec) == Counter(good), copies(rec)  # each good row once, nothing else
            await until(lambda: _parked(conn, 3), 30, "the three rows that cannot be sent are parked")

            found = await outcomes(conn)
            assert {name for name, (published, _) in found.items() if published} == good
            assert "MessageSizeTooLarge" in str(found["too-big-for-the-topic"][1])
            assert "refused by the broker" in str(found["too-big-for-the-topic"][1])
            assert "too large to send" in str(found["too-big-for-the-producer"][1])
            big_id = await conn.fetchval(
                "SELECT id FROM outbox WHERE headers->>'name' = 'too-big-for-the-topic'"
            )
            assert f"held behind parked row {big_id}" in str(found["behind-too-big"][1])
            status = await outbox_status(conn)
            assert (status.backlog, status.parked, status.leader_present) == (0, 3, True)
            assert relay.stats.parked == 3 and relay.stats.published == len(good)

            # The operator's retry: the topic takes 2 MiB now, the rows are un-parked (README).
            await set_topic_config(infra, topic, **{"max.message.bytes": str(2 * MiB)})
            await conn.execute(UNPARK, topic)
            await rec.wait_for(len(good) + 2, timeout_s=60)
            await until(lambda: _parked(conn, 1), 30, "the 6 MiB row is parked again")
            await rec.settle(quiet_s=1.0)
        sent = copies(rec)
        assert sent["too-big-for-the-topic"] == 1 and sent["behind-too-big"] == 1
        offsets = {e.headers["name"]: e.offset for e in rec.events}
        assert offsets["too-big-for-the-topic"] < offsets["behind-too-big"]  # the key's order held
        assert "too large to send" in str((await outcomes(conn))["too-big-for-the-producer"][1])


async def _parked(conn: asyncpg.Connection, count: int) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL") == count)


async def test_a_row_for_a_topic_the_broker_rejects_is_parked_and_the_rest_flows(
    infra: Infra, relay_dsn: str, topic_prefix: str
) -> None:
    topic = topic_prefix + "outbox.good"
    # The shared broker still creates topics on demand; a name it can never have stands for a
    # topic that does not exist (auto-create off): no metadata for it, ever.
    bad = topic_prefix + "no such topic!"
    await create_topic(infra, topic)
    async with database(relay_dsn) as conn, record_events(infra.kafka, topic) as rec:
        async with conn.transaction():
            await add(conn, topic, "k1", b"1", "good-1")
            await add(conn, bad, "k1", b"2", "bad-1")
            await add(conn, topic, "k2", b"3", "good-2")
            await add(conn, bad, None, b"4", "bad-2")
            await add(conn, topic, "k1", b"5", "good-3")
        async with relay_running(relay_dsn, infra, metadata_wait_s=3.0) as relay:
            await rec.wait_for(3, timeout_s=60)
            await until(lambda: _parked(conn, 2), 30, "the rows for the rejected topic are parked")
            # Rows written later flow too, and go to the same fate.
            await add(conn, topic, "k3", b"6", "good-4")
            await add(conn, bad, "k9", b"7", "bad-3")
            await rec.wait_for(4, timeout_s=30)
            await until(lambda: _parked(conn, 3), 30, "the later row for the rejected topic is parked")
            await rec.settle(quiet_s=1.0)
            assert relay.is_leader
        assert copies(rec) == Counter({"good-1": 1, "good-2": 1, "good-3": 1, "good-4": 1})
        found = await outcomes(conn)
        for name in ("bad-1", "bad-2", "bad-3"):
            assert "does not exist or its name is not valid" in str(found[name][1]), found[name]


async def test_a_row_for_a_topic_the_service_may_not_write_is_parked_and_written_nowhere(
    infra: Infra, relay_dsn: str, topic_prefix: str
) -> None:
    """The relay connects as its service's principal: a row for another service's topic (here the
    registry's outbox holding a commitment acceptance, sponsorship's to publish) is refused by the
    brokers' ACLs, parked with that reason, and written nowhere; the registry's own rows flow."""
    await provision_topics(infra.kafka, topic_prefix, catalogue=topics.CATALOGUE)
    own, foreign = (
        topic_prefix + contracts.WORKER_REGISTERED.topic,
        topic_prefix + contracts.COMMITMENT_ACCEPTED.topic,
    )
    relay = OutboxRelay(relay_dsn, infra.kafka_as("registry"), idle_poll_s=0.2, metadata_wait_s=3.0)
    async with database(relay_dsn) as conn, record_events(infra.kafka, own, foreign) as rec:
        async with conn.transaction():
            await add(conn, own, "k1", b"{}", "own-1")
            await add(conn, foreign, "k1", b"{}", "foreign-1")
            await add(conn, own, "k2", b"{}", "own-2")
        relay.start()
        try:
            await rec.wait_for(2, timeout_s=60, topic=own)
            await until(lambda: _parked(conn, 1), 30, "the row for sponsorship's topic is parked")
            await rec.settle(quiet_s=1.0)
        finally:
            await relay.stop(drain_timeout_s=2.0)
        found = await outcomes(conn)
    assert copies(rec) == Counter({"own-1": 1, "own-2": 1})
    assert [e.topic for e in rec.events] == [own, own]
    assert found["foreign-1"][0] is False
    assert "not allowed to write to topic" in str(found["foreign-1"][1])
    assert "TopicAuthorizationFailed" in str(found["foreign-1"][1])


# --- C4: a frozen leader --------------------------------------------------------------------------

RELAY_PROCESS = """
import asyncio, json, logging, sys
from shared.kafka_security import KafkaConnection
from shared.relay import OutboxRelay

logging.basicConfig(level=logging.INFO, format="%(asctime)s relay-process %(name)s: %(message)s")
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

async def main() -> None:
    kafka = KafkaConnection.from_env("admin", bootstrap_servers=sys.argv[2])
    relay = OutboxRelay(sys.argv[1], kafka, idle_poll_s=0.5, lease_s=3.0)
    relay.start()
    shown = None
    while True:
        if relay.is_leader != shown:
            shown = relay.is_leader
            print(json.dumps({"leader": shown, "published": relay.published}), flush=True)
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


class RelayProcess:
    """An outbox relay in a process of its own (so that it can be frozen), telling its states."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.states: list[bool] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, dsn: str, infra: Infra) -> "RelayProcess":
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RELAY_PROCESS,
            dsn,
            infra.kafka_bootstrap_servers,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.states.append(bool(json.loads(line)["leader"]))

    @property
    def leads(self) -> bool:
        return bool(self.states) and self.states[-1]

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def end(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()


async def test_a_frozen_leader_is_replaced_and_does_not_lead_again_when_it_wakes(
    infra: Infra, relay_dsn: str, topic_prefix: str
) -> None:
    topic = topic_prefix + "outbox.frozen"
    await create_topic(infra, topic)

    first = await RelayProcess.start(relay_dsn, infra)
    second: RelayProcess | None = None
    try:
        async with database(relay_dsn) as conn, record_events(infra.kafka, topic) as rec:

            async def published(count: int) -> bool:
                await rec._drain(200)
                return len(copies(rec)) >= count  # distinct rows: some may come twice

            async def add_rows(n: int, wave: str) -> None:
                async with conn.transaction():
                    for i in range(n):
                        await add(conn, topic, f"k{i % 7}", b"{}", f"{wave}-{i}")

            await until(lambda: _true(first.leads), 30, "the first relay leads")
            second = await RelayProcess.start(relay_dsn, infra)
            await until(lambda: _true(second.states == [False]), 30, "the second relay stands by")
            await add_rows(5, "before")
            await until(lambda: published(5), 30, "the leader publishes")

            first.signal(signal.SIGSTOP)
            await add_rows(20, "frozen")
            # The lease is 3 s: the standby must take over within seconds (bound kept generous).
            await until(lambda: published(25), 30, "the standby publishes while the leader is frozen")
            await until(lambda: _true(second.leads), 30, "the standby says it leads")

            first.signal(signal.SIGCONT)
            await until(lambda: _true(first.states[-1:] == [False]), 30, "the woken leader stands down")
            await add_rows(10, "woken")
            await until(lambda: published(35), 30, "rows written after the wake-up are published")
            await rec.settle(quiet_s=2.0)
            sent = copies(rec)
            assert all(
                sent[f"{wave}-{i}"] >= 1 for wave, n in (("before", 5), ("frozen", 20)) for i in range(n)
            )
            assert {name: n for name, n in sent.items() if name.startswith("woken")} == {
                f"woken-{i}": 1 for i in range(10)
            }  # one leader only: nothing of them twice
            assert not first.leads and second.leads
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

            # A killed leader's session is gone with it: the lease passes on without waiting
            # for its expiry (taken before the dead leader's lease would have run out).
            second_expiry = await conn.fetchval("SELECT expires_at FROM outbox_lease")
            second.process.kill()
            await until(lambda: _true(first.leads), 30, "the first relay leads again")
            assert await conn.fetchval("SELECT taken_at FROM outbox_lease") < second_expiry
            await add_rows(5, "after-kill")
            await until(lambda: published(40), 30, "rows written after the kill are published")
    finally:
        await first.end()
        if second is not None:
            await second.end()


async def _true(value: bool) -> bool:
    return value


async def test_a_clean_stop_hands_the_lease_over_and_readiness_sees_no_leader(
    infra: Infra, relay_dsn: str, topic_prefix: str
) -> None:
    topic = topic_prefix + "outbox.handover"
    await create_topic(infra, topic)
    async with database(relay_dsn) as conn, record_events(infra.kafka, topic) as rec:
        first = OutboxRelay(relay_dsn, infra.kafka, idle_poll_s=0.2)
        first.start()
        await until(lambda: _true(first.is_leader), 30, "the first relay leads")
        assert (await outbox_status(conn)).leader_present
        await first.stop()
        assert await conn.fetchval("SELECT count(*) FROM outbox_lease") == 0  # given up, not left to expire
        assert not (await outbox_status(conn)).leader_present  # /readyz goes red: nobody publishes
        await add(conn, topic, "k", b"{}", "after-the-stop")
        assert (await outbox_status(conn)).backlog == 1
        async with relay_running(relay_dsn, infra) as second:
            await rec.wait_for(1, timeout_s=30)
            assert second.is_leader and (await outbox_status(conn)).leader_present


# --- visible to operators -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_parked_rows_are_in_readiness_metrics_and_the_cli(
    infra: Infra, relay_dsn: str, topic_prefix: str, tmp_path: Path
) -> None:
    bad = topic_prefix + "not a topic"
    token = "relay-test-token"
    settings = ServiceSettings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap_servers,
        KAFKA_USERNAME="admin",  # "relaytest" is no principal of ours: the relay here is plumbing
        MUBA_OPERATOR_TOKEN=token,
        TOPIC_PREFIX=topic_prefix,
    )
    settings.database_url = relay_dsn
    (tmp_path / "none").mkdir()
    runtime = ServiceRuntime("relaytest", settings, tmp_path / "none", store=conn_store)
    runtime.relay.metadata_wait_s = 2.0
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(runtime.asgi_app(), port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with database(relay_dsn) as conn:
            await until(lambda: _true(server.started), 30, "the service is up")
            await add(conn, bad, "1606015208900003", b"{}", "parked-one")
            await until(lambda: _parked(conn, 1), 30, "the row is parked")

            ready = json.loads(await asyncio.to_thread(_get, port, "/readyz"))
            assert ready["outbox_parked"] == 1 and ready["outbox_leader_present"] is True
            assert ready["status"] == "ready"  # parked rows wait for an operator, not for us
            metrics = await asyncio.to_thread(_get, port, "/metrics")
            assert "muba_outbox_parked 1.0" in metrics and "muba_outbox_rows_parked_total 1.0" in metrics

            env = {"REGISTRY_URL": f"http://127.0.0.1:{port}", "MUBA_OPERATOR_TOKEN": token}
            result = await asyncio.to_thread(
                CliRunner().invoke,
                cli,
                ["outbox", "parked", "--service", "registry", "--format", "json"],
                env=env,
            )
            assert result.exit_code == 0, result.output
            listed = json.loads(result.output)
            [row] = listed["registry"]["rows"]
            assert row["topic"] == bad and "does not exist" in row["reason"]
            assert "1606015208900003" not in result.output  # a NIK-like key is shown masked
            table = await asyncio.to_thread(
                CliRunner().invoke, cli, ["outbox", "parked", "--service", "registry"], env=env
            )
            assert table.exit_code == 0 and "registry: 1 baris diparkir" in table.output, table.output
            assert "does not exist" in table.output
            refused = await asyncio.to_thread(
                CliRunner().invoke,
                cli,
                ["outbox", "parked", "--service", "registry"],
                env={**env, "MUBA_OPERATOR_TOKEN": "wrong"},
            )
            assert refused.exit_code == 1 and "401" in refused.output
    finally:
        server.should_exit = True
        await serving


def _get(port: int, path: str) -> str:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as error:
        return str(error.read().decode())


# --- C4: liveness bounds of every service's role ---------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_service_roles_have_statement_lock_and_idle_transaction_timeouts(
    infra: Infra, service: str
) -> None:
    """deploy/sql/init.sql: a frozen instance cannot hold inbox keys, advisory or row locks for ever."""
    conn = await asyncpg.connect(infra.database_urls[service])
    try:
        shown = {
            name: await conn.fetchval(f"SHOW {name}")
            for name in (
                "statement_timeout",
                "lock_timeout",
                "idle_in_transaction_session_timeout",
                "tcp_keepalives_idle",
            )
        }
    finally:
        await conn.close()
    assert shown == {
        "statement_timeout": "30s",
        "lock_timeout": "10s",
        "idle_in_transaction_session_timeout": "40s" if service == "bpjs" else "10s",
        "tcp_keepalives_idle": "10",
    }
