"""SIGTERM: a service finishes the batch in hand, commits, flushes its outbox and leaves within a
few seconds; what it had not taken is processed, once, by the next instance."""

import asyncio
import signal
import time

import asyncpg

from deploy.stack import Stack
from shared import contracts
from testkit.infra import Infra
from testkit.kafka import record_events, submit_registrations
from testkit.samples import sample_registration
from tests.support import truncate_schema


async def test_sigterm_is_graceful_and_loses_nothing(infra: Infra, topic_prefix: str) -> None:
    p, kafka = topic_prefix, infra.kafka
    await truncate_schema(infra, "registry")
    submissions = [dict(sample_registration(i, run=31337), declared_income_idr=None) for i in range(1500)]
    env = {
        "TOPIC_PREFIX": p,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "CONSUMER_BATCH_SIZE": "50",
        "REGISTRY_DATABASE_URL": infra.database_urls["registry"],
    }
    async with record_events(kafka, p + contracts.WORKER_REGISTERED.topic) as rec:
        with Stack(env=env) as stack:
            first = stack.start("registry")
            await asyncio.to_thread(stack.wait_ready)
            await submit_registrations(kafka, p, submissions)
            await rec.wait_for(100, timeout_s=60)
            asked = time.monotonic()
            code = await asyncio.to_thread(stack.stop, first)
            took = time.monotonic() - asked
            # uvicorn re-raises the signal after its graceful shutdown: -SIGTERM is the clean exit.
            assert code in (0, -signal.SIGTERM), f"exit code {code}"
            assert '"message": "service stopped"' in first.log_path.read_text()
            assert took < 10, f"took {took:.1f} s to stop"
            stack.start("registry", 1)  # same static member id: takes its partitions back at once
            await asyncio.to_thread(stack.wait_ready)
            await rec.wait_for(len(submissions), timeout_s=90)
            events = await rec.settle(2.0)
    niks = [e.payload["nik"] for e in events]
    assert sorted(set(niks)) == sorted({s["nik"] for s in submissions})
    conn = await asyncpg.connect(infra.database_urls["registry"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM worker") == len({s["nik"] for s in submissions})
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await conn.close()
