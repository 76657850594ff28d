"""One run of the whole pipeline: empty schemas and fresh topics, the stack as processes, a
warm-up, then the full-speed and the steady phase, each measured before and after; at the end the
run's topics are read back for tracing."""

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from deploy.bench.common import BenchFailure
from deploy.bench.isolation import Isolation, other_backends, relay_leadership
from deploy.bench.sampling import Completions, Sampler, TopicProbe, database_commits, fetch_stats
from deploy.bench.tracing import Record, read_back
from deploy.bench.workload import BENCH_PARTNERS, Workload, bodies, commitments, publish
from deploy.stack import ROOT, Stack
from shared import contracts, topics
from shared.db import migrate
from shared.kafka_admin import provision_topics
from shared.kafka_security import KafkaConnection
from testkit.infra import SERVICES, Infra, empty_schema


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

    @property
    def records_written(self) -> dict[str, int]:
        """Records per topic of the run written during the phase (0 included)."""
        return {t: self.records_after.get(t, 0) - self.records_before.get(t, 0) for t in self.records_after}


@dataclass
class PipelineRun:
    full: Phase
    steady: Phase
    sampler: Sampler
    labels: dict[str, int]
    records: dict[str, list[Record]]
    isolation: Isolation
    warmup_workers: int = 0


@dataclass
class Watch:
    """What a run watches while its stack runs, and the stack's processes once started."""

    infra: Infra
    prefix: str
    sampler: Sampler
    probe: TopicProbe
    completions: Completions
    isolation: Isolation
    stack: Stack | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def kafka(self) -> KafkaConnection:
        return self.infra.kafka

    async def note_others(self) -> None:
        self.isolation.note(await other_backends(self.infra.admin_database_url, self.pids))

    def fetch_stats(self) -> dict[str, dict[str, Any]]:
        return fetch_stats(self.stack) if self.stack is not None else {}

    async def stop(self) -> None:
        """Stop sampling and following the topics (whatever state they are in)."""
        self.sampler.stop()
        with contextlib.suppress(Exception):
            await self.probe.stop()
        with contextlib.suppress(Exception):
            await self.completions.stop()


async def prepare_databases(infra: Infra) -> None:
    """Migrate, then empty every table of each service's schema."""
    for service in SERVICES:
        await migrate(infra.database_urls[service], ROOT / "services" / service / "migrations")
        await empty_schema(infra.database_urls[service])


async def delete_topics(kafka: KafkaConnection, prefix: str) -> None:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def stack_env(infra: Infra, prefix: str) -> dict[str, str]:
    return {
        "TOPIC_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka.bootstrap_servers,
        "SIMULATOR_DELAY_MS": "0",
        "SIMULATOR_REJECT_PERCENT": "0",
        **{f"{s.upper()}_DATABASE_URL": url for s, url in infra.database_urls.items()},
    }


async def start_stack(watch: Watch, stack: Stack, log_dir: Path) -> None:
    """Start the processes, watch them, wait until ready, then start following the topics."""
    stack.start_all()
    for process in stack.processes:
        watch.sampler.watch(process.name, process.popen.pid)
    started = time.monotonic()
    await asyncio.to_thread(stack.wait_ready, 90.0)
    print(f"  services and simulator ready in {time.monotonic() - started:.1f} s (logs: {log_dir})")
    watch.isolation.relay_leader = await asyncio.to_thread(relay_leadership, stack)
    watch.stack = stack
    watch.pids = [p.popen.pid for p in stack.processes]
    await watch.probe.start()
    await watch.completions.start()


async def warm_up(watch: Watch, run: str, work: Workload) -> None:
    """The commitments (a slot for every worker and a few more), then a few workers through, so
    every consumer group holds its partitions before anything is measured."""
    prefix = watch.prefix
    offers = [json.dumps(c).encode() for c in commitments(run, work.total + 10)]
    await publish(watch.kafka, prefix + contracts.COMMITMENT_SUBMITTED.topic, offers)
    await publish(watch.kafka, prefix + topics.intake_topic("bench-warmup"), bodies(work.warmup))
    await watch.completions.wait_for(len(work.warmup), 60, "warm-up", watch.probe)
    await watch.probe.settle()
    print(f"  warm-up: {len(work.warmup)} workers through")


