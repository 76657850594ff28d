"""The broker is a real Apache Kafka (KRaft), reachable with aiokafka and FastStream over
SASL/SCRAM; it never creates a topic on its own, the project provisions every topic with the sizes
and replication it needs, and with three brokers an acknowledged record survives the loss of the
partition leader."""

import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from shared import contracts, topics
from shared.kafka_admin import broker_configs, ensure_topic, provision_topics, topic_configs
from shared.kafka_security import KafkaConnection
from testkit.infra import Infra

PARTNER = "desa-online"


async def test_cluster_is_kraft_and_reports_its_version(infra: Infra, tmp_path: Path) -> None:
    admin = AIOKafkaAdminClient(**infra.kafka.options())
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    # One node (the default) or three (make infra-up BROKERS=3, which exports KAFKA_BROKERS).
    assert len(cluster["brokers"]) == int(os.environ.get("KAFKA_BROKERS", "1"))
    # Combined broker + controller nodes: the active controller is one of the brokers.
    assert cluster["controller_id"] in {b["node_id"] for b in cluster["brokers"]}
    features = _broker_features(infra.kafka, tmp_path / "admin.properties")
    # kraft.version is finalized only on a KRaft cluster; metadata.version names the release.
    assert "kraft.version" in features, features
    metadata_version = features["metadata.version"]
    print(
        f"\nKafka under test: Apache Kafka {metadata_version} (metadata.version), KRaft, cluster {cluster['cluster_id']}"
    )
    assert int(metadata_version.split(".")[0]) >= 4, metadata_version


