"""Notifications alone, against real Kafka and PostgreSQL: outcome events in, queued and delivered
messages and `notification-sent` events out."""

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.notifications.app import MIGRATIONS, create_app
from services.notifications.delivery import DeliveryWorker, LoggingGateway
from services.notifications.domain import Notification
from services.notifications.handlers import NotificationsHandlers
from services.notifications.repository import PgNotificationsStore, StoredNotification
from services.notifications.settings import NotificationsSettings
from shared import contracts, outbox, topics
from shared.consumer import Incoming, MessageContext, Publisher
from shared.db import create_pool, migrate
from shared.envelope import Envelope, event_type, new_envelope
from shared.masking import mask_recipient
from testkit.infra import Infra
from testkit.kafka import RecordedEvent, publish_json, record_events
from testkit.samples import (
    EVENTS_AT,
    enrollment_completed,
    enrollment_failed,
    registration_rejected,
    sample_phone,
    worker_waitlisted,
)
from tests.support import running, truncate_schema

OFFICE = "disnakertrans@mubakab.go.id"
NOW = EVENTS_AT
phone = sample_phone


def completed(worker_id: str, i: int, **overrides: Any) -> dict[str, Any]:
    return enrollment_completed(worker_id, i).model_dump(mode="json") | overrides


def waitlisted(worker_id: str, i: int, **overrides: Any) -> dict[str, Any]:
    return worker_waitlisted(worker_id, i).model_dump(mode="json") | overrides


def failed(worker_id: str, i: int) -> dict[str, Any]:
    return enrollment_failed(worker_id, i).model_dump(mode="json")


def rejected(submission_id: str, with_phone: str | None) -> dict[str, Any]:
    full_name = "Joko Pratama" if with_phone else None
    return registration_rejected(submission_id, with_phone, full_name).model_dump(mode="json")


async def publish(
    infra: Infra, topic: str, name: str, key: str, body: Any, envelope: Envelope | None = None
) -> Envelope:
    """One message with its own CloudEvents headers (and so its own ce_id)."""
    envelope = envelope or new_envelope(event_type(name), "/muba/test", subject=key)
    await publish_json(infra.kafka, topic, [(key, body)], headers=envelope.headers())
    return envelope


async def rows(infra: Infra, where: str = "true", *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.database_urls["notifications"])
    try:
        return await conn.fetch(f"SELECT * FROM notification WHERE {where} ORDER BY id", *args)
    finally:
        await conn.close()


