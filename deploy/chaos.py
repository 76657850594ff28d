"""`make chaos`: a fault campaign against the whole stack, judged by an independent checker.

Two instances of each service, two BPJS simulators and the gateway stand-in take the fuzzer's
thousands of partner messages (deploy/fuzz.py) in waves while faults from a seeded generator
hit them, one class at a time:

    sigkill       every kind of process, the outbox relay leaders included; restarted under a new id
    sigstop       relay leaders, a consumer, the simulator and the gateway frozen (tens of seconds)
    new-id        instances restarted under a different instance id (real rebalances)
    scale         out to 3 instances of each service, in to 1, back to 2
    clock-step    one registry instance restarted with its clock an hour off (MUBA_CLOCK_SKEW_S)
    pg-restart    PostgreSQL restarted (own server) / every session of the database cut (shared one)
    pg-read-only  the database read-only for 30 s
    pg-credentials  the services' passwords rotated (own server) / their CONNECT revoked, and back
    broker        a broker node killed when 3 run; the one broker restarted when it is ours
    late-commitment  a commitment arrives late and must drain the waiting list

BPJS rejects a share of enrollments (SIMULATOR_REJECT_PERCENT) and incomes above the floor make
budgets bind, so release and drain paths run. After each class the campaign waits until every
consumer group has no lag and every outbox is empty: that is the class's time to recover. A
consumer group or outbox with work that makes no progress for --wedge-after seconds (outside a
fault that stops everything) is `wedged`. At the end deploy/checker.py accounts for every message
from the topics and the gateway's record alone.

    chaos: lost=0 duplicated=0 wrong=0 wedged=0

`make chaos` runs in its own database (muba_chaos, recreated each run) and topic namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.checker import Published, TopicTail, Verdict, check, publish_cases, read_gateway_record
from deploy.fuzz import ACCEPTED, Case, FuzzRun, Owed, generate
from deploy.stack import ROOT, SERVICES, Process, Stack, free_port
from shared import access, contracts, topics
from shared.kafka_admin import provision_topics
from shared.kafka_security import KafkaConnection

PgMode = Literal["server", "database", "off"]
BrokerMode = Literal["auto", "off"]
FAULT_CLASSES = (
    "sigkill",
    "sigstop",
    "new-id",
    "scale",
    "clock-step",
    "late-commitment",
    "pg-restart",
    "pg-read-only",
    "pg-credentials",
    "broker",
)


class Servers(BaseSettings):
    """Where the servers are: what `make infra-up` exports, with its defaults. Read when the
    campaign runs, never at import."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    admin_database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/muba", validation_alias="MUBA_ADMIN_DATABASE_URL"
    )
    registry_database_url: str = Field(
        "postgresql://registry:registry@127.0.0.1:5432/muba", validation_alias="REGISTRY_DATABASE_URL"
    )
    sponsorship_database_url: str = Field(
        "postgresql://sponsorship:sponsorship@127.0.0.1:5432/muba",
        validation_alias="SPONSORSHIP_DATABASE_URL",
    )
    notifications_database_url: str = Field(
        "postgresql://notifications:notifications@127.0.0.1:5432/muba",
        validation_alias="NOTIFICATIONS_DATABASE_URL",
    )
    bpjs_database_url: str = Field(
        "postgresql://bpjs:bpjs@127.0.0.1:5432/muba", validation_alias="BPJS_DATABASE_URL"
    )

    def kafka(self) -> KafkaConnection:
        """The campaign provisions and watches as `admin`; the services run as their own principals."""
        return KafkaConnection.from_env(access.ADMIN, bootstrap_servers=self.kafka_bootstrap_servers)

    def database_urls(self) -> dict[str, str]:
        return {s: str(getattr(self, f"{s}_database_url")) for s in (*SERVICES, "bpjs")}


@dataclass
class Settings:
    """One campaign's sizes and which faults it may inject, and how."""

    seed: int
    registrations: int = 3000
    commitments: int = 40
    answers: int = 40
    big: bool = True
    instances: int = 2
    faults: tuple[str, ...] = FAULT_CLASSES
    stop_s: tuple[float, float] = (45.0, 75.0)  # how long a SIGSTOP lasts
    read_only_s: float = 30.0
    credentials_s: float = 20.0
    wedge_after_s: float = 60.0
    recover_timeout_s: float = 150.0
    budget_s: float = 13 * 60  # the whole campaign, `make chaos` must end within 15 minutes
    pg_mode: PgMode = "server"
    broker_mode: BrokerMode = "auto"
    reject_percent: int = 15
    batch_size: int = 100
    log: Callable[[str], None] = print


