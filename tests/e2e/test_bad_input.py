"""A corpus of bad input on every partner-facing topic: each one is rejected precisely (a
rejection event with the right codes, or a dead letter with the reason), the consumers catch up
(lag 0) and good traffic after it is unaffected."""

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.registry.app import create_app as create_registry
from services.registry.settings import RegistrySettings
from services.sponsorship.app import create_app as create_sponsorship
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts, topics
from shared.envelope import event_type, new_envelope
from shared.kafka_security import KafkaConnection
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events, submit_registrations
from testkit.samples import make_nik, sample_registration
from tests.support import running, truncate_schema

TODAY = datetime.now(ZoneInfo("Asia/Jakarta")).date()
PARTNER = "corpus"  # the partner whose intake the corpus arrives on
BASE = dict(sample_registration(3, source=PARTNER, run=4242), declared_income_idr=None)


def reg(n: int, **change: Any) -> dict[str, Any]:
    return {**BASE, "submission_id": f"bad-{n}", **change}


def without(n: int, field: str) -> dict[str, Any]:
    body = reg(n)
    del body[field]
    return body


def born(years_ago: int, days: int = 0) -> date:
    return date(TODAY.year - years_ago, TODAY.month, min(TODAY.day, 28)).fromordinal(
        date(TODAY.year - years_ago, TODAY.month, min(TODAY.day, 28)).toordinal() + days
    )


def aged(n: int, birth: date) -> dict[str, Any]:
    return reg(n, birth_date=birth.isoformat(), sex="L", nik=make_nik("01", birth, "L", 17))


# (body, exact set of reason codes). Every body is also a JSON object, so it gets a rejection event.
REGISTRATIONS: list[tuple[dict[str, Any], set[str]]] = [
    (reg(1, nik="16060152089"), {"NIK_FORMAT"}),
    (reg(2, nik="16060152O8900003"), {"NIK_FORMAT"}),
    (reg(3, nik="99" + BASE["nik"][2:]), {"NIK_PROVINCE"}),
    (reg(4, nik=BASE["nik"][:12] + "0000"), {"NIK_SERIAL"}),
    # Digits 7-12 that are no date (day 72); a NIK that merely disagrees with the stated sex or birth
    # date is registered with a warning (tests/services/test_registry.py), so it is not in the corpus.
    (reg(5, nik=BASE["nik"][:6] + "72" + BASE["nik"][8:]), {"NIK_FORMAT"}),
    (reg(6, birth_date="1990-13-45"), {"BIRTH_DATE_FORMAT"}),
    (reg(7, sex="X"), {"SEX_INVALID"}),
    (reg(8, kecamatan="Palembang"), {"KECAMATAN_UNKNOWN"}),
    (reg(9, phone="021-555-1234"), {"PHONE_INVALID"}),
    (reg(10, phone="0812"), {"PHONE_INVALID"}),
    (reg(11, full_name="Budi123"), {"NAME_INVALID"}),
    (reg(12, full_name="A" * 101), {"NAME_TOO_LONG"}),
    (reg(13, occupation=""), {"MISSING_FIELD"}),
    (reg(14, declared_income_idr=-5), {"INCOME_INVALID"}),
    (reg(15, declared_income_idr=1500000.5), {"INCOME_INVALID"}),
    (reg(16, desa=["a"]), {"DESA_INVALID"}),
    (aged(17, born(15, days=1)), {"AGE_BELOW_MINIMUM"}),
    (aged(18, born(61)), {"AGE_ABOVE_MAXIMUM"}),
    (reg(19, nik=12345), {"INVALID_TYPE"}),
    (reg(20, birth_date=19900812), {"INVALID_TYPE"}),
    (reg(21, sex=True), {"INVALID_TYPE"}),
    (reg(22, kecamatan=["01"]), {"INVALID_TYPE"}),
    *[
        (without(30 + i, f), {"MISSING_FIELD"})
        for i, f in enumerate(["nik", "full_name", "birth_date", "sex", "phone", "kecamatan", "occupation"])
    ],
    (
        reg(40, nik="123", phone="12", kecamatan="Bandung", full_name="R2-D2"),
        {"NIK_FORMAT", "PHONE_INVALID", "KECAMATAN_UNKNOWN", "NAME_INVALID"},
    ),
    (reg(41, full_name="x" * 1_000_000), {"NAME_TOO_LONG"}),
    (reg(42, kecamatan="k" * 500_000, occupation="o" * 500_000), {"KECAMATAN_UNKNOWN", "OCCUPATION_INVALID"}),
    (reg(43, nik="1606 0152 1390 0003", sex="L"), {"NIK_FORMAT"}),  # month 13, with separators
    # The source is the intake's partner: a body naming another one is refused, whatever it names.
    (reg(44, source="desa-online"), {"SOURCE_MISMATCH"}),
    (reg(45, source="Corpus"), {"SOURCE_MISMATCH"}),
    (reg(46, source=42), {"SOURCE_MISMATCH"}),
    (reg(47, source="s" * 100_000), {"SOURCE_MISMATCH"}),
    (reg(48, source="desa-online", nik="123"), {"SOURCE_MISMATCH", "NIK_FORMAT"}),
]