async def wait_until_sent(infra: Infra, expected: int, timeout_s: float = 15.0) -> list[asyncpg.Record]:
    """The `expected` rows, once every one was accepted by its provider (sent, or delivered)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await rows(infra)
        if len(found) == expected and all(r["status"] in ("sent", "delivered") for r in found):
            return found
        if asyncio.get_running_loop().time() > deadline:
            states = [(r["id"], r["status"]) for r in found]
            raise AssertionError(f"expected {expected} sent notifications, found {states}")
        await asyncio.sleep(0.2)


def summary(events: list[RecordedEvent]) -> set[tuple[str | None, str, str, str, str]]:
    return {
        (
            e.key,
            e.payload["template"],
            e.payload["audience"],
            e.payload["channel"],
            e.payload["recipient_masked"],
        )
        for e in events
    }


@pytest.fixture
async def notifications(infra: Infra, service_env: Callable[..., dict[str, Any]]) -> AsyncIterator[str]:
    env = service_env(NOTIFICATIONS_DATABASE_URL=infra.database_urls["notifications"])
    await truncate_schema(infra, "notifications")
    app = create_app(NotificationsSettings())
    async with running(app):
        yield env["prefix"]


async def test_typical_journey(infra: Infra, notifications: str) -> None:
    prefix = notifications
    sent_topic = prefix + contracts.NOTIFICATION_SENT_V1.topic
    w_completed, w_waitlisted, w_failed = (str(uuid.uuid4()) for _ in range(3))
    async with record_events(infra.kafka, sent_topic) as recorder:
        completed_env = await publish(
            infra,
            prefix + contracts.ENROLLMENT_COMPLETED.topic,
            "enrollment-completed.v1",
            w_completed,
            completed(w_completed, 1),
        )
        await publish(
            infra,
            prefix + contracts.WORKER_WAITLISTED.topic,
            "worker-waitlisted.v1",
            w_waitlisted,
            waitlisted(w_waitlisted, 2),
        )
        await publish(
            infra,
            prefix + contracts.ENROLLMENT_FAILED.topic,
            "enrollment-failed.v1",
            w_failed,
            failed(w_failed, 3),
        )
        await publish(
            infra,
            prefix + contracts.REGISTRATION_REJECTED.topic,
            "registration-rejected.v1",
            "desa-online/sub-1",
            rejected("sub-1", phone(4)),
        )
        await publish(
            infra,
            prefix + contracts.REGISTRATION_REJECTED.topic,
            "registration-rejected.v1",
            "desa-online/sub-2",
            rejected("sub-2", None),
        )
        await recorder.wait_for(9)
        events = await recorder.settle(1.5)

    assert summary(events) == {
        (w_completed, "enrollment_confirmed", "worker", "sms", "+62812****0001"),
        (w_completed, "enrollment_confirmed", "company", "email", "c***@hindoli.co.id"),
        (w_completed, "enrollment_confirmed", "company", "webhook", "https://hooks.hindoli.co.id"),
        (w_waitlisted, "worker_waitlisted", "worker", "sms", "+62812****0002"),
        (w_failed, "enrollment_rejected", "worker", "sms", "+62812****0003"),
        (w_failed, "enrollment_rejected", "office", "email", "d***@mubakab.go.id"),
        ("desa-online/sub-1", "registration_rejected", "worker", "sms", "+62812****0004"),
        ("desa-online/sub-1", "registration_rejected", "office", "email", "d***@mubakab.go.id"),
        ("desa-online/sub-2", "registration_rejected", "office", "email", "d***@mubakab.go.id"),
    }
    assert len(events) == 9
    for e in events:
        assert e.event_type is not None and e.event_type.endswith("notification-sent.v1")
        assert e.payload["worker_id"] == (None if e.key and e.key.startswith("desa-online/") else e.key)
        assert not any(phone(i) in e.body.decode() for i in range(1, 5))
        assert "hindoli.co.id/bpjs" not in e.body.decode() and "csr@" not in e.body.decode()
    # The announcement carries the correlation id of the event that caused it.
    assert {e.headers["ce_correlationid"] for e in events if e.key == w_completed} == {completed_env.id}

    stored = await wait_until_sent(infra, 9)  # the delivery worker sent every one
    assert all(r["sent_at"] is not None and r["provider"] == "log" for r in stored)
    by_event = {(r["event_id"], r["audience"], r["channel"]): r for r in stored}
    assert {e.payload["notification_id"] for e in events} == {str(r["id"]) for r in stored}
    worker_sms = by_event[(completed_env.id, "worker", "sms")]
    assert worker_sms["recipient"] == phone(1) and str(worker_sms["worker_id"]) == w_completed
    assert "12345678901" in worker_sms["body"] and "PT Hindoli" in worker_sms["body"]
    company = by_event[(completed_env.id, "company", "email")]
    assert company["recipient"] == "csr@hindoli.co.id"
    assert "160601********03" in company["body"]
    webhook = by_event[(completed_env.id, "company", "webhook")]
    assert webhook["recipient"] == "https://hooks.hindoli.co.id/bpjs?token=s3cret"
    assert json.loads(webhook["body"])["nik_masked"] == "160601********03"
    office = [r for r in stored if r["audience"] == "office"]
    assert {r["recipient"] for r in office} == {OFFICE}
    assert {(r["template"], str(r["worker_id"])) for r in office} == {
        ("enrollment_rejected", w_failed),
        ("registration_rejected", "None"),
    }
    assert len({r["dedupe_key"] for r in stored}) == 9


async def test_a_redelivered_event_sends_once_a_new_event_with_the_same_content_sends_again(
    infra: Infra, notifications: str
) -> None:
    prefix = notifications
    topic = prefix + contracts.ENROLLMENT_COMPLETED.topic
    worker_id = str(uuid.uuid4())
    body = completed(worker_id, 7)
    async with record_events(infra.kafka, prefix + contracts.NOTIFICATION_SENT_V1.topic) as recorder:
        first = await publish(infra, topic, "enrollment-completed.v1", worker_id, body)
        await publish(infra, topic, "enrollment-completed.v1", worker_id, body, envelope=first)  # same ce_id
        # Same key, so the same partition: once the third is handled, the second has been too.
        second = await publish(infra, topic, "enrollment-completed.v1", worker_id, body)
        await recorder.wait_for(6)
        events = await recorder.settle(1.5)

    assert len(events) == 6
    stored = await rows(infra)
    assert [r["event_id"] for r in stored].count(first.id) == 3
    assert [r["event_id"] for r in stored].count(second.id) == 3
    assert len(stored) == 6
    assert {(r["audience"], r["channel"]) for r in stored} == {
        ("worker", "sms"),
        ("company", "email"),
        ("company", "webhook"),
    }


async def test_unusable_messages_go_to_the_dead_letter_topic_and_nothing_is_stored(
    infra: Infra, notifications: str
) -> None:
    prefix = notifications
    topic = prefix + contracts.WORKER_WAITLISTED.topic
    worker_id = str(uuid.uuid4())
    no_phone = {k: v for k, v in waitlisted(worker_id, 1).items() if k != "phone"}
    async with record_events(
        infra.kafka, topics.dead_letter_topic(topic), prefix + contracts.NOTIFICATION_SENT_V1.topic
    ) as recorder:
        broken = await publish(infra, topic, "worker-waitlisted.v1", worker_id, no_phone)
        not_uuid = await publish(infra, topic, "worker-waitlisted.v1", worker_id, waitlisted("worker-7", 2))
        unsendable = await publish(
            infra, topic, "worker-waitlisted.v1", worker_id, waitlisted(worker_id, 3, phone="081200000003")
        )
        good = await publish(infra, topic, "worker-waitlisted.v1", worker_id, waitlisted(worker_id, 4))
        await recorder.wait_for(3, topic=topics.dead_letter_topic(topic))
        await recorder.wait_for(1, topic=prefix + contracts.NOTIFICATION_SENT_V1.topic)
        events = await recorder.settle(1.5)

    dead = {e.headers["dlq_original_event_id"]: e for e in events if e.topic.endswith(".dlq")}
    assert set(dead) == {broken.id, not_uuid.id, unsendable.id}
    assert dead[broken.id].headers["dlq_reason"] == "CONTRACT_VIOLATION"
    assert "phone" in dead[broken.id].headers["dlq_error"]
    assert dead[broken.id].headers["dlq_original_topic"] == topic
    assert json.loads(dead[broken.id].body) == no_phone
    assert dead[not_uuid.id].headers["dlq_reason"] == "CONTRACT_VIOLATION"
    assert dead[unsendable.id].headers["dlq_reason"] == "UNSENDABLE"
    assert "081200000003" not in dead[unsendable.id].headers["dlq_error"]

    sent = [e for e in events if e.topic == prefix + contracts.NOTIFICATION_SENT_V1.topic]
    assert len(sent) == 1
    assert [r["event_id"] for r in await rows(infra)] == [good.id]


# --- The sender and the handlers, on the database alone (no broker, no app) -------------------


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    await migrate(infra.database_urls["notifications"], MIGRATIONS)
    await truncate_schema(infra, "notifications")
    pool = await create_pool(infra.database_urls["notifications"], 1, 4)
    try:
        yield pool
    finally:
        await pool.close()
        await truncate_schema(infra, "notifications")  # leave nothing for a later relay or sender


class RecordingGateway:
    def __init__(self, refuse: set[str] | None = None) -> None:
        self.sent: list[StoredNotification] = []
        self.refuse = refuse or set()

    async def send(self, notification: StoredNotification) -> None:
        if notification.recipient in self.refuse:
            raise ConnectionError(f"provider refused {notification.recipient}")
        self.sent.append(notification)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the records carry, extra fields included (what the JSON log line would show)."""
    return " ".join(str(vars(r)) for r in caplog.records)


