"""The limit: a minimal program that does the pipeline's durable work the best way this machine
allows, in the same run, and the pipeline's share of it.

Durable work per worker, as the pipeline did it in this run:
- the Kafka records it wrote (how many, of the average size, with CloudEvents headers), produced
  with acks=all and idempotence and consumed in a consumer group that commits per batch;
- the rows it keeps (every table of the four schemas but the outbox, inbox and their bookkeeping:
  as many rows per worker, of the same average width), written with COPY, a consumer batch of
  workers per transaction, two connections.

Producer, consumer and writer run at once, each in a process of its own. What the pipeline does
beyond this (validating, matching, deduplicating, an inbox and an outbox, indexes) is cost the
limit does not pay, so the share cannot pass 100 % but by noise; a run where it does says so.
"""

import asyncio
import json
import multiprocessing
import queue
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from deploy.bench.common import BenchFailure
from deploy.bench.pipeline import PipelineRun
from deploy.bench.sampling import machine_cpu_s
from shared import contracts
from shared.kafka_admin import ensure_topic
from shared.kafka_security import KafkaConnection, kafka_producer
from testkit.infra import SERVICES, Infra

CONSUMER_BATCH = 500
WRITERS = 2
# Bookkeeping of the delivery promise, not the programme's state: the limit does not keep it.
NOT_KEPT = frozenset({"outbox", "inbox", "outbox_lease", "schema_migrations", "api_audit", "scheduled_run"})

DEFINITION = (
    "share = pipeline workers/s (full speed) / limit workers/s. The limit is a minimal program doing "
    "the pipeline's durable work for the same N in the same run, at once in three processes: the "
    "records the pipeline wrote to Kafka per worker (same count and average size, CloudEvents headers) "
    "produced with acks=all + idempotence and consumed in a group committing per batch; and the rows "
    "the pipeline keeps per worker (its tables but outbox/inbox/bookkeeping; same count and average "
    "width) written with COPY, one consumer batch of workers per transaction, two connections. "
    "limit workers/s = N / (first send to the last record received and the last row committed). "
    "CPU ms per worker = the machine's busy CPU time over the same interval / N."
)


@dataclass(frozen=True)
class KeptTable:
    """A table the pipeline keeps rows in: rows per worker, average row width in bytes."""

    schema: str
    table: str
    rows_per_worker: float
    row_bytes: int


@dataclass(frozen=True)
class DurableWork:
    workers: int
    records: int
    record_bytes: int
    headers: list[tuple[str, bytes]]
    tables: tuple[KeptTable, ...]
    batch_workers: int

    @property
    def rows(self) -> int:
        return sum(round(self.workers * t.rows_per_worker) for t in self.tables)


async def kept_tables(infra: Infra, workers_in_run: int) -> tuple[KeptTable, ...]:
    """What each service schema (and the simulator's) holds after the run, per worker of the run."""
    found: list[KeptTable] = []
    for service in SERVICES:
        conn = await asyncpg.connect(infra.database_urls[service])
        try:
            schema = str(await conn.fetchval("SELECT current_schema()"))
            names = [
                str(r["tablename"])
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
                )
            ]
            for name in names:
                if name in NOT_KEPT:
                    continue
                row = await conn.fetchrow(
                    f'SELECT count(*), coalesce(avg(pg_column_size(t.*)), 0)::int FROM "{name}" t'
                )
                count, width = (row[0], row[1]) if row is not None else (0, 0)
                if count:
                    found.append(KeptTable(schema, name, count / workers_in_run, int(width)))
        finally:
            await conn.close()
    return tuple(found)


# --- the three processes --------------------------------------------------------------------------


def _consume(
    kafka: KafkaConnection, topic: str, count: int, ready: Any, out: "multiprocessing.Queue[Any]"
) -> None:
    try:
        out.put(("consumer", asyncio.run(_consume_async(kafka, topic, count, ready))))
    except BaseException as exc:
        out.put(("error", f"limit consumer: {exc!r}"))


async def _consume_async(kafka: KafkaConnection, topic: str, count: int, ready: Any) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        topic,
        **kafka.options(),
        group_id=f"{topic}.consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="muba-bench-limit",
    )
    await consumer.start()
    try:
        received, last = 0, 0.0
        deadline = time.monotonic() + 600
        while received < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100, max_records=CONSUMER_BATCH)
            if consumer.assignment() and not ready.is_set():
                ready.set()
            got = sum(len(records) for records in batches.values())
            if got:
                received += got
                await consumer.commit()
                last = time.time()
        return {"received": received, "last": last}
    finally:
        await consumer.stop()


