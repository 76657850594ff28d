"""Two registry instances, one with its clock an hour behind (the fault campaign's "clock step on
one instance", MUBA_CLOCK_SKEW_S=-3600), share the submissions; sponsorship drains its waitlist in
the order the registry registered the workers, whichever clock stamped them."""

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from deploy.stack import Process, Stack
from services.sponsorship.app import create_app as sponsorship_app
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts
from shared.kafka_admin import ensure_topic
from shared.kafka_security import KafkaConnection
from testkit.infra import Infra
from testkit.kafka import ensure_partner, publish_json, record_events
from testkit.samples import sample_registration
from tests.support import running, truncate_schema

N_WORKERS = 8
SLOTS = 4
ASSIGNED = re.compile(r'^muba_consumer_assigned_partitions\{group="([^"]+)"\} ([0-9.]+)$', re.MULTILINE)


def assigned_submission_partitions(process: Process) -> int:
    """How many partitions of the submissions topic this registry process consumes (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        int(float(n))
        for group, n in ASSIGNED.findall(text)
        if group.endswith(contracts.REGISTRATION_SUBMITTED.topic)
    )


def wait_until_both_consume(processes: list[Process], partitions: int, timeout_s: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        counts = [assigned_submission_partitions(p) for p in processes]
        if all(counts) and sum(counts) == partitions:
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"the registry instances never shared the partitions: {counts}")
        time.sleep(0.5)


async def publish_to_partition(
    kafka: KafkaConnection, topic: str, partition: int, body: dict[str, Any]
) -> None:
    producer = AIOKafkaProducer(**kafka.options(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, json.dumps(body).encode(), partition=partition)
    finally:
        await producer.stop()


async def test_a_skewed_registry_instance_does_not_reorder_the_waitlist(
    infra: Infra, topic_prefix: str, service_env: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    p, kafka = topic_prefix, infra.kafka
    for service in ("registry", "sponsorship"):
        await truncate_schema(infra, service)
    submitted = await ensure_partner(kafka, p, "desa-online")  # the partner of sample_registration
    partitions = await ensure_topic(kafka, submitted)
    # Everyone works in one kecamatan and no commitment covers it yet: all of them wait.
    submissions = [
        dict(sample_registration(i, run=2718, kecamatan_code="05"), declared_income_idr=None)
        for i in range(N_WORKERS)
    ]
    service_env(SPONSORSHIP_DATABASE_URL=infra.database_urls["sponsorship"])  # this process: true clock
    env = {
        "TOPIC_PREFIX": p,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "REGISTRY_DATABASE_URL": infra.database_urls["registry"],
    }
    with Stack(env=env, log_dir=tmp_path) as stack:
        registries = [stack.start("registry", 1)]
        stack.env["MUBA_CLOCK_SKEW_S"] = "-3600"  # the second instance's clock is an hour behind
        registries.append(stack.start("registry", 2))
        async with (
            running(sponsorship_app(SponsorshipSettings())),
            record_events(
                kafka,
                p + contracts.WORKER_REGISTERED.topic,
                p + contracts.WORKER_WAITLISTED.topic,
                p + contracts.SPONSOR_MATCHED.topic,
            ) as rec,
        ):
            await asyncio.to_thread(stack.wait_ready)
            await asyncio.to_thread(wait_until_both_consume, registries, partitions)
            # One at a time, round the partitions: both instances register, in a known order.
            for n, body in enumerate(submissions, start=1):
                await publish_to_partition(kafka, submitted, (n - 1) % partitions, body)
                await rec.wait_for(n, topic=p + contracts.WORKER_REGISTERED.topic, timeout_s=60)
            await rec.wait_for(N_WORKERS, topic=p + contracts.WORKER_WAITLISTED.topic, timeout_s=60)
            await publish_json(
                kafka,
                p + contracts.COMMITMENT_SUBMITTED.topic,
                [
                    (
                        "pertamina",
                        {
                            "commitment_id": "pertamina-ep",
                            "company_id": "pertamina-ep",
                            "company_name": "PT Pertamina EP",
                            "kecamatan": ["05"],
                            "slots": SLOTS,
                            "months": 12,
                            "package": "JKK_JKM",
                            "email": "csr@pertamina.example",
                        },
                    )
                ],
            )
            await rec.wait_for(SLOTS, topic=p + contracts.SPONSOR_MATCHED.topic, timeout_s=60)
            events = await rec.settle(2.0)
    by_nik = {e.payload["nik"]: e.payload for e in events if e.topic == p + contracts.WORKER_REGISTERED.topic}
    announced = [by_nik[s["nik"]] for s in submissions]  # in the order they were registered
    numbers = [a["registration_seq"] for a in announced]
    assert all(isinstance(n, int) for n in numbers) and numbers == sorted(set(numbers)), numbers

    # The fault was real: the skewed instance stamped its registrations an hour early ...
    stamped = [datetime.fromisoformat(a["registered_at"]) for a in announced]
    behind = [at < datetime.now(UTC) - timedelta(minutes=50) for at in stamped]
    assert any(behind) and not all(behind), behind
    by_clock = sorted(range(N_WORKERS), key=stamped.__getitem__)
    assert set(by_clock[:SLOTS]) != set(range(SLOTS))  # ... so the clocks' order would pick others

    said = [r.log_path.read_text() for r in registries]
    assert '"message": "clock skewed for fault injection"' in said[1], "the skewed instance says so"
    assert "clock skewed" not in said[0]

    rank = {a["worker_id"]: n for n, a in enumerate(announced)}
    matched = [rank[e.payload["worker_id"]] for e in events if e.topic == p + contracts.SPONSOR_MATCHED.topic]
    assert sorted(matched) == list(range(SLOTS)), f"matched {sorted(matched)}, clocks would give {by_clock}"
