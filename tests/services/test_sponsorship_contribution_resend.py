"""A confirmation BPJS lost is recovered by the daily job "contribution-resend", through the real
services: sponsorship (over HTTP) and the BPJS simulator on the real Kafka and PostgreSQL. A
company's payment (PaymentSubmitted, as the office records it) pays two workers' first month;
sponsorship sends both months to BPJS in the payment's transaction; the simulator confirms one and
loses the other. The job, run by a scheduler on a ManualClock, re-sends nothing two programme days
later and the lost month after SPONSORSHIP_CONFIRMATION_RESEND_DAYS (3); the simulator answers the
re-send, the line is confirmed and GET /api/reconciliation is empty again. A redelivered
ContributionConfirmed (the same event, and the same answer under a new id) changes nothing."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from services.sponsorship import contributions
from services.sponsorship.domain.payments import payment_id
from shared import clock, contracts
from shared.calendar import day_starts_at
from shared.clock import ManualClock
from shared.db import create_pool
from shared.envelope import event_type, new_envelope
from shared.events.bpjs import ContributionPaid
from shared.scheduler import Scheduler
from simulators.bpjs.domain import SOURCE, contribution_loss_score
from simulators.bpjs.settings import SimulatorSettings
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events
from testkit.samples import sample_commitment
from tests.services import test_sponsorship_tariffs
from tests.services.test_bpjs_simulator import serving, simulator_settings
from tests.services.test_sponsorship import publish_events, worker
from tests.services.test_sponsorship_contributions import LOSE_PERCENT, line_state, until_state
from tests.services.test_sponsorship_tariffs import OFFICE, Service, call, rows

service = test_sponsorship_tariffs.service  # the fixture: sponsorship served over HTTP, with tokens
__all__ = ["service", "simulator_settings"]  # fixtures, used by name

COMPANY = "medco"


def lost_on_first_sending(reference: str, enrollment_id: str, month: date) -> bool:
    probe = ContributionPaid.model_construct(
        payment_id=payment_id(COMPANY, reference), enrollment_id=enrollment_id, month=month
    )
    return contribution_loss_score(probe) < LOSE_PERCENT


def reference_losing(lost: str, answered: str, month: date) -> str:
    """A payment reference whose payment id makes the simulator lose `lost`'s month and answer
    `answered`'s (its hash decides; the test picks the reference that gives the case)."""
    for n in range(1000):
        reference = f"BCA-{n:04d}"
        if lost_on_first_sending(reference, lost, month) and not lost_on_first_sending(
            reference, answered, month
        ):
            return reference
    raise AssertionError("no reference gives the case")


async def attempts(infra: Infra, enrollment_id: str) -> int:
    found = await rows(
        infra, f"SELECT attempts FROM contribution_sent WHERE enrollment_id = '{uuid.UUID(enrollment_id)}'"
    )
    return int(found[0]["attempts"]) if found else 0


async def taken(infra: Infra, topic: str) -> int:
    """The messages of `topic` sponsorship has taken (its inbox rows: one per distinct event)."""
    found = await rows(infra, f"SELECT count(*) AS n FROM inbox WHERE topic = '{topic}'")
    return int(found[0]["n"])


