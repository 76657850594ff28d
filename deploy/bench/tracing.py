"""Each worker followed through the run's topics by the Kafka record timestamps (CreateTime):
submission_id -> worker_id from the registry's worker-registered event, then each later event by
the worker's key; end-to-end and per-stage latencies, and the events per second over a phase."""

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from deploy.bench.common import TEMPLATE, BenchFailure
from deploy.bench.sampling import topic_partitions
from deploy.bench.workload import BENCH_PARTNERS
from shared import contracts, topics
from shared.kafka_security import KafkaConnection

# The stages of one worker's way through, between consecutive events (names of Trace fields).
STAGES = (
    ("registry", "submitted", "registered"),
    ("sponsorship: match", "registered", "requested"),
    ("BPJS round trip", "requested", "confirmed"),
    ("sponsorship: confirm", "confirmed", "completed"),
    ("notifications", "completed", "notified"),
)


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
    for r in records[contracts.NOTIFICATION_SENT_V1.topic]:
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