@dataclass
class FaultFigures:
    name: str
    injected: int = 0
    recover_s: list[float] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)
    skipped: str | None = None
    unrecovered: int = 0

    def line(self) -> str:
        if self.skipped:
            return f"fault {self.name:<16} skipped: {self.skipped}"
        rec = (
            f"recover_s max={max(self.recover_s):.1f} median={statistics.median(self.recover_s):.1f}"
            if self.recover_s
            else "recover_s -"
        )
        extra = f" NOT RECOVERED x{self.unrecovered}" if self.unrecovered else ""
        return f"fault {self.name:<16} injected={self.injected:<3} {rec}{extra}  ({'; '.join(self.detail)})"


@dataclass
class CampaignResult:
    seed: int
    verdict: Verdict
    faults: list[FaultFigures]
    wedged: list[str]
    longest_stall: tuple[float, str]
    fuzz: FuzzRun
    published: list[Published]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.wedged and not any(f.unrecovered for f in self.faults)

    def totals(self) -> str:
        v = self.verdict
        return (
            f"chaos: lost={len(v.lost)} duplicated={len(v.duplicated)} wrong={len(v.wrong)} "
            f"wedged={len(self.wedged)}"
        )

    def report(self) -> str:
        f = self.verdict.figures
        lines = [f.line() for f in self.faults]
        lines.append(
            f"fuzz  seed={self.seed} {len(self.published)} messages on the partner topics; "
            + ", ".join(f"{k}={n}" for k, n in sorted(f.items()))
        )
        lines += [f"wedged: {w}" for w in self.wedged]
        stall, name = self.longest_stall
        lines.append(f"longest stall with work to do (no fault holding it): {stall:.0f} s ({name or '-'})")
        if not self.verdict.ok:
            lines.append(self.verdict.explain())
        lines.append(f"chaos: {self.seconds:.0f} s, seed={self.seed} (rerun: --seed {self.seed})")
        lines.append(self.totals())
        return "\n".join(lines)


# --- watching progress: lag and outbox backlogs ------------------------------------------------


