"""`make bench`: throughput and latency of the whole pipeline on the real Kafka and PostgreSQL,
set against what aiokafka and asyncpg alone achieve on the same machine in the same run.

    python -m deploy.bench [--workers N] [--rate R] [--steady-seconds S] [--timeout T] [--strict]

In order:
1. applies the migrations and empties the three service schemas (each as its own role), takes a
   fresh TOPIC_PREFIX and creates the run's topics;
2. starts the services and the BPJS simulator (zero delay) as processes (deploy/stack.py) and
   samples each process's RSS and CPU time every 0.5 s (psutil);
3. one whole-regency commitment with a slot for every worker (income floor, so every worker
   costs the same), then a warm-up of a few workers so every consumer group holds its partitions;
4. full speed: N registrations published as fast as one partner producer can, until every
   worker's enrollment_confirmed notification (audience worker) is on notification-sent;
5. steady: R registrations per second for S seconds, likewise;
6. stops the stack, reads the run's topics back and follows each worker through them
   (submission_id -> worker_id from the registry's worker-registered event): end-to-end and
   per-stage latencies from the Kafka record timestamps;
7. the raw limit: N x messages-per-worker messages produced (acks=all, idempotent) and consumed
   (consumer group) with aiokafka alone, in two processes, and N x transactions-per-worker
   one-INSERT transactions with asyncpg alone (pool of 8, 8 at a time, scratch schema);
8. writes bench/results/<UTC time>-<commit>.json and .png beside it and prints a table.

Exit status: 0 when the run completed (goals met or not; --strict: 2 when a goal is missed),
1 when it could not complete (the reason is printed).
"""

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import queue
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.stack import ROOT, Stack
from shared import contracts, topics
from shared.db import migrate
from shared.kafka_admin import ensure_topic, provision_topics
from shared.kafka_security import KafkaConnection
from shared.outbox import kafka_producer
from shared.testing import SERVICES, Infra, empty_schema, sample_registration

# --- goals (the issue's) ----------------------------------------------------------------------

GOAL_WORKERS_PER_S = 500.0  # 10,000 workers in <= 20 s
GOAL_P99_MS = 300.0  # end to end, at the steady offered load
GOAL_SHARE = 0.30  # of the raw limit
GOAL_RSS_MB = 120.0  # peak, each process of the stack

SAMPLE_INTERVAL_S = 0.5
RAW_PG_CONCURRENCY = 8
RAW_CONSUMER_BATCH = 500
TEMPLATE = "enrollment_confirmed"
# NIK serials the simulator treats as "not in Dukcapil" / "already a member", and the invalid one.
RESERVED_SERIALS = frozenset({"0000", "9998", "9999"})

SHARE_DEFINITION = (
    "share = pipeline workers/s (full speed) / raw limit; raw limit = min(raw Kafka msgs/s / "
    "messages-per-worker, raw PostgreSQL commits/s / transactions-per-worker). messages-per-worker = "
    "records the pipeline wrote to Kafka per worker (all topics of the run, full-speed phase); "
    "transactions-per-worker = consumed events per worker that a service handled in a database "
    "transaction (the services' /stats 'processed'), i.e. the commits an unbatched pipeline would need. "
    "Raw Kafka = that many records produced (acks=all, idempotent) and consumed (consumer group, commit "
    "per batch) by aiokafka in two processes, first send to last receive; raw PostgreSQL = that many "
    "one-INSERT transactions with asyncpg, pool of 8, 8 at a time."
)

# The stages of one worker's way through, between consecutive events (names of Trace fields).
STAGES = (
    ("registry", "submitted", "registered"),
    ("sponsorship: match", "registered", "requested"),
    ("BPJS round trip", "requested", "confirmed"),
    ("sponsorship: confirm", "confirmed", "completed"),
    ("notifications", "completed", "notified"),
)


class BenchFailure(Exception):
    """The run could not complete; the message says why."""


# --- registrations ------------------------------------------------------------------------------


class Registrations:
    """Valid registrations for one run: shared.testing.sample_registration at the income floor,
    with the NIK made unique within the run and never one of the serials the simulator rejects
    (sample_registration gives serial 9998, "already a member", about once in 10,000)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.next_index = 0
        self.niks: set[str] = set()
        self.reassigned = 0

    def take(self, count: int, phase: str) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            i = self.next_index
            self.next_index += 1
            registration = dict(
                sample_registration(i, source=f"bench-{phase}", run=self.seed), declared_income_idr=None
            )
            registration["nik"] = self._unique(str(registration["nik"]))
            out.append(registration)
        return out

    def _unique(self, nik: str) -> str:
        original, serial = nik, int(nik[12:])
        while nik in self.niks or nik[12:] in RESERVED_SERIALS:
            serial = serial % 9997 + 1  # 0001 .. 9997
            nik = nik[:12] + f"{serial:04d}"
            if nik == original:
                raise BenchFailure("ran out of NIK serials: too many workers for one run")
        self.reassigned += nik != original
        self.niks.add(nik)
        return nik


def commitment(run: str, slots: int) -> dict[str, Any]:
    return {
        "commitment_id": f"bench-{run}",
        "company_id": "bench-sponsor",
        "company_name": "PT Sponsor Uji Beban",
        "kecamatan": ["*"],
        "slots": slots,
        "months": 12,
        "package": "JKK_JKM",
        "email": "csr@sponsor-uji.example",
    }


# --- process sampling ---------------------------------------------------------------------------


@dataclass
class Sample:
    t: float  # time.time()
    cpu_s: dict[str, float]  # cumulative CPU seconds (user + system)
    rss_mb: dict[str, float]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class Sampler:
    """Every 0.5 s: RSS and CPU time of each stack process, the Kafka broker, all PostgreSQL
    processes (summed), this process, and the whole machine's busy CPU time."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.peak_rss_mb: dict[str, float] = {}
        self._watched: dict[str, psutil.Process] = {"bench": psutil.Process()}
        self._postgres_cpu: dict[int, float] = {}
        self._kafka = self._find_kafka()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _find_kafka() -> psutil.Process | None:
        for process in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if "kafka.Kafka" in (process.info.get("cmdline") or []):
                    return process
        return None

    def watch(self, label: str, pid: int) -> None:
        with self._lock:
            self._watched[label] = psutil.Process(pid)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> Sample:
        with self._lock:
            cpu: dict[str, float] = {}
            rss: dict[str, float] = {}
            for label, process in self._watched.items():
                with contextlib.suppress(psutil.Error):
                    with process.oneshot():
                        cpu[label] = _cpu_seconds(process)
                        rss[label] = process.memory_info().rss / 2**20
                    if label != "bench":
                        self.peak_rss_mb[label] = max(self.peak_rss_mb.get(label, 0.0), rss[label])
            if self._kafka is None or not self._kafka.is_running():
                self._kafka = self._find_kafka()  # restarted (another run's chaos test, say)
            if self._kafka is not None:
                with contextlib.suppress(psutil.Error):
                    cpu["kafka"] = _cpu_seconds(self._kafka)
                    rss["kafka"] = self._kafka.memory_info().rss / 2**20
            for process in psutil.process_iter(["name"]):
                if process.info.get("name") == "postgres":
                    with contextlib.suppress(psutil.Error):
                        self._postgres_cpu[process.pid] = _cpu_seconds(process)
            # Backends that ended keep their last known time, so the sum never goes backwards.
            cpu["postgres"] = sum(self._postgres_cpu.values())
            machine = psutil.cpu_times()
            cpu["machine"] = (
                float(sum(machine)) - float(machine.idle) - float(getattr(machine, "iowait", 0.0))
            )
            found = Sample(time.time(), cpu, rss)
            self.samples.append(found)
            return found


