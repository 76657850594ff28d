"""Sampling while the stack runs: CPU time and RSS of each process (psutil, every 0.5 s), the
records each topic of the run holds, the workers told their enrollment is confirmed (followed
live), the services' own /stats counters and PostgreSQL's commit count."""

import asyncio
import contextlib
import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.bench.common import TEMPLATE, BenchFailure
from deploy.stack import Stack
from shared.kafka_admin import ensure_topic
from shared.kafka_security import KafkaConnection

SAMPLE_INTERVAL_S = 0.5


@dataclass
class Sample:
    t: float  # time.time()
    cpu_s: dict[str, float]  # cumulative CPU seconds (user + system)
    rss_mb: dict[str, float]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def machine_cpu_s() -> float:
    """The whole machine's busy CPU seconds so far (every core; idle and iowait excluded)."""
    machine = psutil.cpu_times()
    return float(sum(machine)) - float(machine.idle) - float(getattr(machine, "iowait", 0.0))


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
            cpu["machine"] = machine_cpu_s()
            found = Sample(time.time(), cpu, rss)
            self.samples.append(found)
            return found


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
    return profile


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
