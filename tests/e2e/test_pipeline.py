"""The whole flow, as separate processes: registry, sponsorship, notifications and the BPJS
simulator, against the real Kafka and PostgreSQL."""

import asyncio
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from deploy.stack import Stack
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts, topics
from shared.kafka_security import KafkaConnection
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events
from testkit.samples import sample_registration
from tests.support import a_partner, truncate_schema

N_VALID = 150


def commitment(cid: str, kecamatan: list[str], slots: int, **extra: Any) -> dict[str, Any]:
    return {
        "commitment_id": cid,
        "company_id": cid,
        "company_name": f"PT {cid.title()}",
        "kecamatan": kecamatan,
        "slots": slots,
        "months": 12,
        "package": "JKK_JKM",
        "email": f"csr@{cid}.example",
        **extra,
    }


async def test_workers_are_enrolled_and_notified_exactly_once(
    infra: Infra, topic_prefix: str, tmp_path: Path
) -> None:
    p = topic_prefix
    for service in ("registry", "sponsorship", "notifications"):
        await truncate_schema(infra, service)
    # The registrations come from a partner of the test's own, as that partner (its principal, its
    # intake); the commitments from the office (the operator principal), as in production.
    async with a_partner(infra, p) as (partner, as_partner):
        await _run(infra, p, tmp_path, partner, as_partner, infra.kafka_as("operator"))