def message(recipient: str, channel: str = "sms") -> Notification:
    return Notification("worker_waitlisted", "worker", channel, recipient, None, "Yth. Budi, ...")  # type: ignore[arg-type]


async def test_delivery_worker_marks_accepted_rows_sent_and_retries_failed_ones_later(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    async with pool.acquire() as conn:
        for i, recipient in enumerate((phone(1), phone(2), "csr@hindoli.co.id")):
            n = message(recipient, "email" if "@" in recipient else "sms")
            assert await PgNotificationsStore(conn).queue(
                dedupe_key=f"k{i}", event_id="e1", worker_id=None, notification=n
            )
        # The same dedupe key again is not queued twice.
        assert (
            await PgNotificationsStore(conn).queue(
                dedupe_key="k0", event_id="e1", worker_id=None, notification=message(phone(1))
            )
            is None
        )

    caplog.set_level(logging.WARNING, logger="services.notifications.delivery")
    gateway = RecordingGateway(refuse={phone(2)})
    worker = DeliveryWorker(lambda: pool, gateway, retry_base_delay_s=60.0)
    assert await worker.deliver_batch() == 3
    assert sorted(n.recipient for n in gateway.sent) == sorted([phone(1), "csr@hindoli.co.id"])
    assert (worker.sent, worker.retried, worker.failed) == (2, 1, 0)
    async with pool.acquire() as conn:
        state = {r["recipient"]: r for r in await conn.fetch("SELECT * FROM notification")}
        assert state[phone(1)]["status"] == "sent" and state[phone(1)]["sent_at"] is not None
        assert state[phone(1)]["delivered_at"] is None  # no receipt yet
        refused = state[phone(2)]
        assert refused["status"] == "queued" and refused["attempts"] == 1
        # 60 s for the first retry, jittered into its upper half.
        assert (refused["next_attempt_at"] - datetime.now(UTC)).total_seconds() > 25
    assert phone(2) not in logged(caplog) and "+62812****0002" in logged(caplog)

    assert await worker.deliver_batch() == 0  # the refused one is not due yet
    async with pool.acquire() as conn:
        await conn.execute("UPDATE notification SET next_attempt_at = now() WHERE status = 'queued'")
    gateway.refuse.clear()
    assert await worker.deliver_batch() == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notification WHERE status = 'sent'") == 3
        assert await conn.fetchval("SELECT attempts FROM notification WHERE recipient = $1", phone(2)) == 2


async def test_delivery_worker_runs_in_the_background_until_stopped(pool: asyncpg.Pool) -> None:
    gateway = RecordingGateway()
    worker = DeliveryWorker(lambda: pool, gateway, idle_poll_s=0.05)
    worker.start()
    try:
        async with pool.acquire() as conn:
            await PgNotificationsStore(conn).queue(
                dedupe_key="k", event_id="e", worker_id=None, notification=message(phone(9))
            )
        for _ in range(100):
            if gateway.sent:
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert [n.recipient for n in gateway.sent] == [phone(9)]


async def test_logging_gateway_never_logs_the_address_or_the_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="services.notifications.delivery")
    for channel, recipient in (
        ("sms", phone(5)),
        ("email", "csr@hindoli.co.id"),
        ("webhook", "https://user:pw@hooks.hindoli.co.id:8443/x?token=s3cret"),
    ):
        await LoggingGateway().send(
            StoredNotification(
                1,
                None,
                "enrollment_confirmed",
                "company",
                channel,
                recipient,
                "Subjek",
                "Isi pesan rahasia",
                1,
                "0b0e6f0c-5d2e-4c55-9a53-1b7d6f1c2a10",
            )
        )
    for secret in (phone(5), "csr@", "token", "pw@", "Isi pesan rahasia"):
        assert secret not in logged(caplog)
    assert {getattr(r, "recipient") for r in caplog.records} == {  # noqa: B009
        "+62812****0005",
        "c***@hindoli.co.id",
        "https://hooks.hindoli.co.id",
    }


