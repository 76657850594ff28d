"""The registry alone, against real Kafka and PostgreSQL: submissions in, events and rows out."""

import json
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.registry.app import MIGRATIONS as REGISTRY_MIGRATIONS
from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared import contracts, topics
from shared.db import migrate
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events, submit_registrations
from testkit.samples import sample_registration
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
        infra.kafka,
        prefix + contracts.WORKER_REGISTERED.topic,
        prefix + contracts.REGISTRATION_REJECTED.topic,
    ) as recorder:
        await submit_registrations(infra.kafka, prefix, [*valid, invalid])
        await recorder.wait_for(21)
        await submit_registrations(infra.kafka, prefix, [repeated, same_nik])
        events = await recorder.wait_for(22)
        events = await recorder.settle(1.5)

    registered = [e for e in events if e.topic.endswith(contracts.WORKER_REGISTERED.topic)]
    rejected = [e for e in events if e.topic.endswith(contracts.REGISTRATION_REJECTED.topic)]
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


async def test_a_nik_that_disagrees_is_registered_and_its_event_carries_the_warnings(
    infra: Infra, registry: str
) -> None:
    """1606015208900003 is a woman born 1990-08-12 in Sekayu. Stated born 1990-08-13 and male, with
    the Kepmendagri spelling of kecamatan 13, it is registered (BPJS's Dukcapil check decides) and
    the warnings travel on the topic and stay with the worker's row."""
    prefix = registry
    mismatch = dict(
        sample_registration(1, run=14),
        nik="1606015208900003",
        birth_date="1990-08-13",
        sex="L",
        kecamatan="Lawan Wetan",
    )
    unknown_area = dict(
        sample_registration(2, run=14), nik="1699995208900003", birth_date="1990-08-12", sex="P"
    )
    agrees = sample_registration(3, run=14)
    async with record_events(
        infra.kafka,
        prefix + contracts.WORKER_REGISTERED.topic,
        prefix + contracts.REGISTRATION_REJECTED.topic,
    ) as recorder:
        await submit_registrations(infra.kafka, prefix, [mismatch, unknown_area, agrees])
        await recorder.wait_for(3)
        events = await recorder.settle(1.0)

    assert all(e.topic.endswith(contracts.WORKER_REGISTERED.topic) for e in events), [
        e.payload for e in events
    ]
    by_nik = {e.payload["nik"]: e.payload for e in events}
    warned = by_nik["1606015208900003"]
    assert (warned["birth_date"], warned["sex"], warned["kecamatan_code"]) == ("1990-08-13", "L", "13")
    assert [(w["field"], w["code"]) for w in warned["warnings"]] == [
        ("nik", "NIK_BIRTH_DATE_MISMATCH"),
        ("nik", "NIK_SEX_MISMATCH"),
    ]
    assert all("Dukcapil" in w["message"] for w in warned["warnings"])
    assert [w["code"] for w in by_nik["1699995208900003"]["warnings"]] == ["NIK_AREA_UNKNOWN"]
    assert by_nik[agrees["nik"]]["warnings"] == []

    conn = await asyncpg.connect(infra.database_urls["registry"])
    try:
        rows = {
            r["nik"]: json.loads(r["warnings"]) for r in await conn.fetch("SELECT nik, warnings FROM worker")
        }
    finally:
        await conn.close()
    assert rows["1606015208900003"] == warned["warnings"]
    assert rows[agrees["nik"]] == []


async def test_not_json_goes_to_the_dead_letter_topic_and_the_consumer_moves_on(
    infra: Infra, registry: str
) -> None:
    prefix = registry
    source_topic = prefix + topics.intake_topic("desa-online")
    async with record_events(
        infra.kafka,
        topics.dead_letter_topic(source_topic),
        prefix + contracts.WORKER_REGISTERED.topic,
    ) as recorder:
        await publish_json(
            infra.kafka,
            source_topic,
            [(None, b"\xff\xfe not json"), (None, b"[1, 2]"), (None, sample_registration(1, run=12))],
        )
        events = await recorder.wait_for(3)
    letters = {e.headers["dlq_id"]: e for e in events if e.topic.endswith(".dlq")}  # copies count once
    # Keyless records land on any partition: their offsets do not order them, their bodies name them.
    dead = sorted(letters.values(), key=lambda e: e.body != b"\xff\xfe not json")
    assert [e.headers["dlq_reason"] for e in dead] == ["NOT_JSON", "NOT_A_JSON_OBJECT"]
    assert dead[0].body == b"\xff\xfe not json"
    assert dead[0].headers["dlq_original_topic"] == source_topic
    assert any(e.topic.endswith(contracts.WORKER_REGISTERED.topic) for e in events)