class Monitor:
    """Samples every consumer group's lag and every outbox's backlog; flags what is wedged."""

    def __init__(
        self,
        kafka: KafkaConnection,
        prefix: str,
        admin_url: str,
        wedge_after_s: float,
        log: Callable[[str], None],
    ) -> None:
        self.kafka = kafka
        self.prefix = prefix
        self.admin_url = admin_url
        self.wedge_after_s = wedge_after_s
        self.log = log
        self.lag: dict[str, int] = {}
        self.backlog: dict[str, int] = {}
        self.work: dict[str, int] = {}  # per consumer-group partition and per outbox
        self.parked: dict[str, int] = {}  # outbox rows the relay parked, per schema
        self.wedged: list[str] = []
        self.longest_stall: tuple[float, str] = (0.0, "")  # outside holds: the margin to the bound
        self._committed: dict[str, int] = {}
        self._published: dict[str, int] = {}
        self._progress: dict[str, float] = {}
        self._held: list[str] = []
        self._flagged: set[str] = set()
        self.fresh = asyncio.Event()

    @contextlib.contextmanager
    def hold(self, *names: str) -> Any:
        """While a fault stops everything (the database away), or the named work (the sender,
        while the gateway it sends to is frozen), no progress is owed."""
        held = names or ("*",)
        self._held.extend(held)
        try:
            yield
        finally:
            for name in held:
                self._held.remove(name)
            now = time.monotonic()
            for name in self._progress:
                if "*" in held or name in held:
                    self._progress[name] = now

    async def run(self) -> None:
        admin = AIOKafkaAdminClient(**self.kafka.options(), request_timeout_ms=10_000)
        consumer = AIOKafkaConsumer(**self.kafka.options(), request_timeout_ms=10_000)
        started = False
        try:
            while True:
                try:
                    if not started:
                        await admin.start()
                        await consumer.start()
                        started = True
                    await self._sample_kafka(admin, consumer)
                except Exception:  # the broker may be away: a fault
                    pass
                with contextlib.suppress(Exception):
                    await self._sample_outboxes()
                self._judge()
                self.fresh.set()
                await asyncio.sleep(1.5)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await admin.close()

    async def _sample_kafka(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> None:
        groups = [g for g, _ in await admin.list_consumer_groups() if g.startswith(self.prefix)]
        for group in groups:
            topic = _group_topic(group.removeprefix(self.prefix))
            if topic is None:
                continue
            committed = await admin.list_consumer_group_offsets(group)
            parts = consumer.partitions_for_topic(self.prefix + topic)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(self.prefix + topic) or set()
            tps = [TopicPartition(self.prefix + topic, p) for p in parts]
            ends = await consumer.end_offsets(tps)
            done = {tp: committed[tp].offset for tp in tps if tp in committed and committed[tp].offset >= 0}
            self.lag[group] = 0
            # Per partition: a frozen member's partitions stall even while its twin's move on.
            for tp, end in ends.items():
                lag = max(end - done.get(tp, 0), 0)
                self.lag[group] += lag
                name = f"{group}[{tp.partition}]"
                self.work[name] = lag
                if done.get(tp, 0) != self._committed.get(name) or lag == 0:
                    self._progress[name] = time.monotonic()
                self._committed[name] = done.get(tp, 0)

    async def _sample_outboxes(self) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=5)
        try:
            for schema in SERVICES:
                parking = await conn.fetchval(
                    "SELECT count(*) FROM information_schema.columns"
                    " WHERE table_schema = $1 AND table_name = 'outbox' AND column_name = 'parked_at'",
                    schema,
                )
                parked = "parked_at IS NOT NULL" if parking else "false"
                row = await conn.fetchrow(
                    f"SELECT count(*) FILTER (WHERE published_at IS NULL AND NOT ({parked})) AS backlog,"
                    f" count(*) FILTER (WHERE published_at IS NULL AND {parked}) AS parked,"
                    f" count(*) FILTER (WHERE published_at IS NOT NULL) AS published FROM {schema}.outbox"
                )
                if row is None:
                    continue
                name = f"outbox:{schema}"
                # A parked row never goes out by itself: the checker finds what it owed missing.
                self.parked[schema] = int(row["parked"])
                self.backlog[name] = self.work[name] = int(row["backlog"])
                if row["published"] != self._published.get(name) or row["backlog"] == 0:
                    self._progress[name] = time.monotonic()
                self._published[name] = int(row["published"])
            # The sender's queue: a notification is out only once the gateway took it.
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'queued') AS queued,"
                " count(*) FILTER (WHERE status <> 'queued') AS done FROM notifications.notification"
            )
            if row is not None:
                name = "sender:notifications"
                self.backlog[name] = self.work[name] = int(row["queued"])
                if row["done"] != self._published.get(name) or row["queued"] == 0:
                    self._progress[name] = time.monotonic()
                self._published[name] = int(row["done"])
        finally:
            await conn.close()

    def _judge(self) -> None:
        now = time.monotonic()
        if "*" in self._held:
            self._progress = dict.fromkeys(self._progress, now)
            return
        for name in self._held:
            if name in self._progress:
                self._progress[name] = now
        for name, since in self._progress.items():
            work = self.work.get(name, 0)
            if work and now - since > self.longest_stall[0]:
                self.longest_stall = (now - since, name.removeprefix(self.prefix))
            if work and now - since > self.wedge_after_s and name not in self._flagged:
                self._flagged.add(name)
                self.wedged.append(f"{name}: no progress for {now - since:.0f} s with {work} to do")
                self.log(f"chaos: WEDGED {self.wedged[-1]}")
            elif not work:
                self._flagged.discard(name)

    @property
    def quiet(self) -> bool:
        return bool(self.lag) and not any(self.lag.values()) and not any(self.backlog.values())

    async def until_quiet(self, timeout_s: float, settle_s: float = 3.0) -> float | None:
        """Seconds until no group lags and no outbox holds rows (for settle_s), None on timeout."""
        start = time.monotonic()
        quiet_since: float | None = None
        while time.monotonic() - start < timeout_s:
            self.fresh.clear()
            await self.fresh.wait()
            if self.quiet:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle_s:
                    return quiet_since - start
            else:
                quiet_since = None
        return None

    def busy(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in {**self.lag, **self.backlog}.items() if v) or "nothing"


def _group_topic(group: str) -> str | None:
    """The topic a group consumes: `<service>.<topic>` for the services, the simulator's own."""
    if group.startswith("bpjs-simulator"):
        # `bpjs-simulator` reads the enrollment requests; `bpjs-simulator.<topic>` another topic
        # (the paid contributions), in a group of its own.
        _, _, topic = group.partition(".")
        return topic or contracts.ENROLLMENT_REQUESTED.topic
    service, _, topic = group.partition(".")
    return topic if service in SERVICES and topic else None


# --- the faults -------------------------------------------------------------------------------