async def until_taken(infra: Infra, topic: str, count: int, timeout_s: float = 60) -> None:
    """Wait (a liveness bound) until sponsorship has taken `count` distinct messages of `topic`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await taken(infra, topic) < count:
        assert loop.time() < deadline, f"sponsorship did not take {count} messages of {topic}"
        await asyncio.sleep(0.2)


async def test_a_lost_confirmation_is_re_sent_after_the_resend_days_and_confirmed_once(
    infra: Infra, service: Service, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    p = service.prefix
    simulator = simulator_settings(TOPIC_PREFIX=p, SIMULATOR_CONTRIBUTION_LOSE_PERCENT=LOSE_PERCENT)
    answered, lost = worker(1, "07"), worker(2, "07")
    commitment = sample_commitment("medco-2027", ["07"], 2, company_id=COMPANY, months=3)
    paid_topic, confirmed_topic = (
        p + contracts.CONTRIBUTION_PAID.topic,
        p + contracts.CONTRIBUTION_CONFIRMED.topic,
    )
    pool = await create_pool(infra.database_urls["sponsorship"], 1, 2)
    async with (
        serving(simulator),
        record_events(
            infra.kafka,
            p + contracts.COMMITMENT_ACCEPTED.topic,
            p + contracts.ENROLLMENT_COMPLETED.topic,
            p + contracts.PAYMENT_RECORDED.topic,
            paid_topic,
            confirmed_topic,
            confirmed_topic + ".dlq",
        ) as rec,
    ):
        await publish_json(
            infra.kafka_as("operator"), p + contracts.COMMITMENT_SUBMITTED.topic, [("medco-2027", commitment)]
        )
        await rec.wait_for(1, 60, topic=p + contracts.COMMITMENT_ACCEPTED.topic)
        await publish_events(
            infra,
            p + contracts.WORKER_REGISTERED.topic,
            [(w.worker_id, "worker-registered.v1", w) for w in (answered, lost)],
        )
        completed = await rec.wait_for(2, 90, topic=p + contracts.ENROLLMENT_COMPLETED.topic)
        enrollment = {e.payload["worker_id"]: e.payload["enrollment_id"] for e in completed}
        answered_id, lost_id = enrollment[answered.worker_id], enrollment[lost.worker_id]
        # Each worker's first month invoiced (issuing invoices is the invoices job's).
        invoiced = await rows(
            infra,
            "UPDATE member_month SET state = 'invoiced', invoice_id = 'inv-1', invoiced_at = now()"
            f" WHERE enrollment_id IN ('{answered_id}', '{lost_id}') AND month = (SELECT min(month)"
            " FROM member_month m WHERE m.enrollment_id = member_month.enrollment_id)"
            " RETURNING month, contribution_idr",
        )
        assert len(invoiced) == 2 and invoiced[0]["month"] == invoiced[1]["month"]
        month = invoiced[0]["month"]
        reference = reference_losing(lost_id, answered_id, month)
        paid = {
            "company_id": COMPANY,
            "reference": reference,
            "amount_idr": sum(r["contribution_idr"] for r in invoiced),
            "paid_on": clock.today_in_jakarta().isoformat(),
        }
        await publish_json(
            infra.kafka_as("operator"), p + contracts.PAYMENT_SUBMITTED.topic, [(COMPANY, paid)]
        )
        [recorded] = await rec.wait_for(1, 60, topic=p + contracts.PAYMENT_RECORDED.topic)
        assert recorded.payload["lines_paid"] == 2
        first = await rec.wait_for(2, 60, topic=paid_topic)
        assert {
            (e.payload["enrollment_id"], e.payload["attempt"], e.payload["payment_id"]) for e in first
        } == {
            (answered_id, 1, recorded.payload["payment_id"]),
            (lost_id, 1, recorded.payload["payment_id"]),
        }
        [confirmation] = await rec.wait_for(1, 60, topic=confirmed_topic)
        await until_state(infra, answered_id, month, "confirmed")
        assert await line_state(infra, lost_id, month) == "paid"  # BPJS lost it

        shown = await call(service.port, "GET", "/api/reconciliation", OFFICE)
        assert shown.status == 200, shown.body
        assert [(m["enrollment_id"], m["attempts"], m["resent"]) for m in shown.body["months"]] == [
            (lost_id, 1, 0)
        ]

        # The job on a manual programme clock: two days on, nothing is due; four days on, the
        # lost month is (sent more than 3 days before the 06:00 WIB run).
        now = clock.now()
        manual = ManualClock(now + timedelta(days=2))
        job = contributions.resend_job(day_starts_at(clock.today_in_jakarta()), p, 3)
        scheduler = Scheduler([job], lambda: pool, instance="test", clock=manual, poll_s=0.05)
        while await scheduler.poll():
            pass
        assert await attempts(infra, lost_id) == 1
        manual.set(now + timedelta(days=4))
        while await scheduler.poll():
            pass
        assert await attempts(infra, lost_id) == 2
        await until_state(infra, lost_id, month, "confirmed")
        await rec.wait_for(2, 60, topic=confirmed_topic)

        # The confirmation again: the same event (the inbox drops it), and the same answer under a
        # new id (the handler finds the line confirmed already).
        [before] = await rows(
            infra,
            f"SELECT confirmed_at FROM member_month WHERE state = 'confirmed'"
            f" AND enrollment_id = '{answered_id}'",
        )
        again = new_envelope(
            event_type("contribution-confirmed.v1"), SOURCE, subject=answered.worker_id
        ).headers()
        body = confirmation.payload
        await publish_json(
            infra.kafka, confirmed_topic, [(answered.worker_id, body)], headers=confirmation.headers
        )
        await publish_json(infra.kafka, confirmed_topic, [(answered.worker_id, body)], headers=again)
        # Two confirmations and the new id: the same event again is no new message.
        await until_taken(infra, confirmed_topic, 3)
        events = await rec.settle(1.5)
        assert await taken(infra, confirmed_topic) == 3

    await pool.close()
    [after] = await rows(
        infra,
        f"SELECT state, confirmed_at FROM member_month WHERE enrollment_id = '{answered_id}'"
        f" AND month = '{month}'",
    )
    assert (after["state"], after["confirmed_at"]) == ("confirmed", before["confirmed_at"])
    assert [e for e in events if e.topic.endswith(".dlq")] == []  # nothing parked
    sent = [e.payload for e in events if e.topic == paid_topic]
    assert sorted((m["enrollment_id"], m["attempt"]) for m in sent) == sorted(
        [(answered_id, 1), (lost_id, 1), (lost_id, 2)]
    )
    [resent] = [m for m in sent if m["attempt"] == 2]
    assert datetime.fromisoformat(resent["paid_at"]) < now.astimezone(UTC) + timedelta(seconds=1)
    after_all = await call(service.port, "GET", "/api/reconciliation", OFFICE)
    assert after_all.body["months"] == []
    [lines] = await rows(
        infra,
        "SELECT count(*) FILTER (WHERE state = 'confirmed') AS confirmed FROM member_month"
        f" WHERE enrollment_id IN ('{answered_id}', '{lost_id}')",
    )
    assert lines["confirmed"] == 2