# --- Kafka helpers --------------------------------------------------------------------------


class TopicProbe:
    """How many records each topic of the run holds (end offsets; the topics are fresh)."""

    def __init__(self, kafka: KafkaConnection, prefix: str) -> None:
        self.prefix = prefix
        self.admin = AIOKafkaAdminClient(**kafka.options())
        self.consumer = AIOKafkaConsumer(**kafka.options(), group_id=None, enable_auto_commit=False)

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def counts(self) -> dict[str, int]:
        partitions = await topic_partitions(self.admin, self.prefix)
        ends = await self.consumer.end_offsets(partitions) if partitions else {}
        counts: Counter[str] = Counter()
        for tp, end in ends.items():
            counts[tp.topic.removeprefix(self.prefix)] += int(end)
        return dict(sorted(counts.items()))

    async def settle(self, quiet_s: float = 1.0, timeout_s: float = 15.0) -> dict[str, int]:
        """Wait until no topic of the run has grown for `quiet_s` (late company notifications)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        before = await self.counts()
        while loop.time() < deadline:
            await asyncio.sleep(quiet_s)
            now = await self.counts()
            if now == before:
                return now
            before = now
        return before


class Completions:
    """Follows notification-sent live: the workers told their enrollment is confirmed, and any
    other message to a worker (a rejection, a waitlisting: the run went wrong)."""

    def __init__(self, kafka: KafkaConnection, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.consumer = AIOKafkaConsumer(**kafka.options(), group_id=None, enable_auto_commit=False)
        self.confirmed: set[str] = set()
        self.duplicates = 0
        self.other: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        partitions = await ensure_topic(self.kafka, self.topic)
        await self.consumer.start()
        tps = [TopicPartition(self.topic, p) for p in range(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._follow(), name="bench-completions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _follow(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=2000)
            for records in batches.values():
                for record in records:
                    payload = json.loads(record.value)
                    if payload.get("audience") != "worker":
                        continue
                    if payload.get("template") == TEMPLATE:
                        worker = str(payload.get("worker_id"))
                        self.duplicates += worker in self.confirmed
                        self.confirmed.add(worker)
                    else:
                        self.other[str(payload.get("template"))] += 1

    async def wait_for(self, expected: int, timeout_s: float, what: str, probe: TopicProbe) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.confirmed) < expected:
            if self._task is not None and self._task.done():
                raise BenchFailure(f"{what}: following {self.topic} failed: {self._task.exception()!r}")
            if self.other:
                raise BenchFailure(
                    f"{what}: workers were told something else than {TEMPLATE}: {dict(self.other)}"
                    f" (records per topic: {await probe.counts()})"
                )
            if loop.time() > deadline:
                raise BenchFailure(
                    f"{what}: the pipeline did not finish within {timeout_s:.0f} s: "
                    f"{len(self.confirmed)} of {expected} workers notified; records per topic: "
                    f"{await probe.counts()}"
                )
            await asyncio.sleep(0.05)


async def publish(
    kafka: KafkaConnection, topic: str, bodies: Sequence[bytes], rate: float | None = None
) -> tuple[float, float]:
    """Publish plain JSON bodies without a key, as partner systems do: as fast as one idempotent
    acks=all producer can, or `rate` per second evenly spaced. Returns (first send, all acked)."""
    producer = kafka_producer(kafka, client_id="muba-bench-partner")
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        first = time.time()
        futures = []
        for i, body in enumerate(bodies):
            if rate:
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(topic, value=body))
        await asyncio.gather(*futures)
        return first, time.time()
    finally:
        await producer.stop()


async def topic_partitions(
    admin: AIOKafkaAdminClient, prefix: str, names: Sequence[str] = ()
) -> list[TopicPartition]:
    """The partitions of the topics named `names`, or else of every topic whose name starts with `prefix`."""
    wanted = list(names) or [t for t in await admin.list_topics() if t.startswith(prefix)]
    if not wanted:
        return []
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in await admin.describe_topics(wanted)
        if t.get("error_code", 0) == 0
        for p in t.get("partitions") or ()
    ]


@dataclass
class Record:
    timestamp_ms: int
    key: str | None
    value: bytes
    headers: list[tuple[str, bytes]]


async def read_back(
    kafka: KafkaConnection, names: Sequence[str], timeout_s: float = 90.0
) -> dict[str, list[Record]]:
    """Every record of `names` from the beginning (no consumer group)."""
    consumer = AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 2**20,
        fetch_max_bytes=64 * 2**20,
    )
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        partitions = await topic_partitions(admin, "", names)
    finally:
        await admin.close()
    await consumer.start()
    try:
        found: dict[str, list[Record]] = {t: [] for t in names}
        if not partitions:
            return found
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise BenchFailure(f"reading the run's topics back took over {timeout_s:.0f} s")
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                found[tp.topic] += [
                    Record(
                        r.timestamp,
                        r.key.decode() if r.key is not None else None,
                        r.value or b"",
                        list(r.headers or ()),
                    )
                    for r in records
                ]
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()


async def delete_topics(kafka: KafkaConnection, prefix: str) -> None:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


# --- the services' own figures ---------------------------------------------------------------


def fetch_stats(stack: Stack) -> dict[str, dict[str, Any]]:
    """GET /stats of every process of the stack (per-consumer counters, outbox, simulator)."""
    found: dict[str, dict[str, Any]] = {}
    for process in stack.processes:
        url = f"http://127.0.0.1:{process.port}/stats"
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=5) as response:
            found[process.name] = json.loads(response.read())
    return found


def consumer_profile(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], prefix: str, seconds: float
) -> dict[str, dict[str, float]]:
    """Per consumer over a phase: messages, batches, handler seconds, how busy its loop was."""
    profile: dict[str, dict[str, float]] = {}
    for service, stats in after.items():
        for consumer, counters in stats.items():
            if not isinstance(counters, dict) or "handler_seconds" not in counters:
                continue
            was = before.get(service, {}).get(consumer, {})
            processed = counters["processed"] - was.get("processed", 0)
            if not processed:
                continue
            batches = counters["batches"] - was.get("batches", 0)
            busy = counters["handler_seconds"] - was.get("handler_seconds", 0.0)
            name = consumer.removeprefix(prefix).split(":")[-1]
            profile[f"{service}: {name.removeprefix(service + '.')}"] = {
                "processed": processed,
                "batches": batches,
                "records_per_batch": round(processed / max(batches, 1), 1),
                "handler_s": round(busy, 3),
                "handler_ms_per_record": round(1000 * busy / processed, 3),
                "busy_share": round(busy / seconds, 3) if seconds > 0 else 0.0,
                "retries": counters.get("retries", 0) - was.get("retries", 0),
                "dead_lettered": counters.get("dead_lettered", 0) - was.get("dead_lettered", 0),
            }
    simulator = after.get("bpjs-simulator")
    if simulator:
        was = before.get("bpjs-simulator", {})
        received = simulator.get("received", 0) - was.get("received", 0)
        batches = simulator.get("batches", 0) - was.get("batches", 0)
        profile["bpjs-simulator: enrollment-requested"] = {
            "processed": received,
            "batches": batches,
            "records_per_batch": round(received / max(batches, 1), 1),
        }
    return profile


# --- the pipeline run -------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    workers: int
    first_send: float = 0.0
    all_acked: float = 0.0
    done: float = 0.0
    cpu_before: dict[str, float] = field(default_factory=dict)
    cpu_after: dict[str, float] = field(default_factory=dict)
    stats_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats_after: dict[str, dict[str, Any]] = field(default_factory=dict)
    records_before: dict[str, int] = field(default_factory=dict)
    records_after: dict[str, int] = field(default_factory=dict)
    pg_commits: int | None = None

    @property
    def wall_s(self) -> float:
        return self.done - self.first_send


@dataclass
class PipelineRun:
    full: Phase
    steady: Phase
    sampler: Sampler
    labels: dict[str, int]
    records: dict[str, list[Record]]
    isolation: "Isolation"


@dataclass
class Isolation:
    """Whether this run had the service schemas to itself. TOPIC_PREFIX separates topics, not the
    database: another stack or test run on the same schemas shares the outbox relays' advisory
    locks (its relay may publish this run's events), the kecamatan locks, and TRUNCATEs them."""

    others_before_truncate: dict[str, int] = field(default_factory=dict)
    others_during_run: dict[str, int] = field(default_factory=dict)
    relay_leader: dict[str, bool] = field(default_factory=dict)

    def note(self, found: dict[str, int]) -> None:
        for role, count in found.items():
            self.others_during_run[role] = max(self.others_during_run.get(role, 0), count)

    def warnings(self) -> list[str]:
        found = []
        if any(self.others_before_truncate.values()):
            found.append(
                f"other clients were connected to the service schemas when this run emptied them: "
                f"{self.others_before_truncate} (their data is gone)"
            )
        if any(self.others_during_run.values()):
            found.append(
                f"other clients used the service schemas during the run: {self.others_during_run}; "
                "they share the outbox relay and kecamatan locks, so the figures are not clean"
            )
        lost = sorted(name for name, leader in self.relay_leader.items() if not leader)
        if lost:
            found.append(
                f"another process holds the outbox relay lock of {', '.join(lost)}: it, not this run's "
                "stack, publishes this run's events"
            )
        return found


async def other_backends(admin_url: str, pids: Sequence[int]) -> dict[str, int]:
    """Connections of the service roles that belong to none of `pids` (by the client's port).
    The server's list first: a pool connection opened after it is not in it, and one in it is
    still open when the processes' sockets are listed just after."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            "SELECT usename, client_port FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND usename = ANY($1::text[])",
            list(SERVICES),
        )
    finally:
        await conn.close()
    ours: set[int] = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            ours.update(c.laddr.port for c in psutil.Process(pid).net_connections(kind="inet") if c.raddr)
    found = Counter(str(r["usename"]) for r in rows if r["client_port"] not in ours)
    return {service: found.get(service, 0) for service in SERVICES}


def relay_leadership(stack: Stack, timeout_s: float = 10.0) -> dict[str, bool]:
    """Whether each service's own outbox relay holds its schema's advisory lock (/readyz)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, bool] = {}
    for process in stack.processes:
        if process.name not in SERVICES:
            continue
        url = f"http://127.0.0.1:{process.port}/readyz"
        while True:
            leader = False
            with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=5) as response:
                leader = bool(json.loads(response.read()).get("outbox_relay_leader"))
            if leader or time.monotonic() > deadline:
                found[process.name] = leader
                break
            time.sleep(0.2)
    return found