def _produce(
    kafka: KafkaConnection, topic: str, work: DurableWork, go: Any, out: "multiprocessing.Queue[Any]"
) -> None:
    try:
        if not go.wait(90):
            raise TimeoutError("the limit's consumer got no partitions within 90 s")
        out.put(("producer", asyncio.run(_produce_async(kafka, topic, work))))
    except BaseException as exc:
        out.put(("error", f"limit producer: {exc!r}"))


async def _produce_async(kafka: KafkaConnection, topic: str, work: DurableWork) -> dict[str, float]:
    producer = kafka_producer(kafka, client_id="muba-bench-limit")
    await producer.start()
    try:
        body = json.dumps({"pad": "x" * max(work.record_bytes - 11, 0)}).encode()
        keys = [str(uuid.uuid4()).encode() for _ in range(max(work.workers, 1))]
        first = time.time()
        futures = [
            await producer.send(topic, value=body, key=keys[i % len(keys)], headers=work.headers)
            for i in range(work.records)
        ]
        await asyncio.gather(*futures)
        return {"first": first, "acked": time.time()}
    finally:
        await producer.stop()


def _write(
    admin_url: str, schema: str, work: DurableWork, go: Any, out: "multiprocessing.Queue[Any]"
) -> None:
    try:
        if not go.wait(90):
            raise TimeoutError("the limit's consumer got no partitions within 90 s")
        out.put(("writer", asyncio.run(_write_async(admin_url, schema, work))))
    except BaseException as exc:
        out.put(("error", f"limit writer: {exc!r}"))