class Database:
    """The PostgreSQL faults: on a server of our own for real, on a shared one per database."""

    def __init__(self, mode: PgMode, admin_url: str, database_urls: dict[str, str]) -> None:
        self.mode = mode
        self.database_urls = database_urls
        self.database = urlsplit(database_urls["registry"]).path.lstrip("/")
        parts = urlsplit(admin_url)
        self.server_url = urlunsplit(parts._replace(path="/postgres"))
        self.admin_url = urlunsplit(parts._replace(path="/" + self.database))

    async def _execute(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.server_url, timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    def _cut_sessions(self) -> str:
        return (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{self.database}' AND pid <> pg_backend_pid()"
        )

    @contextlib.asynccontextmanager
    async def restart(self) -> AsyncIterator[str]:
        if self.mode == "server":
            await asyncio.to_thread(_server_script, "postgres", "down")
            try:
                await asyncio.sleep(2)
                yield "server stopped and started (pg_ctl)"
            finally:
                await asyncio.to_thread(_server_script, "postgres", "up")
        else:
            db = f'"{self.database}"'
            await self._execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false", self._cut_sessions())
            try:
                await asyncio.sleep(5)
                yield "every session of the database cut, no connections for 5 s"
            finally:
                await self._execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")

    @contextlib.asynccontextmanager
    async def read_only(self, seconds: float) -> AsyncIterator[str]:
        if self.mode == "server":
            on = ["ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()"]
            off = ["ALTER SYSTEM RESET default_transaction_read_only", "SELECT pg_reload_conf()"]
            how = "ALTER SYSTEM default_transaction_read_only"
        else:
            db = f'"{self.database}"'
            on = [f"ALTER DATABASE {db} SET default_transaction_read_only = on", self._cut_sessions()]
            off = [f"ALTER DATABASE {db} RESET default_transaction_read_only", self._cut_sessions()]
            how = "ALTER DATABASE default_transaction_read_only + sessions cut (a switchover)"
        await self._execute(*on)
        try:
            await asyncio.sleep(seconds)
            yield f"{how} for {seconds:.0f} s"
        finally:
            await self._execute(*off)

    @contextlib.asynccontextmanager
    async def credentials(self, seconds: float) -> AsyncIterator[str]:
        roles = list(SERVICES)
        if self.mode == "server":
            rotated = [f"ALTER ROLE {r} PASSWORD 'rotated-{random.getrandbits(32):x}'" for r in roles]
            # The password as the role has it: percent-decoded from the DSN, quoted as an SQL literal.
            back = [
                f"ALTER ROLE {r} PASSWORD "
                + "'"
                + unquote(urlsplit(self.database_urls[r]).password or r).replace("'", "''")
                + "'"
                for r in roles
            ]
            cut = (
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE usename IN ({', '.join(repr(r) for r in roles)})"
            )
            await self._execute(*rotated, cut)
            how = "passwords rotated (ALTER ROLE), sessions cut"
        else:
            db = f'"{self.database}"'
            back = [f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {r}" for r in roles]
            await self._execute(
                f"REVOKE CONNECT ON DATABASE {db} FROM {', '.join(roles)}", self._cut_sessions()
            )
            how = "CONNECT revoked (per database), sessions cut"
        try:
            await asyncio.sleep(seconds)
            yield f"{how} for {seconds:.0f} s"
        finally:
            await self._execute(*back)


def _server_script(name: str, action: str, extra: dict[str, str] | None = None) -> None:
    subprocess.run(
        ["bash", str(ROOT / "deploy" / "local" / f"{name}.sh"), *action.split()],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **(extra or {})},
    )


async def broker_count(kafka: KafkaConnection) -> int:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        described = await admin.describe_cluster()
        return len(described.get("brokers", []))
    finally:
        await admin.close()


async def partition_leader(kafka: KafkaConnection, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        partitions = sorted(described[0].get("partitions") or [], key=lambda p: p["partition"])
        return int(partitions[0]["leader"]) if partitions else None
    except Exception:
        return None
    finally:
        await admin.close()


def _readyz(process: Process) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/readyz", timeout=3) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            return dict(json.loads(exc.read()))
    except Exception:
        pass
    return {}


# --- the campaign -----------------------------------------------------------------------------


class Campaign:
    def __init__(
        self,
        settings: Settings,
        database_urls: dict[str, str],
        admin_url: str,
        prefix: str,
        kafka: KafkaConnection,
    ) -> None:
        self.s = settings
        self.kafka = kafka
        self.rng = random.Random(settings.seed)
        self.database_urls = database_urls
        self.prefix = prefix
        self.db = Database(settings.pg_mode, admin_url, database_urls)
        self.run = f"{settings.seed % 10**6}-{int(time.time()) % 10**6}"
        self.log_dir = ROOT / ".cache" / "logs" / f"chaos-{self.run}"
        self.gateway_record = self.log_dir / "gateway.jsonl"
        self.have_gateway = importlib.util.find_spec("simulators.gateway") is not None
        self.stack = Stack(env=self._env(), log_dir=self.log_dir)
        self.monitor = Monitor(kafka, prefix, self.db.admin_url, settings.wedge_after_s, settings.log)
        self.published: list[Published] = []
        self.figures: dict[str, FaultFigures] = {}
        self.restarts = 0
        self.started = time.monotonic()

    def _env(self) -> dict[str, str]:
        env = {
            "TOPIC_PREFIX": self.prefix,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "CONSUMER_BATCH_SIZE": str(self.s.batch_size),
            "SIMULATOR_REJECT_PERCENT": str(self.s.reject_percent),
            "GATEWAY_SIMULATOR_RECORD": str(self.gateway_record),
            # A campaign of minutes cannot wait out an hour of backoff after the gateway was away.
            "NOTIFICATIONS_RETRY_BASE_DELAY_S": "2",
            "NOTIFICATIONS_RETRY_MAX_DELAY_S": "10",
            # A killed sender's claims come back when their lease ends (60 s by default, which is
            # as long as the suite's wedge bound): shorter here, still longer than a send (10 s).
            "NOTIFICATIONS_DELIVERY_LEASE_S": "15",
            **{f"{s.upper()}_DATABASE_URL": url for s, url in self.database_urls.items()},
        }
        return env

    def left_s(self) -> float:
        return self.s.budget_s - (time.monotonic() - self.started)

    def log(self, text: str) -> None:
        self.s.log(f"chaos [{time.monotonic() - self.started:5.0f} s] {text}")

    def live(self, name: str) -> list[Process]:
        return [p for p in self.stack.processes if p.name == name]

    def restart(
        self, victim: Process, *, new_id: bool = True, extra_env: dict[str, str] | None = None
    ) -> Process:
        self.restarts += 1
        instance_id = f"{victim.name}-{victim.instance}-r{self.restarts}" if new_id else victim.instance_id
        port = victim.port if victim.name == "gateway" else 0
        return self.stack.start(
            victim.name, victim.instance, instance_id=instance_id, extra_env=extra_env, port=port
        )

    def leaders(self) -> list[Process]:
        """The outbox relay leaders, as each service's /readyz says."""
        return [
            p for p in self.stack.processes if p.name in SERVICES and _readyz(p).get("outbox_relay_leader")
        ]

    async def publish(self, cases: list[Case]) -> None:
        self.published += await publish_cases(self.kafka, self.prefix, cases)

    # --- the run ------------------------------------------------------------------------------

    async def execute(self) -> CampaignResult:
        s = self.s
        fuzz = generate(
            s.seed, registrations=s.registrations, commitments=s.commitments, answers=s.answers, big=s.big
        )
        self.log(fuzz.summary())
        faults = [f for f in FAULT_CLASSES if f in s.faults]
        waves = _split(fuzz.cases, len(faults) + 2)
        # The brokers create nothing by themselves; the fuzz's partners get their intakes and ACLs.
        partners = sorted({c.partner for c in fuzz.cases if c.partner})
        await provision_topics(self.kafka, self.prefix, partners=partners)
        monitor: asyncio.Task[None] | None = None
        try:  # whatever fails, the processes started here are stopped
            await self.start_processes()
            monitor = asyncio.create_task(self.monitor.run())
            await self.publish(self.campaign_commitments(fuzz))
            await self.publish(waves[0])
            await self.settle("baseline")
            for fault, wave in zip(faults, waves[1:], strict=False):
                if self.left_s() < 60:
                    self.figure(fault).skipped = "the campaign's time budget is spent"
                    # Its wave still goes out, in its turn: a later wave's repeats must not arrive
                    # before the messages they repeat (the checker would rightly call them wrong).
                    await self.publish(wave)
                    continue
                await self.inject(fault, wave)
            await self.publish(waves[-1])
            await self.settle("final", timeout_s=max(60.0, self.left_s()))
            async with TopicTail(self.kafka, self.prefix) as tail:
                verdict = await self.account(tail)
        finally:
            if monitor is not None:
                monitor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await monitor
            self.stack.stop_all()
        return self.result(fuzz, faults, verdict)

    async def start_processes(self) -> None:
        """The gateway stand-in (if any), then every service and the BPJS simulator, ready."""
        s = self.s
        if self.have_gateway:
            gateway = self.stack.start("gateway", port=free_port())
            self.stack.env["NOTIFICATIONS_GATEWAY_URL"] = f"http://127.0.0.1:{gateway.port}"
        self.stack.start_all(instances=s.instances)
        await asyncio.to_thread(self.stack.wait_ready, 120)
        self.log(
            f"{len(self.stack.processes)} processes up ({s.instances} x registry, sponsorship, notifications,"
            f" bpjs-simulator{', gateway' if self.have_gateway else '; no gateway stand-in: messages not checked'})"
        )

    def result(self, fuzz: FuzzRun, faults: list[str], verdict: Verdict) -> CampaignResult:
        return CampaignResult(
            self.s.seed,
            verdict,
            [self.figure(f) for f in faults],
            self.monitor.wedged
            + [f"outbox:{k}: {n} rows parked" for k, n in self.monitor.parked.items() if n],
            self.monitor.longest_stall,
            fuzz,
            self.published,
            time.monotonic() - self.started,
        )

    async def account(self, tail: TopicTail) -> Verdict:
        """The checker's verdict once it stops changing (the last sends may still be on their way)."""
        verdict: Verdict | None = None
        for _ in range(6):
            await tail.refresh()
            gateway = read_gateway_record(self.gateway_record) if self.have_gateway else None
            verdict = check(tail, self.published, seed=self.s.seed, gateway=gateway)
            if verdict.ok:
                break
            await asyncio.sleep(3)
        assert verdict is not None
        return verdict

    def figure(self, name: str) -> FaultFigures:
        return self.figures.setdefault(name, FaultFigures(name))

    async def settle(self, what: str, timeout_s: float | None = None) -> float | None:
        took = await self.monitor.until_quiet(
            timeout_s or min(self.s.recover_timeout_s, max(30.0, self.left_s()))
        )
        if took is None:
            self.log(f"{what}: NOT quiet; still busy: {self.monitor.busy()}")
        else:
            self.log(f"{what}: quiet after {took:.1f} s")
        return took

    async def inject(self, fault: str, wave: list[Case]) -> None:
        fig = self.figure(fault)
        run: Callable[[FaultFigures], Awaitable[None]] = getattr(self, "fault_" + fault.replace("-", "_"))
        done = asyncio.Event()

        async def trickle() -> None:
            """The wave in chunks, every 2 s while the fault lasts: messages arrive during it."""
            for chunk in _split(wave, 12):
                await self.publish(chunk)
                if not done.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), 2.0)

        publishing = asyncio.create_task(trickle())
        started = time.monotonic()
        try:
            await run(fig)
        finally:
            healed = time.monotonic()
            done.set()
            await publishing
        if fig.skipped:
            self.log(fig.line())
            return
        waited = time.monotonic() - healed
        took = await self.settle(fault)
        if took is None:
            fig.unrecovered += 1
        else:
            fig.recover_s.append(waited + took)  # from the moment the fault was healed
        self.log(f"{fig.line()} [{healed - started:.0f} s under fault]")

    # --- the fault classes ---------------------------------------------------------------------

    async def fault_sigkill(self, fig: FaultFigures) -> None:
        """SIGKILL one process of every kind, relay leaders first; each restarts under a new id."""
        leaders = self.leaders()
        kinds = [*SERVICES, "bpjs-simulator", *(["gateway"] if self.have_gateway else [])]
        self.rng.shuffle(kinds)
        for kind in kinds:
            candidates = [p for p in leaders if p.name == kind] or self.live(kind)
            if not candidates:
                continue
            victim = self.rng.choice(candidates)
            await asyncio.sleep(self.rng.uniform(1.0, 4.0))
            self.stack.kill(victim)
            fig.injected += 1
            fig.detail.append(f"{victim.instance_id}{' (relay leader)' if victim in leaders else ''}")
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))
            self.restart(victim)

    async def fault_sigstop(self, fig: FaultFigures) -> None:
        """Freeze the relay leaders, a consumer instance, a simulator and the gateway at once
        (never every instance of a service: its twin must take over)."""
        victims: list[Process] = []
        for p in self.leaders():
            if not any(v.name == p.name for v in victims):
                victims.append(p)
        for kind in ("registry", "bpjs-simulator", "gateway"):
            spare = [p for p in self.live(kind) if p not in victims]
            frozen = len(self.live(kind)) - len(spare)
            if spare and (kind == "gateway" or len(self.live(kind)) - frozen > 1):
                victims.append(self.rng.choice(spare))
        if not victims:
            fig.skipped = "no process to freeze"
            return
        seconds = self.rng.uniform(*self.s.stop_s)
        await asyncio.sleep(self.rng.uniform(1.0, 3.0))
        # Nobody can deliver while the only gateway is frozen: the sender owes no progress then.
        held = ("sender:notifications",) if any(v.name == "gateway" for v in victims) else ("none",)
        with self.monitor.hold(*held):
            for v in victims:
                self.stack.pause(v)
                fig.injected += 1
            fig.detail.append(f"{seconds:.0f} s: " + ", ".join(v.instance_id for v in victims))
            await asyncio.sleep(seconds)
            for v in victims:
                self.stack.resume(v)

    async def fault_new_id(self, fig: FaultFigures) -> None:
        """SIGTERM an instance of each service and start it again as another group member."""
        for kind in SERVICES:
            victim = self.rng.choice(self.live(kind))
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))
            self.stack.stop(victim)
            started = self.restart(victim)
            fig.injected += 1
            fig.detail.append(f"{victim.instance_id} -> {started.instance_id}")

    async def fault_scale(self, fig: FaultFigures) -> None:
        """Out to 3 instances of every service, then in to 1, then back to the usual count."""
        for kind in SERVICES:
            self.stack.start(kind, 3, instance_id=f"{kind}-3-s{self.run}")
            fig.injected += 1
        await asyncio.sleep(self.rng.uniform(8.0, 15.0))
        for kind in SERVICES:
            for p in self.live(kind)[1:]:
                self.stack.stop(p)
                fig.injected += 1
        fig.detail.append("3 -> 1")
        await asyncio.sleep(self.rng.uniform(8.0, 15.0))
        for kind in SERVICES:
            for i in range(2, self.s.instances + 1):
                self.restarts += 1
                self.stack.start(kind, i, instance_id=f"{kind}-{i}-r{self.restarts}")
        fig.detail.append(f"1 -> {self.s.instances}")

    async def fault_clock_step(self, fig: FaultFigures) -> None:
        """One registry instance an hour (either way) off the others, from now on."""
        skew = self.rng.choice([-3600, 3600, -5400])
        victim = self.rng.choice(self.live("registry"))
        self.stack.stop(victim)
        self.restart(victim, extra_env={"MUBA_CLOCK_SKEW_S": str(skew)})
        fig.injected += 1
        fig.detail.append(f"{victim.instance_id} clock {skew:+d} s")

    async def fault_late_commitment(self, fig: FaultFigures) -> None:
        """A company commits late: the waiting list must drain into it."""
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        body = _commitment(f"late-{self.run}", "late", ["*"], max(5, self.s.registrations // 15), 6)
        await self.publish([_campaign_case(900_000, body)])
        fig.injected += 1
        fig.detail.append(f"{body['slots']} slots, whole regency")

    async def fault_pg_restart(self, fig: FaultFigures) -> None:
        if self.s.pg_mode == "off":
            fig.skipped = "database faults are off (--pg-faults off)"
            return
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        with self.monitor.hold():
            async with self.db.restart() as how:
                fig.injected += 1
                fig.detail.append(how)

    async def fault_pg_read_only(self, fig: FaultFigures) -> None:
        if self.s.pg_mode == "off":
            fig.skipped = "database faults are off (--pg-faults off)"
            return
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        with self.monitor.hold():
            async with self.db.read_only(self.s.read_only_s) as how:
                fig.injected += 1
                fig.detail.append(how)

    async def fault_pg_credentials(self, fig: FaultFigures) -> None:
        if self.s.pg_mode == "off":
            fig.skipped = "database faults are off (--pg-faults off)"
            return
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        with self.monitor.hold():
            async with self.db.credentials(self.s.credentials_s) as how:
                fig.injected += 1
                fig.detail.append(how)

    async def fault_broker(self, fig: FaultFigures) -> None:
        if self.s.broker_mode == "off":
            fig.skipped = "broker faults are off (--broker-faults off: the broker is shared)"
            return
        brokers = await broker_count(self.kafka)
        if brokers >= 3:
            await self._kill_broker_node(fig, brokers)
        elif self.s.pg_mode == "server":
            await asyncio.sleep(self.rng.uniform(2.0, 5.0))
            with self.monitor.hold():
                await asyncio.to_thread(_server_script, "kafka", "down")
                fig.injected += 1
                await asyncio.sleep(3)
                await asyncio.to_thread(_server_script, "kafka", "up")
            fig.detail.append("only one broker: it was restarted (no replica can take over)")
        else:
            fig.skipped = f"{brokers} broker(s) and they are shared: no node to kill"

    async def _kill_broker_node(self, fig: FaultFigures, brokers: int) -> None:
        """SIGKILL the node that leads the registration topic's first partition (deploy/local/kafka.sh
        kill-node N), leave it down a while, start it again."""
        intake = next((p.topic for p in self.published if topics.partner_in(p.topic)), "")
        node = await partition_leader(self.kafka, intake) or self.rng.randrange(1, brokers + 1)
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        try:
            await asyncio.to_thread(_server_script, "kafka", f"kill-node {node}")
        except subprocess.CalledProcessError as exc:
            fig.skipped = f"deploy/local/kafka.sh cannot kill one node ({exc})"
            return
        fig.injected += 1
        await asyncio.sleep(self.rng.uniform(10.0, 20.0))
        await asyncio.to_thread(_server_script, "kafka", f"start-node {node}")
        fig.detail.append(f"node {node} of {brokers} (the partition leader) SIGKILLed, restarted")

    # --- the load -----------------------------------------------------------------------------

    def campaign_commitments(self, fuzz: FuzzRun) -> list[Case]:
        """Slots for about 70% of the valid workers, some kecamatan better served than others."""
        valid = sum(1 for c in fuzz.cases if c.worker)
        share = max(2, int(valid * 0.7) // 4)
        names = [("medco", ["04", "13"]), ("phe", ["09", "12"]), ("hindoli", ["07", "08"]), ("bsb", ["*"])]
        return [
            _campaign_case(800_000 + i, _commitment(f"{name}-{self.run}", name, kec, share, 12))
            for i, (name, kec) in enumerate(names)
        ]


def _commitment(cid: str, company: str, kecamatan: list[str], slots: int, months: int) -> dict[str, Any]:
    return {
        "commitment_id": cid,
        "company_id": company,
        "company_name": f"PT {company.title()}",
        "kecamatan": kecamatan,
        "slots": slots,
        "months": months,
        "package": "JKK_JKM",
        "email": f"csr@{company}.example",
    }


def _campaign_case(n: int, body: dict[str, Any]) -> Case:
    return Case(
        n=n,
        kind="campaign_commitment",
        topic=contracts.COMMITMENT_SUBMITTED.topic,
        key=body["commitment_id"].encode(),
        headers=(),
        body=json.dumps(body).encode(),
        owed=Owed.of(ACCEPTED),
        identity=("commitment", body["commitment_id"]),
        note="the campaign's own commitment",
    )


def _split(cases: list[Case], parts: int) -> list[list[Case]]:
    size = -(-len(cases) // parts)
    return [cases[i * size : (i + 1) * size] for i in range(parts)]


async def run_campaign(
    settings: Settings,
    *,
    database_urls: dict[str, str],
    admin_url: str,
    prefix: str,
    kafka: KafkaConnection | None = None,
) -> CampaignResult:
    """The campaign itself (`make chaos` and the suite's smaller run share it); Kafka as `admin`
    at the servers of the environment unless given."""
    kafka = kafka or Servers().kafka()
    return await Campaign(settings, database_urls, admin_url, prefix, kafka).execute()


async def _reset_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(urlunsplit(urlsplit(admin_url)._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
    await asyncio.to_thread(_server_script, "postgres", "up", {"MUBA_DB_NAME": database})


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make chaos", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--registrations", "--workers", type=int, default=3000, dest="registrations")
    parser.add_argument("--seed", type=int, default=None, help="the fuzzer's and the faults' seed")
    parser.add_argument("--faults", default=",".join(FAULT_CLASSES), help="fault classes, comma-separated")
    parser.add_argument("--pg-faults", choices=["server", "database", "off"], default="server")
    parser.add_argument("--broker-faults", choices=["auto", "off"], default="auto")
    parser.add_argument("--stop-s", type=float, nargs=2, default=(45.0, 75.0), metavar=("MIN", "MAX"))
    parser.add_argument("--wedge-after-s", type=float, default=60.0)
    parser.add_argument("--database", default="muba_chaos", help="recreated for the run")
    parser.add_argument("--keep-database", action="store_true", help="use the database as it is")
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    print(f"chaos: seed={seed} (rerun with --seed {seed})", flush=True)
    servers = Servers()
    admin = servers.admin_database_url
    parts = urlsplit(admin)
    urls = {
        s: urlunsplit(urlsplit(url)._replace(path="/" + args.database))
        for s, url in servers.database_urls().items()
    }
    if not args.keep_database:
        asyncio.run(_reset_database(admin, args.database))
    settings = Settings(
        seed=seed,
        registrations=args.registrations,
        faults=tuple(f for f in args.faults.split(",") if f),
        pg_mode=args.pg_faults,
        broker_mode=args.broker_faults,
        stop_s=(args.stop_s[0], args.stop_s[1]),
        wedge_after_s=args.wedge_after_s,
        log=lambda line: print(line, flush=True),
    )
    result = asyncio.run(
        run_campaign(
            settings,
            database_urls=urls,
            admin_url=urlunsplit(parts._replace(path="/" + args.database)),
            prefix=f"chaos{int(time.time())}.",
            kafka=servers.kafka(),
        )
    )
    print(result.report(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