async def prepare_databases(infra: Infra) -> None:
    """Migrate, then empty every table of each service's schema."""
    for service in SERVICES:
        await migrate(infra.database_urls[service], ROOT / "services" / service / "migrations")
        await empty_schema(infra.database_urls[service])


async def database_commits(admin_url: str) -> int | None:
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(admin_url)
        try:
            value = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
            return int(value)
        finally:
            await conn.close()
    return None


async def run_pipeline(
    args: argparse.Namespace, infra: Infra, run: str, prefix: str, log_dir: Path
) -> PipelineRun:
    kafka = infra.kafka
    regs = Registrations(int(run[-4:], 16))
    warmup = regs.take(args.warmup, "warmup")
    full_regs = regs.take(args.workers, "full")
    steady_regs = regs.take(round(args.rate * args.steady_seconds), "steady")
    total = len(warmup) + len(full_regs) + len(steady_regs)
    print(f"  {total} registrations ready ({regs.reassigned} NIK serials moved off a reserved/used one)")

    isolation = Isolation(others_before_truncate=await other_backends(infra.admin_database_url, []))
    await prepare_databases(infra)
    # Every catalogue topic and each phase's partner intake, before anything waits for one.
    await provision_topics(kafka, prefix, partners=BENCH_PARTNERS)

    env = {
        "TOPIC_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SIMULATOR_DELAY_MS": "0",
        "SIMULATOR_REJECT_PERCENT": "0",
        **{f"{s.upper()}_DATABASE_URL": url for s, url in infra.database_urls.items()},
    }
    sampler = Sampler()
    sampler.start()
    probe = TopicProbe(kafka, prefix)
    completions = Completions(kafka, prefix + contracts.NOTIFICATION_SENT.topic)
    full = Phase("full", len(full_regs))
    steady = Phase("steady", len(steady_regs))
    try:
        with Stack(env=env, log_dir=log_dir) as stack:
            stack.start_all()
            for process in stack.processes:
                sampler.watch(process.name, process.popen.pid)
            started = time.monotonic()
            await asyncio.to_thread(stack.wait_ready, 90.0)
            print(f"  services and simulator ready in {time.monotonic() - started:.1f} s (logs: {log_dir})")
            isolation.relay_leader = await asyncio.to_thread(relay_leadership, stack)
            pids = [p.popen.pid for p in stack.processes]
            await probe.start()
            await completions.start()

            body = json.dumps(commitment(run, total + 10)).encode()
            await publish(kafka, prefix + contracts.COMMITMENT_SUBMITTED.topic, [body])
            await publish(kafka, prefix + topics.intake_topic("bench-warmup"), _bodies(warmup))
            await completions.wait_for(len(warmup), 60, "warm-up", probe)
            await probe.settle()
            print(f"  warm-up: {len(warmup)} workers through")

            async def phase(
                p: Phase, bodies: list[bytes], expected: int, timeout_s: float, rate: float | None
            ) -> None:
                p.stats_before = await asyncio.to_thread(fetch_stats, stack)
                p.records_before = await probe.counts()
                p.pg_commits = await database_commits(infra.admin_database_url)
                isolation.note(await other_backends(infra.admin_database_url, pids))
                p.cpu_before = sampler.sample().cpu_s
                p.first_send, p.all_acked = await publish(
                    kafka, prefix + topics.intake_topic(f"bench-{p.name}"), bodies, rate
                )
                await completions.wait_for(expected, timeout_s, f"{p.name} phase", probe)
                p.done = time.time()
                p.cpu_after = sampler.sample().cpu_s
                isolation.note(await other_backends(infra.admin_database_url, pids))
                commits = await database_commits(infra.admin_database_url)
                p.pg_commits = (
                    commits - p.pg_commits if commits is not None and p.pg_commits is not None else None
                )
                p.stats_after = await asyncio.to_thread(fetch_stats, stack)
                p.records_after = await probe.settle()

            expected = len(warmup) + len(full_regs)
            timeout = args.timeout or 30 + len(full_regs) / 80
            try:
                print(f"  full speed: {len(full_regs)} registrations (timeout {timeout:.0f} s) ...")
                await phase(full, _bodies(full_regs), expected, timeout, None)
                print(
                    f"    published in {full.all_acked - full.first_send:.2f} s,"
                    f" all notified after {full.wall_s:.1f} s"
                )
                expected += len(steady_regs)
                print(f"  steady: {args.rate:g} registrations/s for {args.steady_seconds:g} s ...")
                await phase(steady, _bodies(steady_regs), expected, args.steady_seconds + 60, args.rate)
                print(f"    all notified after {steady.wall_s:.1f} s")
            except BenchFailure as exc:
                isolation.note(await other_backends(infra.admin_database_url, pids))
                if any(isolation.others_during_run.values()):
                    raise BenchFailure(
                        f"{exc}\n  other clients used the service schemas during the run "
                        f"{isolation.others_during_run}: a test run or another stack on this database "
                        "probably emptied or shared them; run the benchmark on a quiet machine"
                    ) from None
                raise
            if completions.duplicates:
                print(f"  note: {completions.duplicates} workers were told twice", file=sys.stderr)
            labels = {p.name: p.popen.pid for p in stack.processes}
            crashed = {p.name: p.popen.poll() for p in stack.processes if p.popen.poll() is not None}
            if crashed:
                raise BenchFailure(f"processes of the stack exited during the run: {crashed}; see {log_dir}")
    finally:
        sampler.stop()
        with contextlib.suppress(Exception):
            await probe.stop()
        with contextlib.suppress(Exception):
            await completions.stop()
    for warning in isolation.warnings():
        print(f"  WARNING: {warning}", file=sys.stderr)
    print("  reading the run's topics back ...")
    names = [
        prefix + t
        for t in (
            *(topics.intake_topic(partner) for partner in BENCH_PARTNERS),
            contracts.WORKER_REGISTERED.topic,
            contracts.ENROLLMENT_REQUESTED.topic,
            contracts.ENROLLMENT_CONFIRMED.topic,
            contracts.ENROLLMENT_COMPLETED.topic,
            contracts.NOTIFICATION_SENT.topic,
        )
    ]
    records = await read_back(kafka, names)
    return PipelineRun(
        full, steady, sampler, labels, {k.removeprefix(prefix): v for k, v in records.items()}, isolation
    )