async def run_phase(
    watch: Watch, p: Phase, payloads: list[bytes], expected: int, timeout_s: float, rate: float | None
) -> None:
    """Publish one phase's registrations on its own intake and wait until `expected` workers (of
    the whole run so far) are notified; the counters, CPU and commits before and after."""
    admin_url = watch.infra.admin_database_url
    p.stats_before = await asyncio.to_thread(watch.fetch_stats)
    p.records_before = await watch.probe.counts()
    p.pg_commits = await database_commits(admin_url)
    await watch.note_others()
    p.cpu_before = watch.sampler.sample().cpu_s
    p.first_send, p.all_acked = await publish(
        watch.kafka, watch.prefix + topics.intake_topic(f"bench-{p.name}"), payloads, rate
    )
    await watch.completions.wait_for(expected, timeout_s, f"{p.name} phase", watch.probe)
    p.done = time.time()
    p.cpu_after = watch.sampler.sample().cpu_s
    await watch.note_others()
    commits = await database_commits(admin_url)
    p.pg_commits = commits - p.pg_commits if commits is not None and p.pg_commits is not None else None
    p.stats_after = await asyncio.to_thread(watch.fetch_stats)
    p.records_after = await watch.probe.settle()


async def measure_phases(
    watch: Watch, args: argparse.Namespace, work: Workload, full: Phase, steady: Phase
) -> None:
    """Full speed, then the steady offered load; a failure says whether others shared the schemas."""
    expected = len(work.warmup) + len(work.full)
    timeout = args.timeout or 60 + len(work.full) / 20
    try:
        print(f"  full speed: {len(work.full)} registrations (timeout {timeout:.0f} s) ...")
        await run_phase(watch, full, bodies(work.full), expected, timeout, None)
        print(
            f"    published in {full.all_acked - full.first_send:.2f} s, all notified after {full.wall_s:.1f} s"
        )
        expected += len(work.steady)
        print(f"  steady: {args.rate:g} registrations/s for {args.steady_seconds:g} s ...")
        await run_phase(watch, steady, bodies(work.steady), expected, args.steady_seconds + 60, args.rate)
        print(f"    all notified after {steady.wall_s:.1f} s")
    except BenchFailure as exc:
        await watch.note_others()
        others = watch.isolation.others_during_run
        if any(others.values()):
            raise BenchFailure(
                f"{exc}\n  other clients used the service schemas during the run "
                f"{others}: a test run or another stack on this database "
                "probably emptied or shared them; run the benchmark on a quiet machine"
            ) from None
        raise


def stack_labels(watch: Watch, stack: Stack, log_dir: Path) -> dict[str, int]:
    """The pid of each process of the stack, once it is known that none of them exited."""
    if watch.completions.duplicates:
        print(f"  note: {watch.completions.duplicates} workers were told twice", file=sys.stderr)
    labels = {p.name: p.popen.pid for p in stack.processes}
    crashed = {p.name: p.popen.poll() for p in stack.processes if p.popen.poll() is not None}
    if crashed:
        raise BenchFailure(f"processes of the stack exited during the run: {crashed}; see {log_dir}")
    return labels


async def read_run_topics(kafka: KafkaConnection, prefix: str) -> dict[str, list[Record]]:
    """Every record of the topics a worker's way goes through, by topic name without the prefix."""
    print("  reading the run's topics back ...")
    names = [
        prefix + t
        for t in (
            *(topics.intake_topic(partner) for partner in BENCH_PARTNERS),
            contracts.WORKER_REGISTERED.topic,
            contracts.ENROLLMENT_REQUESTED.topic,
            contracts.ENROLLMENT_CONFIRMED.topic,
            contracts.ENROLLMENT_COMPLETED.topic,
            contracts.NOTIFICATION_SENT_V1.topic,
        )
    ]
    records = await read_back(kafka, names)
    return {k.removeprefix(prefix): v for k, v in records.items()}


async def run_pipeline(
    args: argparse.Namespace, infra: Infra, run: str, prefix: str, log_dir: Path
) -> PipelineRun:
    work = Workload.build(run, args.workers, args.warmup, args.rate, args.steady_seconds)
    print(f"  {work.total} registrations ready ({work.reassigned} NIK serials moved off a reserved/used one)")

    isolation = Isolation(others_before_truncate=await other_backends(infra.admin_database_url, []))
    await prepare_databases(infra)
    # Every catalogue topic and each phase's partner intake, before anything waits for one.
    await provision_topics(infra.kafka, prefix, partners=BENCH_PARTNERS)

    sampler = Sampler()
    sampler.start()
    probe = TopicProbe(infra.kafka, prefix)
    completions = Completions(infra.kafka, prefix + contracts.NOTIFICATION_SENT_V1.topic)
    watch = Watch(infra, prefix, sampler, probe, completions, isolation)
    full = Phase("full", len(work.full))
    steady = Phase("steady", len(work.steady))
    try:
        with Stack(env=stack_env(infra, prefix), log_dir=log_dir) as stack:
            await start_stack(watch, stack, log_dir)
            await warm_up(watch, run, work)
            await measure_phases(watch, args, work, full, steady)
            labels = stack_labels(watch, stack, log_dir)
    finally:
        await watch.stop()
    for warning in isolation.warnings():
        print(f"  WARNING: {warning}", file=sys.stderr)
    records = await read_run_topics(infra.kafka, prefix)
    return PipelineRun(full, steady, sampler, labels, records, isolation, len(work.warmup))