def _broker_features(kafka: KafkaConnection, config: Path) -> dict[str, str]:
    """Finalized feature levels, as the broker reports them to Kafka's own admin tool (which
    connects as `kafka`'s principal, with a client config file of the test's own)."""
    libs = os.environ.get("MUBA_KAFKA_LIBS")
    if not libs or not shutil.which("java"):
        pytest.fail(
            "set MUBA_KAFKA_LIBS to the Kafka jars folder (make test does) to ask the broker its version"
        )
    options = kafka.options()
    config.touch(mode=0o600)
    config.write_text(
        f"security.protocol={options['security_protocol']}\n"
        f"sasl.mechanism={options['sasl_mechanism']}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required"
        f' username="{kafka.username}" password="{options["sasl_plain_password"]}";\n'
    )
    out = subprocess.run(
        [
            "java",
            "-cp",
            f"{libs}/*",
            "org.apache.kafka.tools.FeatureCommand",
            "--bootstrap-server",
            kafka.bootstrap_servers,
            "--command-config",
            str(config),
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
    await ensure_topic(infra.kafka, topic, partitions=2)
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    broker = KafkaBroker(infra.kafka.servers, security=infra.kafka.security())

    @broker.subscriber(
        topic, group_id=f"group-{topic}", auto_offset_reset="earliest", ack_policy=AckPolicy.ACK
    )
    async def handle(body: dict[str, str]) -> None:
        await received.put(body)

    async with broker:
        await broker.start()
        producer = AIOKafkaProducer(**infra.kafka.options(), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, json.dumps({"hello": "Sekayu"}).encode(), key=b"w1")
        finally:
            await producer.stop()
        body = await asyncio.wait_for(received.get(), timeout=30)
    assert body == {"hello": "Sekayu"}


# --- topics are provisioned, never auto-created --------------------------------------------------


async def test_brokers_never_create_a_topic_on_their_own(infra: Infra) -> None:
    """auto.create.topics.enable=false on every broker: a misspelt or unprovisioned topic fails
    loudly at the producer instead of appearing with the broker's defaults (factor 1, 2 MiB)."""
    admin = AIOKafkaAdminClient(**infra.kafka.options())
    await admin.start()
    try:
        for broker in (await admin.describe_cluster())["brokers"]:
            found = await broker_configs(admin, broker["node_id"], ["auto.create.topics.enable"])
            assert found == {"auto.create.topics.enable": "false"}, f"broker {broker['node_id']}: {found}"
        topic = f"never-provisioned-{uuid.uuid4().hex[:8]}"
        # As the super user: not the ACLs but the brokers' own setting refuses the topic.
        producer = AIOKafkaProducer(**infra.kafka.options(), request_timeout_ms=3000)
        await producer.start()
        try:
            with pytest.raises(KafkaError):
                await producer.send_and_wait(topic, b"{}")
        finally:
            await producer.stop()
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()


async def test_provisioned_topics_have_the_replication_and_sizes_of_the_catalogue(
    infra: Infra, topic_prefix: str
) -> None:
    kafka = infra.kafka
    catalogue = topics.catalogue((PARTNER,))
    report = await provision_topics(kafka, topic_prefix, partners=[PARTNER])
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        factor, min_isr = (3, 2) if brokers >= 3 else (brokers, 1)
        assert (report.replication_factor, report.min_insync_replicas) == (factor, min_isr)
        names = [topic_prefix + spec.name for spec in catalogue]
        assert sorted(report.created) == sorted(names)

        # Every topic someone consumes has its dead-letter topic, and every topic we name is there
        # (the intakes' stem REGISTRATION_SUBMITTED names no topic: each partner's intake is one).
        catalogued = {spec.name for spec in catalogue}
        for spec in catalogue:
            if spec.consumed_by:
                assert topics.dead_letter_topic(spec.name) in catalogued, spec.name
        named = {
            value
            for n in dir(topics)
            if n.isupper() and isinstance(value := getattr(topics, n), str) and "." in value
        }
        assert named - {topics.DEAD_LETTER_SUFFIX, contracts.REGISTRATION_SUBMITTED.topic} <= catalogued
        assert topics.intake_topic(PARTNER) in catalogued

        described = {d["topic"]: d for d in await admin.describe_topics(names)}
        configs = await topic_configs(admin, names)
        for spec in catalogue:
            name = topic_prefix + spec.name
            partitions = described[name]["partitions"]
            assert len(partitions) == spec.partitions, name
            assert {len(p["replicas"]) for p in partitions} == {factor}, name
            effective, _ = configs[name]
            assert effective["min.insync.replicas"] == str(min_isr), name
            assert effective["max.message.bytes"] == str(spec.max_message_bytes), name
            if spec.partner_facing:
                assert spec.max_message_bytes >= 2 * 1024 * 1024, name
            if name.endswith(topics.DEAD_LETTER_SUFFIX):
                assert (
                    spec.max_message_bytes >= topics.RECORD_MAX_BYTES + topics.DEAD_LETTER_HEADERS_MAX_BYTES
                )

        # A drifted config is put back, a config someone else set on the topic stays.
        drifted = topic_prefix + topics.intake_topic(PARTNER)
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, drifted, {"max.message.bytes": "1000", "segment.ms": "3600000"}
                )
            ]
        )

        async def max_message_bytes_is(value: str) -> bool:
            # Configs reach every broker a moment after the controller took them: ask until then.
            effective, _ = (await topic_configs(admin, [drifted]))[drifted]
            return effective["max.message.bytes"] == value

        await _until(lambda: max_message_bytes_is("1000"), "the drifted config visible", timeout_s=15)
        again = await provision_topics(kafka, topic_prefix, partners=[PARTNER])
        assert again.created == []
        assert again.altered == {drifted: {"max.message.bytes": str(topics.RECORD_MAX_BYTES)}}
        await _until(
            lambda: max_message_bytes_is(str(topics.RECORD_MAX_BYTES)), "the config fixed", timeout_s=15
        )
        _, overrides = (await topic_configs(admin, [drifted]))[drifted]
        assert overrides["segment.ms"] == "3600000"
    finally:
        await admin.close()

    # What a partner may publish fits its topic, and its dead letter (the same bytes plus the
    # dead-letter headers) fits the `.dlq` topic.
    body = b"x" * (topics.RECORD_MAX_BYTES - 1024)
    headers = [(f"dlq_h{i}", b"y" * 500) for i in range(8)]  # 4 KiB of headers and more
    producer = AIOKafkaProducer(**kafka.options(), acks="all", max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        partner = topic_prefix + topics.intake_topic(PARTNER)
        await producer.send_and_wait(partner, body, key=b"w1")
        await producer.send_and_wait(topics.dead_letter_topic(partner), body, key=b"w1", headers=headers)
        with pytest.raises(KafkaError):  # more than the partner-facing limit is refused by the broker
            await producer.send_and_wait(partner, body + b"x" * 8192, key=b"w1")
    finally:
        await producer.stop()


async def test_ensure_topic_gives_catalogue_topics_their_sizes(infra: Infra, topic_prefix: str) -> None:
    """shared.dlq and the tests create single topics with ensure_topic: same sizes, same rule."""
    dlq = topic_prefix + topics.dead_letter_topic(topics.intake_topic(PARTNER))
    other = topic_prefix + "foundation"
    assert await ensure_topic(infra.kafka, dlq) == 4
    assert await ensure_topic(infra.kafka, other, partitions=2) == 2
    assert await ensure_topic(infra.kafka, other) == 2  # exists: left as it is
    admin = AIOKafkaAdminClient(**infra.kafka.options())
    await admin.start()
    try:
        configs = await topic_configs(admin, [dlq])
    finally:
        await admin.close()
    assert configs[dlq][0]["max.message.bytes"] == str(topics.DEAD_LETTER_MAX_BYTES)


# --- three brokers: an acknowledged record survives the leader's death ---------------------------

KAFKA_SH = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka.sh"


def _free_port_base() -> int:
    """An even port P with P..P+10 free on loopback: three client, three controller and (P+6 on)
    three TLS ports."""
    rng = random.Random()
    for _ in range(200):
        # Below Linux's ephemeral range (32768 on): a port the check found free is not taken by
        # an outgoing connection (a node's own, to its peers) before the node binds it.
        base = rng.randrange(20000, 32000, 2)
        sockets = []
        try:
            for port in range(base, base + 11):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise AssertionError("no six free ports in a row on 127.0.0.1")


class LocalCluster:
    """A 3-broker KRaft cluster of this test's own, through deploy/local/kafka.sh."""

    def __init__(self, cache: Path, base_port: int) -> None:
        libs = os.environ.get("MUBA_KAFKA_LIBS")
        if not libs or not shutil.which("java"):
            pytest.fail("set MUBA_KAFKA_LIBS to the Kafka jars folder (make test does) to start a cluster")
        # Its own passwords and CA too: never the secrets of the Kafka the other tests use.
        self.secrets = cache / "secrets"
        self.env = {
            **os.environ,
            "MUBA_CACHE": str(cache),
            "MUBA_SECRETS_DIR": str(self.secrets),
            "MUBA_KAFKA_LIBS": libs,
            "KAFKA_BROKERS": "3",
            "KAFKA_PORT": str(base_port),
            "KAFKA_CONTROLLER_PORT": str(base_port + 1),
            "KAFKA_TLS_PORT": str(base_port + 6),
            "KAFKA_HEAP": "256m",
        }

    async def run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(KAFKA_SH), *args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=150)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, f"kafka.sh {' '.join(args)} exited {proc.returncode}:\n{text}"
        return text

    async def bootstrap(self) -> str:
        return (await self.run("bootstrap")).strip()

    def admin(self, bootstrap: str) -> KafkaConnection:
        """The cluster's super user (its password is in the cluster's own secrets dir)."""
        return KafkaConnection.build(
            bootstrap_servers=bootstrap, username="admin", environ={"MUBA_SECRETS_DIR": str(self.secrets)}
        )