def _bodies(registrations: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(r).encode() for r in registrations]


# --- following each worker ------------------------------------------------------------------


@dataclass
class Trace:
    phase: str
    submitted: int | None = None
    registered: int | None = None
    requested: int | None = None
    confirmed: int | None = None
    completed: int | None = None
    notified: int | None = None
    sent_at: float | None = None  # ms: the notification row's created_at (its transaction's start)


def _first(trace: Trace, name: str, value: int, duplicates: Counter[str]) -> None:
    old = getattr(trace, name)
    if old is not None:
        duplicates[name] += 1
        value = min(old, value)
    setattr(trace, name, value)


# Each phase submits as a partner of its own (its intake topic; the registry's `source`).
BENCH_PARTNERS: Final = ("bench-warmup", "bench-full", "bench-steady")


def follow_workers(records: dict[str, list[Record]]) -> tuple[dict[str, Trace], Counter[str]]:
    """One trace per worker, keyed by worker_id, from the record timestamps of each topic."""
    duplicates: Counter[str] = Counter()
    by_submission: dict[tuple[str, str], Trace] = {}
    for r in (r for partner in BENCH_PARTNERS for r in records[topics.intake_topic(partner)]):
        body = json.loads(r.value)
        trace = by_submission.setdefault(
            (body["source"], body["submission_id"]), Trace(body["source"].removeprefix("bench-"))
        )
        _first(trace, "submitted", r.timestamp_ms, duplicates)
    by_worker: dict[str, Trace] = {}
    for r in records[contracts.WORKER_REGISTERED.topic]:
        body = json.loads(r.value)
        found = by_submission.get((body["source"], body["submission_id"]))
        if found is None:
            duplicates["registered without submission"] += 1
            continue
        trace = by_worker.setdefault(body["worker_id"], found)
        _first(trace, "registered", r.timestamp_ms, duplicates)
    for topic, name in (
        (contracts.ENROLLMENT_REQUESTED.topic, "requested"),
        (contracts.ENROLLMENT_CONFIRMED.topic, "confirmed"),
        (contracts.ENROLLMENT_COMPLETED.topic, "completed"),
    ):
        for r in records[topic]:
            if r.key in by_worker:
                _first(by_worker[r.key], name, r.timestamp_ms, duplicates)
    for r in records[contracts.NOTIFICATION_SENT.topic]:
        body = json.loads(r.value)
        if body.get("template") == TEMPLATE and body.get("audience") == "worker":
            trace_or_none = by_worker.get(str(body.get("worker_id")))
            if trace_or_none is not None:
                _first(trace_or_none, "notified", r.timestamp_ms, duplicates)
                sent = datetime.fromisoformat(body["sent_at"]).timestamp() * 1000
                if trace_or_none.sent_at is None or sent < trace_or_none.sent_at:
                    trace_or_none.sent_at = sent
    return by_worker, duplicates


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """Nearest-rank percentiles, in the unit of `values`."""
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 1),
        "p50": round(rank(0.50), 1),
        "p95": round(rank(0.95), 1),
        "p99": round(rank(0.99), 1),
        "max": round(ordered[-1], 1),
    }