async def _run(
    infra: Infra, p: str, tmp_path: Path, partner: str, as_partner: KafkaConnection, operator: KafkaConnection
) -> None:
    kafka = infra.kafka
    intake = p + topics.intake_topic(partner)
    # At the income floor every worker costs the same, so slots (not budget) bind: easy to count.
    valid = [
        dict(sample_registration(i, source=partner, run=7), declared_income_idr=None) for i in range(N_VALID)
    ]
    unknown_to_dukcapil = dict(
        sample_registration(N_VALID, source=partner, run=7),
        submission_id="dukcapil-tidak-kenal",
        declared_income_idr=None,
    )
    unknown_to_dukcapil["nik"] = unknown_to_dukcapil["nik"][:12] + "9999"
    invalid = [
        dict(sample_registration(900, source=partner, run=7), submission_id="bad-nik", nik="123"),
        dict(
            sample_registration(901, source=partner, run=7),
            submission_id="bad-many",
            phone="0211234",
            kecamatan="Bandung",
            full_name="R2-D2",
        ),
    ]
    env = {"TOPIC_PREFIX": p, **{f"{s.upper()}_DATABASE_URL": url for s, url in infra.database_urls.items()}}
    # 120 sponsored slots for 151 valid workers: 31 wait, until a late commitment takes 20 of them
    # and the slot BPJS frees (it does not know one NIK) takes one more.
    with Stack(
        env={**env, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "LOG_LEVEL": "DEBUG"},
        log_dir=tmp_path,
    ) as stack:
        stack.start_all()
        await asyncio.to_thread(stack.wait_ready)
        async with record_events(
            kafka,
            *(
                p + t
                for t in (
                    contracts.WORKER_REGISTERED.topic,
                    contracts.REGISTRATION_REJECTED.topic,
                    contracts.ENROLLMENT_COMPLETED.topic,
                    contracts.ENROLLMENT_FAILED.topic,
                    contracts.WORKER_WAITLISTED.topic,
                    contracts.NOTIFICATION_SENT_V1.topic,
                    contracts.SPONSOR_MATCHED.topic,
                    *(c.topic for c in contracts.FEED),
                )
            ),
        ) as rec:
            await publish_json(
                operator,
                p + contracts.COMMITMENT_SUBMITTED.topic,
                [
                    ("a", commitment("hindoli", ["Sungai Lilin", "Keluang"], 20)),
                    ("b", commitment("medco", ["*"], 100)),
                ],
            )
            # The worker BPJS will refuse goes first, so its released slot is certainly given again.
            await publish_json(as_partner, intake, [(None, unknown_to_dukcapil)])
            await rec.wait_for(1, topic=p + contracts.ENROLLMENT_FAILED.topic, timeout_s=60)
            await publish_json(as_partner, intake, [(None, s) for s in [*valid, *invalid]])
            await publish_json(as_partner, intake, [(None, valid[0])])  # repeated
            await rec.wait_for(N_VALID + 1, topic=p + contracts.WORKER_REGISTERED.topic, timeout_s=90)
            await rec.wait_for(120, topic=p + contracts.SPONSOR_MATCHED.topic, timeout_s=90)
            await rec.settle(2.0)
            await publish_json(
                operator, p + contracts.COMMITMENT_SUBMITTED.topic, [("c", commitment("pusri", ["*"], 20))]
            )
            await rec.wait_for(140, topic=p + contracts.ENROLLMENT_COMPLETED.topic, timeout_s=90)
            events = await rec.settle(3.0)

    by_topic = Counter(e.topic.removeprefix(p) for e in events)
    assert by_topic[contracts.WORKER_REGISTERED.topic] == N_VALID + 1
    rejected = {
        e.payload["submission_id"]: {r["code"] for r in e.payload["reasons"]}
        for e in events
        if e.topic == p + contracts.REGISTRATION_REJECTED.topic
    }
    assert rejected["bad-nik"] == {"NIK_FORMAT"}
    assert rejected["bad-many"] >= {"PHONE_INVALID", "KECAMATAN_UNKNOWN", "NAME_INVALID"}
    # 120 slots, 20 more from the late commitment, and the slot BPJS's rejection released, given again
    assert by_topic[contracts.SPONSOR_MATCHED.topic] == 141
    assert by_topic[contracts.ENROLLMENT_COMPLETED.topic] == 140  # the unknown NIK is rejected by BPJS ...
    assert by_topic[contracts.ENROLLMENT_FAILED.topic] == 1  # ... and its slot goes to a waiting worker
    completed = [
        e.payload["worker_id"] for e in events if e.topic == p + contracts.ENROLLMENT_COMPLETED.topic
    ]
    assert len(set(completed)) == len(completed)

    # The public feed, as a subscriber reads it: each outcome once, by pseudonym, the Kafka key;
    # none of the workers' personal data in any record, headers included.
    feed_key = SponsorshipSettings().feed_key()
    enrolled = [e for e in events if e.topic == p + contracts.FEED_WORKER_ENROLLED.topic]
    assert sorted(e.payload["worker_ref"] for e in enrolled) == sorted(
        feed_key.worker_ref(w) for w in completed
    )
    assert all(e.key == e.payload["worker_ref"] for e in enrolled)
    waitlisted = [e.payload["worker_id"] for e in events if e.topic == p + contracts.WORKER_WAITLISTED.topic]
    assert sorted(
        e.payload["worker_ref"] for e in events if e.topic == p + contracts.FEED_WORKER_WAITLISTED.topic
    ) == sorted(feed_key.worker_ref(w) for w in waitlisted)
    personal = [str(v[k]) for v in [*valid, unknown_to_dukcapil] for k in ("nik", "full_name", "phone")]
    personal += [e.payload["worker_id"] for e in events if e.topic == p + contracts.WORKER_REGISTERED.topic]
    for e in events:
        if e.topic.removeprefix(p) in {c.topic for c in contracts.FEED}:
            raw = json.dumps(e.payload) + json.dumps(e.headers) + str(e.key)
            assert not [v for v in personal if v in raw], e.payload

    notifications = await asyncpg.connect(infra.database_urls["notifications"])
    sponsorship = await asyncpg.connect(infra.database_urls["sponsorship"])
    try:
        confirmations = dict(
            await notifications.fetch(
                "SELECT worker_id::text, count(*) FROM notification"
                " WHERE template = 'enrollment_confirmed' AND audience = 'worker' GROUP BY worker_id"
            )
        )
        assert set(confirmations) == set(completed) and set(confirmations.values()) == {1}
        used = {
            r["commitment_id"]: (r["slots_used"], r["slots"], r["budget_used_idr"], r["budget_idr"])
            for r in await sponsorship.fetch("SELECT * FROM commitment")
        }
        assert all(s_used <= slots and b_used <= budget for s_used, slots, b_used, budget in used.values())
        assert sum(u[0] for u in used.values()) == 140
        statuses = dict(await sponsorship.fetch("SELECT status, count(*) FROM worker GROUP BY status"))
        assert statuses == {"enrolled": 140, "failed": 1, "waitlisted": N_VALID + 1 - 141}
    finally:
        await notifications.close()
        await sponsorship.close()

    # The logs of the whole run (at DEBUG) are structured JSON lines and carry no personal data.
    logs = _read_logs(tmp_path)
    assert set(logs) == {"registry-1.log", "sponsorship-1.log", "notifications-1.log", "bpjs-simulator-1.log"}
    for name, text in logs.items():
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines, name
        for line in lines:
            entry = json.loads(line)
            assert entry["service"] and entry["level"] and "message" in entry, line
        for submission in [*valid, unknown_to_dukcapil]:
            digits = re.sub(r"\D", "", str(submission["phone"]))[-9:]
            assert submission["nik"] not in text, f"unmasked NIK in {name}"
            assert digits not in text, f"unmasked phone number in {name}"
    assert any('"correlation_id"' in text and '"event_id"' in text for text in logs.values())


def _read_logs(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.glob("*.log")}