def test_mask_recipient_handles_odd_addresses() -> None:
    assert mask_recipient("email", "not-an-email") == "***"
    assert mask_recipient("webhook", "not a url") == "***"
    assert mask_recipient("sms", "0812") == "****"


async def test_a_handler_queues_and_announces_each_message_once_per_event(
    pool: asyncpg.Pool, topic_prefix: str
) -> None:
    """The dedupe key holds even where the inbox does not (another consumer, a replay after cleanup),
    on the real schema's UNIQUE constraint. (The handlers' other cases run in memory:
    tests/unit/test_notifications_handlers.py.)"""
    handlers = NotificationsHandlers(NotificationsSettings(worker_channel="whatsapp"))
    worker_id = str(uuid.uuid4())
    envelope = new_envelope(event_type("enrollment-failed.v1"), "/muba/test", subject=worker_id)
    incoming = Incoming(
        contracts.ENROLLMENT_FAILED.topic,
        0,
        42,
        worker_id,
        envelope.headers(),
        json.dumps(failed(worker_id, 6)).encode(),
        envelope,
        0,
    )
    published = []
    for _ in range(2):
        async with pool.acquire() as conn, conn.transaction():
            ctx = MessageContext(
                incoming,
                contracts.ENROLLMENT_FAILED,
                PgNotificationsStore(conn),
                Publisher("notifications", topic_prefix),
            )
            await handlers.on_enrollment_failed(ctx)  # type: ignore[arg-type]
            await outbox.add_rows(conn, ctx.publisher.rows)
            published.append(ctx.publisher.envelopes)
    assert len(published[0]) == 2 and published[1] == []
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT * FROM notification ORDER BY id")
        assert [(r["audience"], r["channel"]) for r in stored] == [
            ("worker", "whatsapp"),
            ("office", "email"),
        ]
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE topic = $1",
                topic_prefix + contracts.NOTIFICATION_SENT_V1.topic,
            )
            == 2
        )