def phase_latencies(traces: Sequence[Trace]) -> dict[str, Any]:
    complete = [t for t in traces if t.submitted is not None and t.notified is not None]
    e2e = [float(t.notified - t.submitted) for t in complete if t.notified and t.submitted]
    sent = [t.sent_at - t.submitted for t in complete if t.sent_at is not None and t.submitted is not None]
    stages: dict[str, Any] = {}
    for label, start, end in STAGES:
        values = [
            float(getattr(t, end) - getattr(t, start))
            for t in traces
            if getattr(t, start) is not None and getattr(t, end) is not None
        ]
        stages[label] = {"between": f"{start} -> {end}", **percentiles(values)}
    return {
        "end_to_end_ms": percentiles(e2e),
        "end_to_end_sent_at_ms": percentiles(sent),
        "stages_ms": stages,
        "workers_complete": len(complete),
        "workers_incomplete": len(traces) - len(complete),
    }


def timeline(traces: Sequence[Trace]) -> dict[str, Any]:
    """Events per second over the phase, in bins (about 60) from the first submission."""
    starts = [t.submitted for t in traces if t.submitted is not None]
    if not starts:
        return {"bin_s": 0.0, "series": {}}
    origin = min(starts)
    span_ms = max((t.notified for t in traces if t.notified is not None), default=origin) - origin
    bin_ms = max(100, int(round(span_ms / 60, -2)))
    series: dict[str, list[float]] = {}
    for name in ("submitted", "registered", "requested", "confirmed", "notified"):
        bins = [0.0] * (span_ms // bin_ms + 1)
        for trace in traces:
            stamp = getattr(trace, name)
            if stamp is not None:
                bins[min(len(bins) - 1, (stamp - origin) // bin_ms)] += 1000 / bin_ms
        series[name] = [round(b, 1) for b in bins]
    return {"bin_s": bin_ms / 1000, "series": series}


# --- the raw limit ----------------------------------------------------------------------------


def _raw_consume(
    kafka: KafkaConnection, topic: str, count: int, ready: Any, results: "multiprocessing.Queue[Any]"
) -> None:
    try:
        results.put(("consumer", asyncio.run(_raw_consume_async(kafka, topic, count, ready))))
    except BaseException as exc:
        results.put(("error", f"raw consumer: {exc!r}"))


async def _raw_consume_async(kafka: KafkaConnection, topic: str, count: int, ready: Any) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        topic,
        **kafka.options(),
        group_id=f"{topic}.consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="muba-bench-raw",
    )
    await consumer.start()
    try:
        received, first, last = 0, 0.0, 0.0
        deadline = time.monotonic() + 180
        while received < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100, max_records=RAW_CONSUMER_BATCH)
            if consumer.assignment() and not ready.is_set():
                ready.set()
            got = sum(len(records) for records in batches.values())
            if got:
                last = time.time()
                first = first or last
                received += got
                await consumer.commit()
        return {"received": received, "first_received": first, "last_received": last}
    finally:
        await consumer.stop()


def _raw_produce(
    kafka: KafkaConnection,
    topic: str,
    count: int,
    body_size: int,
    headers: list[tuple[str, bytes]],
    ready: Any,
    results: "multiprocessing.Queue[Any]",
) -> None:
    try:
        if not ready.wait(60):
            raise TimeoutError("the raw consumer got no partitions within 60 s")
        results.put(("producer", asyncio.run(_raw_produce_async(kafka, topic, count, body_size, headers))))
    except BaseException as exc:
        results.put(("error", f"raw producer: {exc!r}"))


async def _raw_produce_async(
    kafka: KafkaConnection, topic: str, count: int, body_size: int, headers: list[tuple[str, bytes]]
) -> dict[str, float]:
    producer = kafka_producer(kafka, client_id="muba-bench-raw")
    await producer.start()
    try:
        body = json.dumps({"pad": "x" * max(body_size - 11, 0)}).encode()
        keys = [str(uuid.uuid4()).encode() for _ in range(max(count // 8, 1))]
        first = time.time()
        futures = [
            await producer.send(topic, value=body, key=keys[i % len(keys)], headers=headers)
            for i in range(count)
        ]
        await asyncio.gather(*futures)
        return {"sent": count, "first_sent": first, "acked": time.time()}
    finally:
        await producer.stop()


def raw_kafka(
    kafka: KafkaConnection, topic: str, count: int, body_size: int, headers: list[tuple[str, bytes]]
) -> dict[str, Any]:
    """`count` records produced and consumed by aiokafka alone, producer and consumer each in a
    process of its own (like the pipeline's, each side has a core to run on)."""
    asyncio.run(ensure_topic(kafka, topic))
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    results: multiprocessing.Queue[Any] = context.Queue()
    consumer = context.Process(target=_raw_consume, args=(kafka, topic, count, ready, results), daemon=True)
    producer = context.Process(
        target=_raw_produce, args=(kafka, topic, count, body_size, headers, ready, results), daemon=True
    )
    consumer.start()
    producer.start()
    found: dict[str, dict[str, float]] = {}
    try:
        while len(found) < 2:
            try:
                kind, value = results.get(timeout=240)
            except queue.Empty:
                raise BenchFailure("the raw Kafka measurement did not finish within 240 s") from None
            if kind == "error":
                raise BenchFailure(str(value))
            found[kind] = value
    finally:
        for process in (producer, consumer):
            process.join(10)
            if process.is_alive():
                process.kill()
    if found["consumer"]["received"] < count:
        raise BenchFailure(f"the raw consumer received {found['consumer']['received']} of {count} records")
    seconds = found["consumer"]["last_received"] - found["producer"]["first_sent"]
    return {
        "records": count,
        "record_bytes": body_size,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(count / seconds, 1),
        "produce_seconds": round(found["producer"]["acked"] - found["producer"]["first_sent"], 3),
    }


async def raw_postgres(admin_url: str, count: int, run: str) -> dict[str, Any]:
    """`count` transactions of one small INSERT each, pool of 8, 8 at a time, scratch schema."""
    schema = f"bench_scratch_{run}"
    admin = await asyncpg.connect(admin_url)
    pool: asyncpg.Pool | None = None
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        await admin.execute(
            f'CREATE TABLE "{schema}".probe (id bigserial PRIMARY KEY, worker_id uuid NOT NULL,'
            " topic text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        )
        pool = await asyncpg.create_pool(admin_url, min_size=RAW_PG_CONCURRENCY, max_size=RAW_PG_CONCURRENCY)
        assert pool is not None
        statement = f'INSERT INTO "{schema}".probe (worker_id, topic) VALUES ($1, $2)'
        left = count

        async def commit_some(pool: asyncpg.Pool) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(statement, uuid.uuid4(), "bench")

        started = time.perf_counter()
        await asyncio.gather(*(commit_some(pool) for _ in range(RAW_PG_CONCURRENCY)))
        seconds = time.perf_counter() - started
        stored = await admin.fetchval(f'SELECT count(*) FROM "{schema}".probe')
        if stored != count:
            raise BenchFailure(f"raw PostgreSQL: {stored} rows stored, {count} expected")
        return {
            "transactions": count,
            "concurrency": RAW_PG_CONCURRENCY,
            "seconds": round(seconds, 3),
            "commits_per_s": round(count / seconds, 1),
        }
    finally:
        if pool is not None:
            await pool.close()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


# --- the report -------------------------------------------------------------------------------


def versions(infra: Infra) -> dict[str, str]:
    found = {"python": platform.python_version()}
    libs = Path(os.environ.get("MUBA_KAFKA_LIBS", ROOT / ".cache" / "kafka" / "libs"))
    jars = sorted(libs.glob("kafka_2.13-*.jar"))
    found["kafka"] = jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else "unknown"

    async def postgres() -> str:
        conn = await asyncpg.connect(infra.admin_database_url)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        found["postgres"] = asyncio.run(postgres())
    except Exception:
        found["postgres"] = "unknown"
    for package in ("aiokafka", "asyncpg", "faststream"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def git_commit() -> tuple[str, list[str]]:
    """The short commit and the tracked files that differ from it (read-only: no index refresh)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return commit, [line[3:] for line in status.splitlines() if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        return "unknown", []


def process_figures(run: PipelineRun) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    labels = [*run.labels, "kafka", "postgres", "bench", "machine"]
    for label in labels:
        entry: dict[str, float] = {}
        if label in run.sampler.peak_rss_mb:
            entry["peak_rss_mb"] = round(run.sampler.peak_rss_mb[label], 1)
        for phase in (run.full, run.steady):
            if label in phase.cpu_after and label in phase.cpu_before:
                cpu = phase.cpu_after[label] - phase.cpu_before[label]
                entry[f"cpu_s_{phase.name}"] = round(cpu, 2)
                entry[f"cpu_share_{phase.name}"] = round(cpu / phase.wall_s, 3) if phase.wall_s > 0 else 0.0
                entry[f"cpu_ms_per_worker_{phase.name}"] = round(1000 * cpu / max(phase.workers, 1), 3)
        figures[label] = entry
    return figures


def cpu_series(sampler: Sampler, labels: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    """CPU use of each process between consecutive samples, in % of one core."""
    series: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    if not sampler.samples:
        return series
    origin = sampler.samples[0].t
    for before, after in zip(sampler.samples, sampler.samples[1:], strict=False):
        dt = after.t - before.t
        if dt <= 0.05:
            continue
        for label in labels:
            if label in before.cpu_s and label in after.cpu_s:
                used = 100 * (after.cpu_s[label] - before.cpu_s[label]) / dt
                series[label].append((after.t - origin, used))
    return series


def draw_chart(path: Path, report: dict[str, Any], traces: dict[str, Trace], run: PipelineRun) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    fig.suptitle(
        f"muba bench {report['run']['started_at']} ({report['run']['commit']}): "
        f"{report['parameters']['workers']} workers, {report['machine']['cpu_count']} CPUs",
        fontsize=11,
    )
    cdf, hist, flow, cpu = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    for phase, colour in (("full", "tab:red"), ("steady", "tab:blue")):
        values = sorted(
            float(t.notified - t.submitted)
            for t in traces.values()
            if t.phase == phase and t.notified is not None and t.submitted is not None
        )
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            cdf.plot(values, ys, color=colour, label=f"{phase} (p99 {percentiles(values)['p99']} ms)")
        if phase == "steady" and values:
            hist.hist(values, bins=60, color=colour, alpha=0.8)
            hist.axvline(GOAL_P99_MS, color="black", linestyle="--", label=f"goal p99 {GOAL_P99_MS:.0f} ms")
            p99 = percentiles(values)["p99"]
            if p99 is not None:
                hist.axvline(float(p99), color="tab:orange", label=f"p99 {p99} ms")
    cdf.axvline(GOAL_P99_MS, color="black", linestyle="--", linewidth=0.8)
    cdf.set_xscale("log")
    cdf.set_xlabel("submission -> enrollment_confirmed notification (ms, log)")
    cdf.set_ylabel("share of workers")
    cdf.set_title("end-to-end latency, CDF")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend()
    hist.set_title(f"end-to-end latency at {report['parameters']['rate']:g} workers/s")
    hist.set_xlabel("ms")
    hist.set_ylabel("workers")
    hist.legend()
    # Cumulative workers past each point: the slope is the throughput, batches do not make it jagged.
    line = report["full_speed"]["timeline"]
    workers = report["full_speed"]["workers"]
    for name, values in line["series"].items():
        total, counts = 0.0, [0.0]
        for rate in values:
            total += rate * line["bin_s"]
            counts.append(total)
        flow.plot([i * line["bin_s"] for i in range(len(counts))], counts, label=name)
    goal_s = workers / GOAL_WORKERS_PER_S
    flow.plot([0, goal_s], [0, workers], color="black", linestyle="--", linewidth=0.8, label="goal: 500/s")
    flow.set_title(f"full speed: workers past each event ({report['full_speed']['workers_per_s']} workers/s)")
    flow.set_xlabel("s since the first submission")
    flow.set_ylabel("workers (cumulative)")
    flow.grid(True, alpha=0.3)
    flow.legend()
    series = cpu_series(run.sampler, [*run.labels, "kafka", "postgres", "bench"])
    origin = run.sampler.samples[0].t if run.sampler.samples else 0.0
    for label, points in series.items():
        if points:
            cpu.plot([p[0] for p in points], [p[1] for p in points], label=label, linewidth=1)
    for shaded, colour in ((run.full, "tab:red"), (run.steady, "tab:blue")):
        cpu.axvspan(shaded.first_send - origin, shaded.done - origin, color=colour, alpha=0.08)
    cpu.set_title("CPU per process (% of one core; shaded: full speed, steady)")
    cpu.set_xlabel("s since the stack started")
    cpu.grid(True, alpha=0.3)
    cpu.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def print_table(report: dict[str, Any]) -> None:
    m, p, full, steady, raw = (
        report["machine"],
        report["parameters"],
        report["full_speed"],
        report["steady"],
        report["raw_limit"],
    )
    print()
    print(
        f"muba bench  {report['run']['started_at']}  commit {report['run']['commit']}"
        f"{' (dirty)' if report['run']['dirty'] else ''}  {m['cpu_count']} CPUs  python {m['python']}"
        f"  kafka {m['kafka']}  postgres {m['postgres']}"
    )
    print(
        f"N={p['workers']} full speed, then {p['rate']:g}/s for {p['steady_seconds']:g} s"
        f" ({steady['workers']} workers); LOG_LEVEL={p['log_level']}"
    )
    print()
    e2e_f, e2e_s = full["latency"]["end_to_end_ms"], steady["latency"]["end_to_end_ms"]
    print(f"{'end to end (ms)':<28}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for label, lat in (("full speed", e2e_f), (f"steady {p['rate']:g}/s", e2e_s)):
        print(f"  {label:<26}" + "".join(f"{_fmt(lat[k], 0):>9}" for k in ("p50", "p95", "p99", "max")))
    print(f"{'stage (ms) p50 / p99':<28}{'full':>18}{'steady':>18}")
    for stage in full["latency"]["stages_ms"]:
        a, b = full["latency"]["stages_ms"][stage], steady["latency"]["stages_ms"][stage]
        print(
            f"  {stage:<26}{_fmt(a['p50']) + ' / ' + _fmt(a['p99']):>18}"
            f"{_fmt(b['p50']) + ' / ' + _fmt(b['p99']):>18}"
        )
    print()
    print(
        f"throughput (full speed)     {full['workers_per_s']:,.1f} workers/s  ({full['workers']} in "
        f"{full['seconds']:.1f} s; published in {full['publish_seconds']:.2f} s)"
    )
    print(
        f"raw Kafka (aiokafka)        {raw['kafka']['msgs_per_s']:,.0f} msgs/s  "
        f"/ {raw['messages_per_worker']:.2f} msgs per worker = {raw['kafka_workers_per_s']:,.0f} workers/s"
    )
    print(
        f"raw PostgreSQL (asyncpg)    {raw['postgres']['commits_per_s']:,.0f} commits/s "
        f"/ {raw['transactions_per_worker']:.2f} tx per worker = {raw['postgres_workers_per_s']:,.0f} workers/s"
    )
    print(
        f"share of the raw limit      {100 * raw['share']:.1f} %  (limit {raw['limit_workers_per_s']:,.0f} workers/s)"
    )
    print(f"  {SHARE_DEFINITION}")
    print()
    print(
        f"{'process':<16}{'peak RSS MB':>12}{'CPU s full':>12}{'CPU % full':>12}{'ms/worker':>11}"
        f"{'CPU % steady':>14}{'ms/worker':>11}"
    )
    for label, f in report["processes"].items():
        print(
            f"  {label:<14}{_fmt(f.get('peak_rss_mb'), 1):>12}{_fmt(f.get('cpu_s_full'), 1):>12}"
            f"{_fmt(100 * f['cpu_share_full'] if 'cpu_share_full' in f else None, 0):>12}"
            f"{_fmt(f.get('cpu_ms_per_worker_full'), 2):>11}"
            f"{_fmt(100 * f['cpu_share_steady'] if 'cpu_share_steady' in f else None, 0):>14}"
            f"{_fmt(f.get('cpu_ms_per_worker_steady'), 2):>11}"
        )
    print(f"{'consumer (full speed)':<54}{'busy %':>8}{'rec/batch':>11}{'ms/rec':>8}")
    for name, c in full["consumers"].items():
        busy = _fmt(100 * c["busy_share"], 0) if "busy_share" in c else "-"
        per = _fmt(c.get("handler_ms_per_record"), 2)
        print(f"  {name:<52}{busy:>8}{c['records_per_batch']:>11}{per:>8}")
    print()
    for name, goal in report["goals"].items():
        print(
            f"  goal {name:<34} {goal['target']:<16} {_fmt(goal['value'], 1):>10}  {'MET' if goal['met'] else 'NOT MET'}"
        )
    print()


def build_report(
    args: argparse.Namespace,
    infra: Infra,
    run_id: str,
    prefix: str,
    started_at: datetime,
    run: PipelineRun,
    raw_kafka_figures: dict[str, Any],
    raw_pg_figures: dict[str, Any],
    messages_per_worker: float,
    transactions_per_worker: float,
    traces: dict[str, Trace],
    duplicates: Counter[str],
    machine: dict[str, Any],
    commit: str,
    changed: list[str],
    log_dir: Path,
) -> dict[str, Any]:
    by_phase: dict[str, list[Trace]] = {}
    for trace in traces.values():
        by_phase.setdefault(trace.phase, []).append(trace)
    sections: dict[str, dict[str, Any]] = {}
    for phase in (run.full, run.steady):
        mine = by_phase.get(phase.name, [])
        first = min((t.submitted for t in mine if t.submitted is not None), default=None)
        last = max((t.notified for t in mine if t.notified is not None), default=None)
        seconds = (last - first) / 1000 if first is not None and last is not None else phase.wall_s
        records = {
            t: phase.records_after.get(t, 0) - phase.records_before.get(t, 0) for t in phase.records_after
        }
        sections[phase.name] = {
            "workers": phase.workers,
            "seconds": round(seconds, 3),
            "workers_per_s": round(phase.workers / seconds, 1) if seconds > 0 else None,
            "publish_seconds": round(phase.all_acked - phase.first_send, 3),
            "offered_per_s": round(phase.workers / max(phase.all_acked - phase.first_send, 1e-9), 1),
            "latency": phase_latencies(mine),
            "records_written": {t: n for t, n in records.items() if n},
            "pg_commits_database_wide": phase.pg_commits,
            "consumers": consumer_profile(phase.stats_before, phase.stats_after, prefix, phase.wall_s),
        }
    sections["full"]["timeline"] = timeline(by_phase.get("full", []))
    kafka_wps = raw_kafka_figures["msgs_per_s"] / messages_per_worker
    pg_wps = raw_pg_figures["commits_per_s"] / transactions_per_worker
    limit = min(kafka_wps, pg_wps)
    pipeline_wps = sections["full"]["workers_per_s"] or 0.0
    processes = process_figures(run)
    steady_p99 = sections["steady"]["latency"]["end_to_end_ms"]["p99"]
    stack_rss = {label: processes[label].get("peak_rss_mb", 0.0) for label in run.labels}
    goals = {
        "throughput >= 500 workers/s": {
            "target": ">= 500 workers/s",
            "value": pipeline_wps,
            "met": pipeline_wps >= GOAL_WORKERS_PER_S,
        },
        f"p99 <= 300 ms at {args.rate:g}/s": {
            "target": "<= 300 ms",
            "value": steady_p99,
            "met": steady_p99 is not None and steady_p99 <= GOAL_P99_MS,
        },
        "share of raw limit >= 30 %": {
            "target": ">= 30 %",
            "value": round(100 * pipeline_wps / limit, 1),
            "met": pipeline_wps / limit >= GOAL_SHARE,
        },
        "peak RSS <= 120 MB per process": {
            "target": "<= 120 MB each",
            "value": max(stack_rss.values(), default=0.0),
            "met": all(v <= GOAL_RSS_MB for v in stack_rss.values()),
        },
    }
    anomalies = run.isolation.warnings()
    if duplicates:
        anomalies.append(f"events seen more than once per worker: {dict(duplicates)}")
    for name in ("full", "steady"):
        incomplete = sections[name]["latency"]["workers_incomplete"]
        if incomplete:
            anomalies.append(f"{name}: {incomplete} workers without a complete trace")
        for consumer, c in sections[name]["consumers"].items():
            if c.get("retries") or c.get("dead_lettered"):
                anomalies.append(
                    f"{name}: {consumer}: retries {c.get('retries')}, dead letters {c.get('dead_lettered')}"
                )
    finished = datetime.now(UTC)
    return {
        "run": {
            "id": run_id,
            "topic_prefix": prefix,
            "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round((finished - started_at).total_seconds(), 1),
            "commit": commit,
            "dirty": bool(changed),
            "uncommitted_changes": changed,
            "logs": str(log_dir),
        },
        "machine": machine,
        "parameters": {
            "workers": args.workers,
            "rate": args.rate,
            "steady_seconds": args.steady_seconds,
            "warmup": args.warmup,
            "log_level": os.environ.get("LOG_LEVEL", "INFO"),
            "consumer_batch_size": int(os.environ.get("CONSUMER_BATCH_SIZE", "200")),
            "simulator_delay_ms": 0,
            "latency_source": "Kafka record timestamps (CreateTime: when each producer sent the record)",
        },
        "full_speed": sections["full"],
        "steady": sections["steady"],
        "processes": processes,
        "raw_limit": {
            "definition": SHARE_DEFINITION,
            "kafka": raw_kafka_figures,
            "postgres": raw_pg_figures,
            "messages_per_worker": round(messages_per_worker, 3),
            "transactions_per_worker": round(transactions_per_worker, 3),
            "kafka_workers_per_s": round(kafka_wps, 1),
            "postgres_workers_per_s": round(pg_wps, 1),
            "limit_workers_per_s": round(limit, 1),
            "pipeline_workers_per_s": pipeline_wps,
            "share": round(pipeline_wps / limit, 4),
        },
        "goals": goals,
        "isolation": {
            "other_clients_before_truncate": run.isolation.others_before_truncate,
            "other_clients_during_run": run.isolation.others_during_run,
            "own_outbox_relay_is_leader": run.isolation.relay_leader,
        },
        "anomalies": anomalies,
        "notes": [
            "end_to_end_sent_at_ms uses the notification's sent_at, which is the created_at of its row: "
            "the start of the notifications consumer's batch transaction, not its commit",
            "CPU figures of postgres and machine include anything else running on this machine",
        ],
    }


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=10_000, help="registrations at full speed (10000)")
    parser.add_argument("--rate", type=float, default=50.0, help="steady offered load, workers/s (50)")
    parser.add_argument("--steady-seconds", type=float, default=20.0, help="length of the steady phase (20)")
    parser.add_argument("--warmup", type=int, default=20, help="workers sent through before measuring (20)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds the full-speed phase may take (30 + N/80)"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="where to write")
    parser.add_argument("--keep-topics", action="store_true", help="keep the run's Kafka topics")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a goal is not met")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 50_000:
        parser.error("--workers must be between 1 and 50000")
    if args.rate <= 0 or args.steady_seconds <= 0 or args.rate * args.steady_seconds < 1:
        parser.error("--rate and --steady-seconds must offer at least one worker")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    infra = Infra.from_env()
    if infra is None:
        print(
            "bench: KAFKA_BOOTSTRAP_SERVERS, MUBA_ADMIN_DATABASE_URL and the *_DATABASE_URL variables are "
            "not set: run `make bench`, or `make infra-up` and export what `make env` prints",
            file=sys.stderr,
        )
        return 1
    started_at = datetime.now(UTC)
    run_id = f"{uuid.uuid4().hex[:8]}"
    prefix = f"bench{run_id}."
    log_dir = ROOT / ".cache" / "logs" / f"bench-{run_id}"
    commit, changed = git_commit()
    machine: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        **versions(infra),
    }
    print(f"muba bench: run {run_id}, topics {prefix}*, {args.workers} workers at full speed")
    try:
        run = asyncio.run(run_pipeline(args, infra, run_id, prefix, log_dir))
        traces, duplicates = follow_workers(run.records)
        full_records = {
            t: run.full.records_after.get(t, 0) - run.full.records_before.get(t, 0)
            for t in run.full.records_after
        }
        messages_per_worker = sum(full_records.values()) / run.full.workers
        processed = sum(
            c["processed"]
            for name, c in consumer_profile(run.full.stats_before, run.full.stats_after, prefix, 1.0).items()
            if not name.startswith("bpjs-simulator")
        )
        transactions_per_worker = processed / run.full.workers
        sizes = [len(r.value) for records in run.records.values() for r in records]
        body_size = round(sum(sizes) / len(sizes)) if sizes else 600
        # The raw records carry the CloudEvents headers of a real worker-registered event.
        sample = next(iter(run.records[contracts.WORKER_REGISTERED.topic]), None)
        headers = sample.headers if sample is not None else []
        raw_count = round(run.full.workers * messages_per_worker)
        if raw_count < 1 or transactions_per_worker <= 0:
            raise BenchFailure(
                f"nothing to compare with: {messages_per_worker} records and {transactions_per_worker}"
                " transactions per worker were counted"
            )
        print(f"  raw Kafka: {raw_count} records of {body_size} bytes, produced and consumed ...")
        kafka_figures = raw_kafka(infra.kafka, f"{prefix}bench.raw", raw_count, body_size, headers)
        pg_count = round(run.full.workers * transactions_per_worker)
        print(f"  raw PostgreSQL: {pg_count} one-INSERT transactions ...")
        pg_figures = asyncio.run(raw_postgres(infra.admin_database_url, pg_count, run_id))
    except BenchFailure as exc:
        print(f"\nbench FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_topics:
            with contextlib.suppress(Exception):
                asyncio.run(delete_topics(infra.kafka, prefix))
    report = build_report(
        args,
        infra,
        run_id,
        prefix,
        started_at,
        run,
        kafka_figures,
        pg_figures,
        messages_per_worker,
        transactions_per_worker,
        traces,
        duplicates,
        machine,
        commit,
        changed,
        log_dir,
    )
    args.results.mkdir(parents=True, exist_ok=True)
    stem = f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-{commit}"
    json_path, png_path = args.results / f"{stem}.json", args.results / f"{stem}.png"
    report["chart"] = png_path.name
    try:
        draw_chart(png_path, report, traces, run)
    except Exception as exc:  # the figures matter more than the picture
        report["chart"] = None
        report["anomalies"].append(f"chart not drawn: {exc!r}")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"results: {json_path}")
    if report["chart"]:
        print(f"chart:   {png_path}")
    for anomaly in report["anomalies"]:
        print(f"note: {anomaly}")
    missed = [name for name, goal in report["goals"].items() if not goal["met"]]
    return 2 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