async def test_registration_numbers_follow_the_order_of_registration_through_a_clock_step(
    infra: Infra, registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry numbers workers from its database (registration_seq) and publishes the number:
    a clock stepped an hour back (NTP, or MUBA_CLOCK_SKEW_S from the fault campaign) moves
    registered_at back, never the number."""
    prefix = registry
    submissions = [sample_registration(i, run=13) for i in range(4)]
    async with record_events(infra.kafka, prefix + contracts.WORKER_REGISTERED.topic) as recorder:
        for n, body in enumerate(submissions, start=1):
            if n == 3:
                monkeypatch.setenv("MUBA_CLOCK_SKEW_S", "-3600")  # the step, on the running service
            await submit_registrations(infra.kafka, prefix, [body])
            await recorder.wait_for(n)  # one at a time: the order of registration is known
        events = await recorder.settle(0.5)
    by_nik = {e.payload["nik"]: e.payload for e in events}
    announced = [by_nik[s["nik"]] for s in submissions]  # in the order they were registered
    numbers = [a["registration_seq"] for a in announced]
    stamped = [datetime.fromisoformat(a["registered_at"]) for a in announced]
    assert all(isinstance(n, int) for n in numbers) and numbers == sorted(set(numbers)), numbers
    assert stamped[2] < stamped[1] - timedelta(minutes=50)  # the step did reach the stamps ...
    assert sorted(range(4), key=stamped.__getitem__) != [0, 1, 2, 3]  # ... and would reorder

    conn = await asyncpg.connect(infra.database_urls["registry"])
    try:
        rows = {r["nik"]: r for r in await conn.fetch("SELECT * FROM worker")}
    finally:
        await conn.close()
    for a in announced:
        row = rows[a["nik"]]
        assert row["registration_seq"] == a["registration_seq"]
        assert row["registered_at"] == datetime.fromisoformat(a["registered_at"])  # one story for people


async def test_the_source_is_the_partner_whose_intake_a_registration_came_on(
    infra: Infra, registry: str
) -> None:
    """Each partner writes its own intake topic (only it may); the registry takes the source from
    the topic, and refuses a body that claims another partner (SOURCE_MISMATCH on `source`),
    recording the partner the topic proves, never the claim."""
    prefix = registry
    from_desa = sample_registration(1, source="desa-online", run=14)
    silent = {k: v for k, v in sample_registration(2, source="kud-sekayu", run=14).items() if k != "source"}
    # kud-sekayu sends a body that claims to come from desa-online, with desa-online's next id.
    forged = dict(sample_registration(3, source="desa-online", run=14), submission_id="desa-online-14-9")
    # ... which desa-online itself then really sends.
    genuine = dict(sample_registration(4, source="desa-online", run=14), submission_id="desa-online-14-9")
    async with record_events(
        infra.kafka,
        prefix + contracts.WORKER_REGISTERED.topic,
        prefix + contracts.REGISTRATION_REJECTED.topic,
    ) as recorder:
        await submit_registrations(infra.kafka, prefix, [from_desa])
        await submit_registrations(infra.kafka, prefix, [silent, forged], partner="kud-sekayu")
        await recorder.wait_for(3)
        await submit_registrations(infra.kafka, prefix, [genuine])
        await recorder.wait_for(4)
        events = await recorder.settle(1.0)

    registered = {
        e.payload["nik"]: e.payload for e in events if e.topic.endswith(contracts.WORKER_REGISTERED.topic)
    }
    rejected = [e.payload for e in events if e.topic.endswith(contracts.REGISTRATION_REJECTED.topic)]
    assert set(registered) == {from_desa["nik"], silent["nik"], genuine["nik"]}
    assert registered[genuine["nik"]]["source"] == "desa-online"
    assert registered[from_desa["nik"]]["source"] == "desa-online"
    assert registered[silent["nik"]]["source"] == "kud-sekayu"  # no source in the body: the topic's
    assert len(rejected) == 1
    (refusal,) = rejected
    assert refusal["source"] == "kud-sekayu"  # the sender, not the partner it claimed to be
    assert refusal["submission_id"] == "desa-online-14-9"
    assert [(r["field"], r["code"]) for r in refusal["reasons"]] == [("source", "SOURCE_MISMATCH")]

    conn = await asyncpg.connect(infra.database_urls["registry"])
    try:
        rows = await conn.fetch(
            "SELECT source, submission_id, outcome FROM submission ORDER BY submission_id, source"
        )
        workers = await conn.fetch("SELECT nik, source FROM worker")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("desa-online", from_desa["submission_id"], "registered"),
        ("desa-online", "desa-online-14-9", "registered"),
        ("kud-sekayu", "desa-online-14-9", "rejected"),
        ("kud-sekayu", silent["submission_id"], "registered"),
    ]
    # desa-online's own submission under that id was still its to make: the forged one took nothing.
    assert {r["nik"]: r["source"] for r in workers} == {
        from_desa["nik"]: "desa-online",
        silent["nik"]: "kud-sekayu",
        genuine["nik"]: "desa-online",
    }


@pytest.fixture
async def scratch_registry(infra: Infra) -> AsyncIterator[str]:
    """A throw-away role with its own schema, to run the registry's migrations one by one."""
    name = f"reg_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_database_url)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{name}'")
        await admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
        await admin.execute(f"ALTER ROLE {name} SET search_path = {name}")
        db = await admin.fetchval("SELECT current_database()")
        await admin.execute(f"GRANT CONNECT ON DATABASE {db} TO {name}")
        yield f"postgresql://{name}:{name}@{infra.admin_database_url.split('@', 1)[1]}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await admin.execute(f"REVOKE ALL ON DATABASE {db} FROM {name}")
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.close()