# (body, dead-letter reason): nothing a registration can be made of.
UNREADABLE: list[tuple[bytes, str]] = [
    (b"\xff\xfe\xfd", "NOT_JSON"),
    (b'{"nik": ', "NOT_JSON"),
    (b"[]", "NOT_A_JSON_OBJECT"),
    (b'[{"nik": "1606015208900003"}]', "NOT_A_JSON_OBJECT"),
    (b"42", "NOT_A_JSON_OBJECT"),
    (b"null", "NOT_A_JSON_OBJECT"),
    (b"", "NOT_JSON"),
    (b"{" + b'"a": 1, ' * 120_000 + b'"b": 2', "NOT_JSON"),  # ~1 MB, cut short
]


def commitment(n: int, **change: Any) -> dict[str, Any]:
    return {
        "commitment_id": f"bad-c{n}",
        "company_id": "co",
        "company_name": "PT Uji",
        "kecamatan": ["01"],
        "slots": 5,
        "months": 12,
        "package": "JKK_JKM",
        "email": "csr@uji.example",
        **change,
    }


COMMITMENTS: list[tuple[dict[str, Any], set[str]]] = [
    (commitment(1, package="GOLD"), {"PACKAGE_UNKNOWN"}),
    (commitment(2, slots=-3), {"SLOTS_INVALID"}),
    (commitment(3, months=0), {"MONTHS_INVALID"}),
    (commitment(4, email=None), {"CONTACT_MISSING"}),
    (commitment(5, kecamatan=["Atlantis"]), {"KECAMATAN_UNKNOWN"}),
    (commitment(6, slots="5"), {"INVALID_TYPE"}),
    (commitment(7, email="not-an-address"), {"EMAIL_INVALID"}),
]


@pytest.fixture
async def services(infra: Infra, service_env: Callable[..., dict[str, Any]]) -> AsyncIterator[str]:
    env = service_env(
        REGISTRY_DATABASE_URL=infra.database_urls["registry"],
        SPONSORSHIP_DATABASE_URL=infra.database_urls["sponsorship"],
    )
    await truncate_schema(infra, "registry")
    await truncate_schema(infra, "sponsorship")
    async with (
        running(create_registry(RegistrySettings())),
        running(create_sponsorship(SponsorshipSettings())),
    ):
        yield env["prefix"]


