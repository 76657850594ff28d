"""The broker is a real Apache Kafka: one KRaft node, reachable with aiokafka and FastStream."""

import asyncio
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from shared.testing import Infra, ensure_topic


async def test_cluster_is_one_kraft_node_and_reports_its_version(infra: Infra) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    assert len(cluster["brokers"]) == 1
    assert cluster["controller_id"] == cluster["brokers"][0]["node_id"]
    features = _broker_features(infra.kafka_bootstrap_servers)
    # kraft.version is finalized only on a KRaft cluster; metadata.version names the release.
    assert "kraft.version" in features, features
    metadata_version = features["metadata.version"]
    print(
        f"\nKafka under test: Apache Kafka {metadata_version} (metadata.version), KRaft, cluster {cluster['cluster_id']}"
    )
    assert int(metadata_version.split(".")[0]) >= 4, metadata_version


def _broker_features(bootstrap: str) -> dict[str, str]:
    """Finalized feature levels, as the broker reports them to Kafka's own admin tool."""
    libs = os.environ.get("MUBA_KAFKA_LIBS")
    if not libs or not shutil.which("java"):
        pytest.fail(
            "set MUBA_KAFKA_LIBS to the Kafka jars folder (make test does) to ask the broker its version"
        )
    out = subprocess.run(
        [
            "java",
            "-cp",
            f"{libs}/*",
            "org.apache.kafka.tools.FeatureCommand",
            "--bootstrap-server",
            bootstrap,
            "describe",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    found = dict(re.findall(r"Feature: (\S+)\s.*?FinalizedVersionLevel: (\S+)", out))
    assert found, out
    return found


async def test_message_from_aiokafka_is_consumed_by_a_faststream_group(infra: Infra) -> None:
    topic = f"foundation-{uuid.uuid4().hex[:8]}"
    await ensure_topic(infra.kafka_bootstrap_servers, topic, partitions=2)
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    broker = KafkaBroker(infra.kafka_bootstrap_servers)

    @broker.subscriber(
        topic, group_id=f"group-{topic}", auto_offset_reset="earliest", ack_policy=AckPolicy.ACK
    )
    async def handle(body: dict[str, str]) -> None:
        await received.put(body)

    async with broker:
        await broker.start()
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, json.dumps({"hello": "Sekayu"}).encode(), key=b"w1")
        finally:
            await producer.stop()
        body = await asyncio.wait_for(received.get(), timeout=30)
    assert body == {"hello": "Sekayu"}