def row_range(total: int, workers: int, first: int, last: int) -> range:
    """The rows of a table (`total` for `workers` workers) that workers first..last-1 write: the
    batches of workers together write each row once."""
    return range(first * total // workers, last * total // workers)


def _table(t: KeptTable) -> str:
    return f"{t.schema}__{t.table}"


async def _write_async(admin_url: str, schema: str, work: DurableWork) -> dict[str, float]:
    """Every kept row, a consumer batch of workers per transaction (COPY per table), WRITERS at once."""
    pool = await asyncpg.create_pool(admin_url, min_size=WRITERS, max_size=WRITERS)
    assert pool is not None
    try:
        # Row i of a table belongs to worker i / rows_per_worker: each batch of workers writes the
        # rows of its share, so the transactions are as the pipeline's could be.
        totals = {t: round(work.workers * t.rows_per_worker) for t in work.tables}
        pads = {t: "x" * max(t.row_bytes - 40, 1) for t in work.tables}
        starts = list(range(0, work.workers, work.batch_workers))
        started = time.time()

        async def write_batches(mine: Sequence[int]) -> None:
            async with pool.acquire() as conn:
                for first in mine:
                    last = min(first + work.batch_workers, work.workers)
                    async with conn.transaction():
                        for t, total in totals.items():
                            rows = row_range(total, work.workers, first, last)
                            if rows:
                                await conn.copy_records_to_table(
                                    _table(t),
                                    schema_name=schema,
                                    records=[(i, pads[t]) for i in rows],
                                    columns=("id", "body"),
                                )

        await asyncio.gather(*(write_batches(starts[i::WRITERS]) for i in range(WRITERS)))
        return {"first": started, "done": time.time(), "transactions": len(starts)}
    finally:
        await pool.close()


# --- the run ------------------------------------------------------------------------------------


def run_limit(infra: Infra, topic: str, run_id: str, work: DurableWork) -> dict[str, Any]:
    """The minimal program, once: its throughput, wall time and machine CPU per worker."""
    asyncio.run(ensure_topic(infra.kafka, topic))
    schema = f"bench_limit_{run_id}"
    asyncio.run(_create_tables(infra.admin_database_url, schema, work.tables))
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    out: multiprocessing.Queue[Any] = context.Queue()
    processes = [
        context.Process(target=_consume, args=(infra.kafka, topic, work.records, go, out), daemon=True),
        context.Process(target=_produce, args=(infra.kafka, topic, work, go, out), daemon=True),
        context.Process(target=_write, args=(infra.admin_database_url, schema, work, go, out), daemon=True),
    ]
    found: dict[str, dict[str, float]] = {}
    try:
        for process in processes:
            process.start()
        # The consumer holds its partitions before anything is sent: its `go` starts the others,
        # and the machine's CPU is counted from then.
        go.wait(90)
        cpu_before = machine_cpu_s()
        while len(found) < 3:
            try:
                kind, value = out.get(timeout=600)
            except queue.Empty:
                raise BenchFailure("the limit program did not finish within 600 s") from None
            if kind == "error":
                raise BenchFailure(str(value))
            found[kind] = value
        cpu_s = machine_cpu_s() - cpu_before
        rows = asyncio.run(_count_rows(infra.admin_database_url, schema, work.tables))
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
        asyncio.run(_drop(infra.admin_database_url, schema))
    if found["consumer"]["received"] < work.records:
        raise BenchFailure(f"the limit's consumer received {found['consumer']['received']} of {work.records}")
    if rows != work.rows:
        raise BenchFailure(f"the limit's writer stored {rows} rows of {work.rows}")
    first = min(found["producer"]["first"], found["writer"]["first"])
    seconds = max(found["consumer"]["last"], found["writer"]["done"]) - first
    return {
        "seconds": round(seconds, 3),
        "workers_per_s": round(work.workers / seconds, 1),
        "kafka_seconds": round(found["consumer"]["last"] - found["producer"]["first"], 3),
        "postgres_seconds": round(found["writer"]["done"] - found["writer"]["first"], 3),
        "transactions": int(found["writer"]["transactions"]),
        "cpu_ms_per_worker": round(1000 * cpu_s / work.workers, 3),
    }


async def _create_tables(admin_url: str, schema: str, tables: Sequence[KeptTable]) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        for t in tables:
            await conn.execute(
                f'CREATE TABLE "{schema}"."{_table(t)}" (id bigint PRIMARY KEY, body text NOT NULL)'
            )
    finally:
        await conn.close()


async def _count_rows(admin_url: str, schema: str, tables: Sequence[KeptTable]) -> int:
    conn = await asyncpg.connect(admin_url)
    try:
        return sum(
            [int(await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{_table(t)}"')) for t in tables]
        )
    finally:
        await conn.close()


async def _drop(admin_url: str, schema: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@dataclass
class Limit:
    """The durable work measured and the minimal program's figures (the best of its runs)."""

    work: DurableWork
    runs: list[dict[str, Any]]

    @property
    def best(self) -> dict[str, Any]:
        return max(self.runs, key=lambda r: float(r["workers_per_s"]))

    @property
    def workers_per_s(self) -> float:
        return float(self.best["workers_per_s"])

    def section(self, pipeline_wps: float, pipeline_cpu_ms: float | None) -> dict[str, Any]:
        """The report's `limit`."""
        w = self.work
        return {
            "definition": DEFINITION,
            "workers": w.workers,
            "records": w.records,
            "records_per_worker": round(w.records / w.workers, 3),
            "record_bytes": w.record_bytes,
            "rows": w.rows,
            "rows_per_worker": round(w.rows / w.workers, 3),
            "kept_tables": {
                f"{t.schema}.{t.table}": {
                    "rows_per_worker": round(t.rows_per_worker, 3),
                    "row_bytes": t.row_bytes,
                }
                for t in w.tables
            },
            "batch_workers": w.batch_workers,
            "runs": self.runs,
            "limit_workers_per_s": self.workers_per_s,
            "limit_cpu_ms_per_worker": self.best["cpu_ms_per_worker"],
            "pipeline_workers_per_s": pipeline_wps,
            "pipeline_cpu_ms_per_worker": pipeline_cpu_ms,
            "share": round(pipeline_wps / self.workers_per_s, 4),
        }


def measure_limit(infra: Infra, run: PipelineRun, prefix: str, run_id: str, batch_workers: int) -> Limit:
    """The durable work of the run's full-speed phase, done by the minimal program (twice; the
    faster counts, so noise makes the limit higher, never lower)."""
    workers = run.full.workers
    records = sum(run.full.records_written.values())
    sizes = [len(r.value) for rs in run.records.values() for r in rs]
    sample = next(iter(run.records.get(contracts.WORKER_REGISTERED.topic, [])), None)
    if records < 1 or workers < 1:
        raise BenchFailure(f"nothing to compare with: {records} records for {workers} workers")
    in_run = run.full.workers + run.steady.workers + run.warmup_workers
    tables = asyncio.run(kept_tables(infra, in_run))
    work = DurableWork(
        workers=workers,
        records=records,
        record_bytes=round(sum(sizes) / len(sizes)) if sizes else 600,
        headers=sample.headers if sample is not None else [],
        tables=tables,
        batch_workers=max(batch_workers, 1),
    )
    print(
        f"  the limit: {work.records} records of {work.record_bytes} bytes and {work.rows} rows"
        f" in {len(tables)} tables, for {workers} workers (twice) ..."
    )
    runs = [run_limit(infra, f"{prefix}bench.limit{i}", f"{run_id}_{i}", work) for i in range(2)]
    return Limit(work, runs)