async def test_the_migration_numbers_existing_workers_in_registration_order(
    scratch_registry: str, tmp_path: Path
) -> None:
    """Workers registered before registration_seq existed are numbered by registered_at (the
    database's now(), one clock), ties (one batch, one transaction) by their submission's arrival;
    new workers continue after them, numbered by the database alone."""
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(REGISTRY_MIGRATIONS.glob("*.sql")):
        if path.name < "0003":
            shutil.copy(path, before / path.name)
    await migrate(scratch_registry, before)
    conn = await asyncpg.connect(scratch_registry)
    try:
        t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
        # (name, registered_at): inserted in another order than registered; b and c share a
        # transaction's now(), and c's submission arrived first.
        registered = [("d", t0 + timedelta(minutes=9)), ("b", t0), ("a", t0 - timedelta(hours=1)), ("c", t0)]
        submission_order = ["a", "c", "b", "d"]
        ids = {name: uuid.uuid4() for name, _ in registered}
        for i, (name, at) in enumerate(registered):
            await conn.execute(
                "INSERT INTO worker (worker_id, nik, source, submission_id, full_name, birth_date, sex, phone,"
                " kecamatan_code, occupation, registered_at)"
                " VALUES ($1, $2, 'desa-online', $3, $3, '1990-01-01', 'L', '+6281200000000', '01', 'petani', $4)",
                ids[name],
                f"16060101019000{i:02d}",
                name,
                at,
            )
        for name in submission_order:
            await conn.execute(
                "INSERT INTO submission (source, submission_id, event_id, outcome, worker_id)"
                " VALUES ('desa-online', $1, $1, 'registered', $2)",
                name,
                ids[name],
            )
        applied = await migrate(scratch_registry, REGISTRY_MIGRATIONS)
        # 0003 and every migration after it (0004 adds the worker's warnings, an empty list here).
        assert applied == sorted(p.name for p in REGISTRY_MIGRATIONS.glob("*.sql") if p.name >= "0003")
        numbered = await conn.fetch(
            "SELECT submission_id, registration_seq FROM worker ORDER BY registration_seq"
        )
        assert [(r["submission_id"], r["registration_seq"]) for r in numbered] == [
            ("a", 1),
            ("c", 2),
            ("b", 3),
            ("d", 4),
        ]
        new = await conn.fetchval(
            "INSERT INTO worker (worker_id, nik, source, submission_id, full_name, birth_date, sex, phone,"
            " kecamatan_code, occupation, registered_at)"
            " VALUES ($1, '1606010101900099', 'desa-online', 'e', 'e', '1990-01-01', 'L', '+6281200000000',"
            " '01', 'petani', $2) RETURNING registration_seq",
            uuid.uuid4(),
            t0 - timedelta(days=1),  # stamped by a host far behind: still numbered last
        )
        assert new == 5
        with pytest.raises(asyncpg.GeneratedAlwaysError):  # nobody numbers a worker but the database
            await conn.execute("UPDATE worker SET registration_seq = 1 WHERE submission_id = 'e'")
    finally:
        await conn.close()
