"""The raw limit: what aiokafka and asyncpg alone achieve on the same machine in the same run,
for as many records and transactions as the pipeline needed per worker, and the pipeline's share
of it."""

import asyncio
import json
import multiprocessing
import queue
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from deploy.bench.common import BenchFailure
from deploy.bench.pipeline import PipelineRun
from deploy.bench.sampling import consumer_profile
from shared import contracts
from shared.kafka_admin import ensure_topic
from shared.kafka_security import KafkaConnection, kafka_producer
from testkit.infra import Infra

RAW_PG_CONCURRENCY = 8
RAW_CONSUMER_BATCH = 500

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


@dataclass
class RawLimit:
    """The raw measurements and the pipeline's own figures per worker they are divided by."""

    kafka: dict[str, Any]
    postgres: dict[str, Any]
    messages_per_worker: float
    transactions_per_worker: float

    @property
    def kafka_workers_per_s(self) -> float:
        return float(self.kafka["msgs_per_s"]) / self.messages_per_worker

    @property
    def postgres_workers_per_s(self) -> float:
        return float(self.postgres["commits_per_s"]) / self.transactions_per_worker

    @property
    def workers_per_s(self) -> float:
        """The limit: the slower of the two."""
        return min(self.kafka_workers_per_s, self.postgres_workers_per_s)

    def section(self, pipeline_wps: float) -> dict[str, Any]:
        """The report's `raw_limit`."""
        return {
            "definition": SHARE_DEFINITION,
            "kafka": self.kafka,
            "postgres": self.postgres,
            "messages_per_worker": round(self.messages_per_worker, 3),
            "transactions_per_worker": round(self.transactions_per_worker, 3),
            "kafka_workers_per_s": round(self.kafka_workers_per_s, 1),
            "postgres_workers_per_s": round(self.postgres_workers_per_s, 1),
            "limit_workers_per_s": round(self.workers_per_s, 1),
            "pipeline_workers_per_s": pipeline_wps,
            "share": round(pipeline_wps / self.workers_per_s, 4),
        }


def per_worker(run: PipelineRun, prefix: str) -> tuple[float, float]:
    """Records the pipeline wrote to Kafka and events the services handled in a transaction, per
    worker of the full-speed phase."""
    messages_per_worker = sum(run.full.records_written.values()) / run.full.workers
    processed = sum(
        c["processed"]
        for name, c in consumer_profile(run.full.stats_before, run.full.stats_after, prefix, 1.0).items()
        if not name.startswith("bpjs-simulator")
    )
    return messages_per_worker, processed / run.full.workers


def measure_raw_limit(infra: Infra, run: PipelineRun, prefix: str, run_id: str) -> RawLimit:
    """As many records as the pipeline wrote, of its average size and with the CloudEvents headers
    of a real worker-registered event; as many one-INSERT transactions as it handled events."""
    messages_per_worker, transactions_per_worker = per_worker(run, prefix)
    sizes = [len(r.value) for records in run.records.values() for r in records]
    body_size = round(sum(sizes) / len(sizes)) if sizes else 600
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
    return RawLimit(kafka_figures, pg_figures, messages_per_worker, transactions_per_worker)
