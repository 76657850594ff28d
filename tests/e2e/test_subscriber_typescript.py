"""A subscriber we did not write in Python reads the public feed: subscribers/typescript, its
models generated from the AsyncAPI document by @asyncapi/modelina, kafkajs as the Kafka client,
the principal `subscriber` with its own password. Its counts are compared with what the pipeline
did, and it must name every record that does not match the contract."""

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from deploy.stack import Stack
from deploy.subscriber import run_subscriber
from shared import contracts, topics
from shared.envelope import new_envelope
from shared.kafka_admin import provision_topics
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events
from testkit.samples import sample_registration
from tests.support import a_partner, truncate_schema

ENROLLED = contracts.FEED_WORKER_ENROLLED.topic
WAITLISTED = contracts.FEED_WORKER_WAITLISTED.topic
ENDED = contracts.FEED_COVERAGE_ENDED.topic


async def test_its_counts_equal_the_pipelines(infra: Infra, topic_prefix: str, tmp_path: Path) -> None:
    p = topic_prefix
    for service in ("registry", "sponsorship", "notifications"):
        await truncate_schema(infra, service)
    env = {
        "TOPIC_PREFIX": p,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        **{f"{s.upper()}_DATABASE_URL": url for s, url in infra.database_urls.items()},
    }
    # 4 slots for 7 workers: 4 enrolled, 3 wait.
    async with a_partner(infra, p) as (partner, as_partner):
        with Stack(env=env, log_dir=tmp_path) as stack:
            stack.start_all()
            await asyncio.to_thread(stack.wait_ready)
            watched = (
                contracts.ENROLLMENT_COMPLETED.topic,
                contracts.WORKER_WAITLISTED.topic,
                contracts.COVERAGE_ENDED.topic,
            )
            async with record_events(infra.kafka, *(p + t for t in watched)) as rec:
                await publish_json(
                    infra.kafka_as("operator"),
                    p + contracts.COMMITMENT_SUBMITTED.topic,
                    [
                        (
                            "c",
                            {
                                "commitment_id": "ts-1",
                                "company_id": "pt-karet",
                                "company_name": "PT Karet Sekayu",
                                "kecamatan": ["*"],
                                "slots": 4,
                                "months": 12,
                                "package": "JKK_JKM",
                                "email": "csr@karet.example",
                            },
                        )
                    ],
                )
                workers = [
                    dict(sample_registration(i, source=partner, run=31), declared_income_idr=None)
                    for i in range(7)
                ]
                await publish_json(as_partner, p + topics.intake_topic(partner), [(None, w) for w in workers])
                await rec.wait_for(4, topic=p + contracts.ENROLLMENT_COMPLETED.topic, timeout_s=90)
                await rec.wait_for(3, topic=p + contracts.WORKER_WAITLISTED.topic, timeout_s=90)
                events = await rec.settle(2.0)

    ours = Counter(e.topic.removeprefix(p) for e in {e.headers["ce_id"]: e for e in events}.values())
    assert ours[contracts.ENROLLMENT_COMPLETED.topic] == 4
    assert ours[contracts.WORKER_WAITLISTED.topic] == 3
    counted = await asyncio.to_thread(
        run_subscriber, topic_prefix=p, group=f"{p}subscriber.e2e", timeout_s=90
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.events == {
        ENROLLED: ours[contracts.ENROLLMENT_COMPLETED.topic],
        WAITLISTED: ours[contracts.WORKER_WAITLISTED.topic],
        ENDED: ours[contracts.COVERAGE_ENDED.topic],
    }
    assert counted.invalid == 0
    assert "subscriber" in counted.stderr  # it read as its own principal


def _waitlisted(ref: str, **extra: object) -> dict[str, object]:
    return {
        "worker_ref": ref,
        "kecamatan_code": "01",
        "kecamatan_name": "Sekayu",
        "occupation": "petani karet",
        "waitlisted_at": datetime.now(UTC).isoformat(),
        **extra,
    }


async def test_it_names_each_record_that_breaks_the_contract(infra: Infra, topic_prefix: str) -> None:
    """Records a careless or hostile producer could write, each on its own offset: the subscriber
    says which and why, counts the valid ones once, and exits 1."""
    p = topic_prefix
    feed = [s for s in topics.CATALOGUE if s.name in {c.topic for c in contracts.FEED}]
    await provision_topics(infra.kafka, p, catalogue=feed)
    contract = contracts.FEED_WORKER_WAITLISTED

    def headers(ce_type: str = contract.event_type, event_id: str | None = None) -> list[tuple[str, bytes]]:
        envelope = new_envelope(ce_type, "/muba/sponsorship", event_id=event_id)
        return [(k, v.encode()) for k, v in envelope.headers().items()]

    good, other = uuid.uuid4().hex, uuid.uuid4().hex
    repeated = str(uuid.uuid4())
    records: list[tuple[str, bytes | None, list[tuple[str, bytes]], str]] = [
        (good, json.dumps(_waitlisted(good)).encode(), headers(event_id=repeated), "valid"),
        (good, json.dumps(_waitlisted(good)).encode(), headers(event_id=repeated), "a repeat"),
        (other, json.dumps(_waitlisted(other, village="Kayuara")).encode(), headers(), "valid, a field more"),
        (good, b"\xff\xfe{not json", headers(), "payload: not JSON"),
        (
            good,
            json.dumps({**_waitlisted(good), "kecamatan_name": None}).encode(),
            headers(),
            "kecamatan_name",
        ),
        (good, json.dumps(_waitlisted("NIK-1606012345678901")).encode(), headers(), "worker_ref"),
        (other, json.dumps(_waitlisted(good)).encode(), headers(), "key: not the payload's worker_ref"),
        (
            good,
            json.dumps(_waitlisted(good)).encode(),
            headers(contracts.FEED_WORKER_ENROLLED.event_type),
            "ce_type",
        ),
        (good, json.dumps(_waitlisted(good)).encode(), [], "headers"),
    ]
    producer = AIOKafkaProducer(**infra.kafka.options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, hdrs, _ in records:
            # one partition, so the offsets are the list's order
            await producer.send_and_wait(
                p + contract.topic, value, key=key.encode(), headers=hdrs, partition=0
            )
    finally:
        await producer.stop()

    counted = await asyncio.to_thread(
        run_subscriber, topic_prefix=p, group=f"{p}subscriber.bad", timeout_s=90
    )
    assert counted.returncode == 1, counted.stderr
    assert counted.events == {ENROLLED: 0, WAITLISTED: 2, ENDED: 0}
    assert (counted.records, counted.duplicates, counted.invalid) == (len(records), 1, 6)
    said = [line for line in counted.stderr.splitlines() if line.startswith("invalid record")]
    for offset, (_, _, _, why) in enumerate(records):
        named = [line for line in said if f" offset {offset}:" in line]
        if why.startswith("valid") or why == "a repeat":
            assert not named, named
        else:
            assert len(named) == 1 and why in named[0], (why, said)
