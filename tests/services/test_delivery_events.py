"""What the sender and the receipts announce, on the real PostgreSQL: every state change of a
message writes its event into the outbox in the same transaction (accepted: notification-sent.v2;
a webhook's 2xx: also -delivered; refused or out of attempts: -failed), and a receipt that comes
before the record of the acceptance, even committing side by side with it, is never lost."""

import asyncio
import json
import uuid
from typing import Any

import asyncpg

from services.notifications import repository
from services.notifications.delivery import Accepted, DeliveryWorker, PermanentRefusal
from services.notifications.domain import Notification
from services.notifications.repository import PgNotificationsStore, StoredNotification
from shared import contracts
from tests.services.test_delivery import pool  # noqa: F401  (the fixture)

WORKER = uuid.UUID("5a1d3c52-8c9e-4a55-9d6f-0d6f1c1e2a01")


class Answers:
    """A gateway answering each recipient as told: an Accepted, or an exception to raise."""

    def __init__(self, answers: dict[str, Accepted | Exception]) -> None:
        self.answers = answers

    async def send(self, notification: StoredNotification) -> Accepted | None:
        answer = self.answers[notification.recipient]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def queue(db: asyncpg.Pool, recipient: str, channel: str = "sms") -> int:
    async with db.acquire() as conn:
        queued = await PgNotificationsStore(conn).queue(
            dedupe_key=f"k-{recipient}",
            event_id="e1",
            worker_id=WORKER,
            notification=Notification("enrollment_confirmed", "worker", channel, recipient, None, "Halo"),
        )
    assert queued is not None
    return queued.id


async def outbox(db: asyncpg.Pool) -> list[tuple[str, dict[str, Any]]]:
    async with db.acquire() as conn:
        found = await conn.fetch("SELECT topic, payload FROM outbox ORDER BY id")
    return [(r["topic"], json.loads(r["payload"])) for r in found]


async def test_each_outcome_is_announced_with_its_state_change(pool: asyncpg.Pool) -> None:  # noqa: F811
    accepted, hook, refused = (
        await queue(pool, "+6281200000001"),
        await queue(pool, "https://csr.example.co.id/hook", "webhook"),
        await queue(pool, "+6281200000003"),
    )
    gateway = Answers(
        {
            "+6281200000001": Accepted("twilio", "SM0001"),
            "https://csr.example.co.id/hook": Accepted("webhook", delivered=True),
            "+6281200000003": PermanentRefusal("provider answered HTTP 400: 21211"),
        }
    )
    worker = DeliveryWorker(lambda: pool, gateway)  # type: ignore[arg-type]
    assert await worker.deliver_batch() == 3
    events = await outbox(pool)
    by = {(topic, e["notification_id"]): e for topic, e in events}
    assert len(by) == len(events) == 4
    sent = by[(contracts.NOTIFICATION_SENT.topic, str(accepted))]
    assert (sent["provider"], sent["provider_message_id"], sent["sms_segments"], sent["attempts"]) == (
        "twilio",
        "SM0001",
        1,
        1,
    )
    assert sent["worker_id"] == str(WORKER) and sent["recipient_masked"] == "+62812****0001"
    assert by[(contracts.NOTIFICATION_SENT.topic, str(hook))]["provider"] == "webhook"
    assert by[(contracts.NOTIFICATION_DELIVERED.topic, str(hook))]["provider"] == "webhook"
    failed = by[(contracts.NOTIFICATION_FAILED.topic, str(refused))]
    assert failed["stage"] == "refused" and "21211" in failed["reason"]
    # Marked again by a sender whose lease ran out: no second announcement.
    async with pool.acquire() as conn:
        assert (
            await repository.mark_sent(
                conn, accepted, provider="twilio", provider_message_id="SM0001", delivered=False
            )
            is None
        )
    assert len(await outbox(pool)) == 4


async def test_a_message_out_of_attempts_is_announced_failed_when_claimed(pool: asyncpg.Pool) -> None:  # noqa: F811
    notification_id = await queue(pool, "+6281200000004")
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE notification SET attempts = 3, last_error = 'HTTP 503' WHERE id = $1", notification_id
        )
    worker = DeliveryWorker(lambda: pool, Answers({}), max_attempts=3)  # type: ignore[arg-type]
    assert await worker.deliver_batch() == 1
    [(topic, failed)] = await outbox(pool)
    assert topic == contracts.NOTIFICATION_FAILED.topic and failed["stage"] == "exhausted"
    assert failed["notification_id"] == str(notification_id) and "HTTP 503" in failed["reason"]


async def receipt(conn: asyncpg.Connection, sid: str, status: str) -> repository.ReceiptApplied | None:
    async with conn.transaction():
        await repository.record_receipt(conn, "twilio", sid, status, "30003" if status == "failed" else None)
        return await repository.apply_receipts(conn, "twilio", sid)


async def test_a_receipt_that_comes_first_is_applied_when_the_acceptance_is_recorded(
    pool: asyncpg.Pool,  # noqa: F811
) -> None:
    notification_id = await queue(pool, "+6281200000005")
    async with pool.acquire() as conn:
        assert await receipt(conn, "SM0005", "failed") is None  # nothing sent under that SID yet
    worker = DeliveryWorker(lambda: pool, Answers({"+6281200000005": Accepted("twilio", "SM0005")}))  # type: ignore[arg-type]
    await worker.deliver_batch()
    topics = [(t, e["notification_id"]) for t, e in await outbox(pool)]
    assert topics == [
        (contracts.NOTIFICATION_SENT.topic, str(notification_id)),
        (contracts.NOTIFICATION_FAILED.topic, str(notification_id)),
    ]
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, last_error FROM notification WHERE id = $1", notification_id
        )
    assert row["status"] == "failed" and "30003" in row["last_error"]


async def test_a_receipt_and_the_acceptance_committing_side_by_side_never_miss_each_other(
    pool: asyncpg.Pool,  # noqa: F811
) -> None:
    """Each round races the receipt's transaction against the sender's record of the acceptance
    (two connections, started together): whichever commits second must see the first."""
    rounds = 40
    ids = [await queue(pool, f"+62813{i:08d}") for i in range(rounds)]

    async def accept(notification_id: int, sid: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await repository.mark_sent(
                conn, notification_id, provider="twilio", provider_message_id=sid, delivered=False
            )
            await repository.apply_receipts(conn, "twilio", sid)
            await asyncio.sleep(0.01)  # both look for the other before either commits

    async def report(sid: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await repository.record_receipt(conn, "twilio", sid, "delivered", None)
            await repository.apply_receipts(conn, "twilio", sid)
            await asyncio.sleep(0.01)

    for i, notification_id in enumerate(ids):
        sid = f"SMRACE{i:04d}"
        await asyncio.gather(accept(notification_id, sid), report(sid))
    async with pool.acquire() as conn:
        states = await conn.fetch("SELECT status, count(*) FROM notification GROUP BY status")
        waiting = await conn.fetchval("SELECT count(*) FROM delivery_receipt WHERE applied_at IS NULL")
    assert {r["status"]: r["count"] for r in states} == {"delivered": rounds} and waiting == 0
