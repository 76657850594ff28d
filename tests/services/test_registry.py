"""The registry alone, against real Kafka and PostgreSQL: submissions in, events and rows out."""

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared import topics
from shared.testing import Infra, publish_json, record_events, sample_registration
from tests.support import running, truncate_schema


@pytest.fixture
async def registry(infra: Infra, service_env: Callable[..., dict[str, Any]]) -> Any:
    env = service_env(REGISTRY_DATABASE_URL=infra.database_urls["registry"])
    await truncate_schema(infra, "registry")
    app = create_app(RegistrySettings())
    async with running(app):
        yield env["prefix"]


async def test_typical_journey_valid_invalid_repeated_and_duplicate(infra: Infra, registry: str) -> None:
    prefix = registry
    valid = [sample_registration(i, run=11) for i in range(20)]
    invalid = dict(sample_registration(100, run=11), nik="1234", phone="12345", kecamatan="Jakarta Selatan")
    repeated = valid[0]  # same source + submission_id: nothing new
    same_nik = dict(valid[1], submission_id="another-submission")  # DUPLICATE_NIK
    async with record_events(
        infra.kafka_bootstrap_servers,
        prefix + topics.WORKER_REGISTERED,
        prefix + topics.REGISTRATION_REJECTED,
    ) as recorder:
        await publish_json(
            infra.kafka_bootstrap_servers,
            prefix + topics.REGISTRATION_SUBMITTED,
            [(None, body) for body in [*valid, invalid]],
        )
        await recorder.wait_for(21)
        await publish_json(
            infra.kafka_bootstrap_servers,
            prefix + topics.REGISTRATION_SUBMITTED,
            [(None, repeated), (None, same_nik)],
        )
        events = await recorder.wait_for(22)
        events = await recorder.settle(1.5)

    registered = [e for e in events if e.topic.endswith(topics.WORKER_REGISTERED)]
    rejected = [e for e in events if e.topic.endswith(topics.REGISTRATION_REJECTED)]
    assert len(registered) == 20
    assert {e.payload["nik"] for e in registered} == {v["nik"] for v in valid}
    assert all(e.key == e.payload["worker_id"] for e in registered)
    assert all(
        e.headers["ce_specversion"] == "1.0" and e.headers["ce_type"].endswith("worker-registered.v1")
        for e in registered
    )
    assert registered[0].payload["phone"].startswith("+628")

    assert len(rejected) == 2
    codes = {e.payload["submission_id"]: {r["code"] for r in e.payload["reasons"]} for e in rejected}
    assert codes[invalid["submission_id"]] >= {"NIK_FORMAT", "PHONE_INVALID", "KECAMATAN_UNKNOWN"}
    assert codes["another-submission"] == {"DUPLICATE_NIK"}
    assert all("nik" not in e.payload for e in rejected)

    conn = await asyncpg.connect(infra.database_urls["registry"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM worker") == 20
        outcomes = dict(await conn.fetch("SELECT outcome, count(*) FROM submission GROUP BY outcome"))
        assert outcomes == {"registered": 20, "rejected": 2}
    finally:
        await conn.close()


async def test_not_json_goes_to_the_dead_letter_topic_and_the_consumer_moves_on(
    infra: Infra, registry: str
) -> None:
    prefix = registry
    source_topic = prefix + topics.REGISTRATION_SUBMITTED
    async with record_events(
        infra.kafka_bootstrap_servers,
        topics.dead_letter_topic(source_topic),
        prefix + topics.WORKER_REGISTERED,
    ) as recorder:
        await publish_json(
            infra.kafka_bootstrap_servers,
            source_topic,
            [(None, b"\xff\xfe not json"), (None, b"[1, 2]"), (None, sample_registration(1, run=12))],
        )
        events = await recorder.wait_for(3)
    letters = {e.headers["dlq_id"]: e for e in events if e.topic.endswith(".dlq")}  # copies count once
    dead = sorted(letters.values(), key=lambda e: int(e.headers["dlq_original_offset"]))
    assert [e.headers["dlq_reason"] for e in dead] == ["NOT_JSON", "NOT_A_JSON_OBJECT"]
    assert dead[0].body == b"\xff\xfe not json"
    assert dead[0].headers["dlq_original_topic"] == source_topic
    assert any(e.topic.endswith(topics.WORKER_REGISTERED) for e in events)