async def _partition_state(admin: AIOKafkaAdminClient, topic: str, partition: int) -> dict[str, Any]:
    for described in await admin.describe_topics([topic]):
        for p in described.get("partitions") or []:
            if p["partition"] == partition:
                return dict(p)
    raise AssertionError(f"{topic}/{partition} not found")


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60) -> None:
    """Poll `check`; while a node is down, an admin request that lands on it fails: ask again."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if await check():
                return
        except KafkaError:
            pass
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f} s: {what}"
        await asyncio.sleep(0.25)


@pytest.mark.kafka_cluster
async def test_three_brokers_lose_no_acknowledged_record_when_the_leader_dies(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "cache", _free_port_base())
    try:
        print("\n" + (await cluster.run("up")).strip())
        bootstrap = await cluster.bootstrap()
        assert len(bootstrap.split(",")) == 3
        prefix = f"ha-{uuid.uuid4().hex[:6]}-"
        kafka = cluster.admin(bootstrap)
        report = await provision_topics(kafka, prefix, partners=[PARTNER])
        assert (report.replication_factor, report.min_insync_replicas) == (3, 2)

        topic = prefix + topics.intake_topic(PARTNER)
        admin = AIOKafkaAdminClient(**kafka.options())
        await admin.start()
        producer = AIOKafkaProducer(
            **kafka.options(), acks="all", enable_idempotence=True, request_timeout_ms=30000
        )
        await producer.start()
        try:
            assert len((await admin.describe_cluster())["brokers"]) == 3
            before = await _partition_state(admin, topic, 0)
            assert sorted(before["isr"]) == [1, 2, 3], before
            leader = before["leader"]

            acknowledged: list[bytes] = []
            failed: list[bytes] = []

            async def send(i: int) -> None:
                value = f"registration-{i}".encode()
                try:
                    await producer.send_and_wait(topic, value, key=b"w", partition=0)
                    acknowledged.append(value)
                except KafkaError:
                    failed.append(value)  # not acknowledged: the producer was told, nothing promised

            for i in range(100):
                await send(i)
            # The partition leader dies without a goodbye (no controlled shutdown).
            print((await cluster.run("kill-node", str(leader))).strip())
            killed_at = time.monotonic()
            for i in range(100, 200):
                await send(i)

            resumed_after = time.monotonic() - killed_at  # the first write after the kill waits for a leader
            after: dict[str, Any] = {}

            async def new_leader() -> bool:
                after.update(await _partition_state(admin, topic, 0))
                return after["leader"] not in (-1, leader) and leader not in after["isr"]

            await _until(new_leader, f"a leader other than node {leader}")
            print(
                f"leader {leader} killed; node {after['leader']} leads, isr {after['isr']}; the 100 writes "
                f"after the kill took {resumed_after:.1f} s; {len(acknowledged)} acknowledged, {len(failed)} refused"
            )
            assert len(after["isr"]) >= 2
            assert [v for v in acknowledged if int(v.split(b"-")[1]) >= 100], (
                "nothing acknowledged after the kill"
            )

            # The dead node comes back and catches up; it must not bring back an older history.
            print((await cluster.run("start-node", str(leader))).strip())

            async def rejoined() -> bool:
                return leader in (await _partition_state(admin, topic, 0))["isr"]

            await _until(rejoined, f"node {leader} back in sync")
        finally:
            await producer.stop()
            await admin.close()

        consumer = AIOKafkaConsumer(**kafka.options(), enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            stored: list[bytes] = []
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                stored += [r.value for r in batch.get(tp, []) if r.value is not None]
        finally:
            await consumer.stop()
        lost = [v for v in acknowledged if v not in set(stored)]
        duplicated = sorted({v for v in stored if stored.count(v) > 1})
        print(f"stored {len(stored)}, lost={len(lost)} duplicated={len(duplicated)}")
        assert lost == []
        assert duplicated == []
        assert stored == sorted(stored, key=lambda v: int(v.split(b"-")[1]))  # in the order sent
    finally:
        print((await cluster.run("down")).strip())