async def test_bad_input_corpus(infra: Infra, services: str) -> None:
    p, kafka = services, infra.kafka
    intake = p + topics.intake_topic(PARTNER)
    # The office's commitments as the operator, the BPJS side's answers as `bpjs`: as in production.
    operator, bpjs = infra.kafka_as("operator"), infra.kafka_as("bpjs")
    assert len(REGISTRATIONS) + len(UNREADABLE) + len(COMMITMENTS) + 5 >= 50
    watched = [
        p + t
        for t in (
            contracts.REGISTRATION_REJECTED.topic,
            contracts.WORKER_REGISTERED.topic,
            contracts.COMMITMENT_REJECTED.topic,
            contracts.COMMITMENT_ACCEPTED.topic,
            contracts.ENROLLMENT_COMPLETED.topic,
        )
    ]
    dlq = [
        topics.dead_letter_topic(p + t)
        for t in (
            topics.intake_topic(PARTNER),
            contracts.COMMITMENT_SUBMITTED.topic,
            contracts.ENROLLMENT_CONFIRMED.topic,
            contracts.ENROLLMENT_REJECTED.topic,
        )
    ]
    async with record_events(kafka, *watched, *dlq) as rec:
        await publish_json(kafka, intake, [(None, b) for b, _ in REGISTRATIONS])
        await publish_json(kafka, intake, [(None, b) for b, _ in UNREADABLE])
        await publish_json(
            operator, p + contracts.COMMITMENT_SUBMITTED.topic, [(None, b) for b, _ in COMMITMENTS]
        )
        # A v2 event on a v1 topic, BPJS answers for requests that never existed or that break the contract.
        v2 = new_envelope(event_type("registration-submitted.v2"), "/partner").headers()
        await publish_json(kafka, intake, [(None, reg(50))], v2)
        never = {
            "enrollment_id": str(uuid.uuid4()),
            "worker_id": str(uuid.uuid4()),
            "kpj_number": "12345678901",
            "coverage_start": "2026-12-01",
            "coverage_end": "2027-11-30",
            "confirmed_at": datetime.now(UTC).isoformat(),
        }
        await publish_json(bpjs, p + contracts.ENROLLMENT_CONFIRMED.topic, [(None, never)])
        await publish_json(
            bpjs, p + contracts.ENROLLMENT_CONFIRMED.topic, [(None, dict(never, kpj_number="KPJ-ABC"))]
        )
        await publish_json(bpjs, p + contracts.ENROLLMENT_REJECTED.topic, [(None, {"enrollment_id": "x"})])
        await publish_json(operator, p + contracts.COMMITMENT_SUBMITTED.topic, [(None, b'["*"]')])
        # Then good traffic: it must flow as if nothing had happened.
        good = dict(sample_registration(7, source="corpus-good", run=4243), declared_income_idr=None)
        await publish_json(
            operator, p + contracts.COMMITMENT_SUBMITTED.topic, [(None, commitment(99, kecamatan=["*"]))]
        )
        await submit_registrations(kafka, p, [good])  # another partner's intake
        await rec.wait_for(1, topic=p + contracts.WORKER_REGISTERED.topic, timeout_s=60)
        await rec.wait_for(len(REGISTRATIONS), topic=p + contracts.REGISTRATION_REJECTED.topic, timeout_s=60)
        await rec.wait_for(len(COMMITMENTS), topic=p + contracts.COMMITMENT_REJECTED.topic, timeout_s=60)
        events = await rec.settle(2.0)

    rejected = {
        e.payload["submission_id"]: {r["code"] for r in e.payload["reasons"]}
        for e in events
        if e.topic == p + contracts.REGISTRATION_REJECTED.topic
    }
    wrong = {
        b["submission_id"]: (codes, rejected.get(b["submission_id"]))
        for b, codes in REGISTRATIONS
        if rejected.get(b["submission_id"]) != codes
    }
    assert wrong == {}, f"expected vs got: {wrong}"
    for e in events:
        if e.topic == p + contracts.REGISTRATION_REJECTED.topic:
            assert all(r["field"] and r["message"] for r in e.payload["reasons"])
            assert len(e.body) < 10_000, "a rejection never echoes a huge input"
    commitment_codes = {
        e.payload["commitment_id"]: {r["code"] for r in e.payload["reasons"]}
        for e in events
        if e.topic == p + contracts.COMMITMENT_REJECTED.topic
    }
    assert {b["commitment_id"]: commitment_codes.get(b["commitment_id"]) for b, _ in COMMITMENTS} == {
        b["commitment_id"]: codes for b, codes in COMMITMENTS
    }

    reasons = Counter(
        (e.topic.removeprefix(p), e.headers["dlq_reason"]) for e in events if e.topic.endswith(".dlq")
    )
    intake_letters = topics.dead_letter_topic(topics.intake_topic(PARTNER))
    expected = Counter((intake_letters, r) for _, r in UNREADABLE)
    expected.update(
        {
            (intake_letters, "UNKNOWN_VERSION"): 1,
            (topics.dead_letter_topic(contracts.ENROLLMENT_CONFIRMED.topic), "UNKNOWN_ENROLLMENT"): 1,
            (topics.dead_letter_topic(contracts.ENROLLMENT_CONFIRMED.topic), "CONTRACT_VIOLATION"): 1,
            (topics.dead_letter_topic(contracts.ENROLLMENT_REJECTED.topic), "CONTRACT_VIOLATION"): 1,
            (topics.dead_letter_topic(contracts.COMMITMENT_SUBMITTED.topic), "NOT_A_JSON_OBJECT"): 1,
        }
    )
    assert reasons == expected
    registered = [e.payload for e in events if e.topic == p + contracts.WORKER_REGISTERED.topic]
    assert [w["nik"] for w in registered] == [good["nik"]]
    assert [
        e.payload["commitment_id"] for e in events if e.topic == p + contracts.COMMITMENT_ACCEPTED.topic
    ] == ["bad-c99"]
    assert await _lag(kafka, p) == 0


async def _lag(kafka: KafkaConnection, prefix: str) -> int:
    """Messages on the services' input topics not yet committed by their consumer groups."""
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(**kafka.options())
    await consumer.start()
    try:
        lag = 0
        for group, _ in await admin.list_consumer_groups():
            if not group.startswith(prefix):
                continue
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(committed))
            lag += sum(
                ends[tp] - meta.offset for tp, meta in committed.items() if isinstance(tp, TopicPartition)
            )
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def test_corpus_is_big_enough() -> None:
    assert len(REGISTRATIONS) + len(UNREADABLE) + len(COMMITMENTS) + 5 >= 50
    assert len({json.dumps(b, sort_keys=True)[:2000] for b, _ in REGISTRATIONS}) == len(REGISTRATIONS)
