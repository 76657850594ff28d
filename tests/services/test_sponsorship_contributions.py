"""Paid months confirmed by BPJS, through the real services: sponsorship and the BPJS simulator on
the real Kafka and PostgreSQL. The simulator enrolls the workers; their first month is paid as the
payment handler will pay it (mark_paid and contributions.send_paid_month in one transaction, the
ContributionPaid through the outbox); the simulator confirms one and loses the other; sponsorship
marks the answered line confirmed, GET /api/reconciliation shows the lost one, PUT re-sends it and
it is confirmed."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from services.sponsorship import contributions
from services.sponsorship.repository import PgSponsorshipStore
from shared import contracts
from shared.consumer import Publisher
from shared.db import connect
from shared.events.bpjs import ContributionPaid
from shared.outbox import add_rows
from simulators.bpjs.domain import contribution_loss_score
from simulators.bpjs.settings import SimulatorSettings
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events
from testkit.samples import sample_commitment
from tests.services import test_sponsorship_tariffs
from tests.services.test_bpjs_simulator import serving, simulator_settings
from tests.services.test_sponsorship import publish_events, worker
from tests.services.test_sponsorship_tariffs import AUDITOR, MEDCO, OFFICE, Service, call, rows

service = test_sponsorship_tariffs.service  # the fixture: sponsorship served over HTTP, with tokens
__all__ = ["service", "simulator_settings"]  # fixtures, used by name

LOSE_PERCENT = 50
PAID_DAYS_AGO = 5


def payment_for(enrollment_id: str, month: date, lost: bool) -> str:
    """A payment id whose month the simulator loses (or answers) on the first sending: the
    simulator's hash decides, so the test chooses the id that gives the case it wants."""
    for n in range(1000):
        payment_id = f"pay-{n}"
        probe = ContributionPaid.model_construct(
            payment_id=payment_id, enrollment_id=enrollment_id, month=month
        )
        if (contribution_loss_score(probe) < LOSE_PERCENT) == lost:
            return payment_id
    raise AssertionError("no payment id gives the case")


async def pay_month(infra: Infra, prefix: str, enrollment_id: str, month: date, payment_id: str) -> None:
    """What the payment handler does for one allocated line, in one transaction."""
    conn = await connect(infra.database_urls["sponsorship"])
    try:
        async with conn.transaction():
            store = PgSponsorshipStore(conn)
            paid_at = datetime.now(UTC) - timedelta(days=PAID_DAYS_AGO)
            await store.mark_invoiced(uuid.UUID(enrollment_id), month, f"inv-{month:%Y%m}", paid_at)
            await store.mark_paid(uuid.UUID(enrollment_id), month, paid_at)
            publisher = Publisher("sponsorship", prefix)
            await contributions.send_paid_month(store, publisher, uuid.UUID(enrollment_id), month, payment_id)
            await add_rows(conn, publisher.rows)
    finally:
        await conn.close()


async def line_state(infra: Infra, enrollment_id: str, month: date) -> str:
    [found] = await rows(
        infra,
        f"SELECT state FROM member_month WHERE enrollment_id = '{uuid.UUID(enrollment_id)}' AND month = '{month}'",
    )
    return str(found["state"])


async def until_state(
    infra: Infra, enrollment_id: str, month: date, state: str, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while (found := await line_state(infra, enrollment_id, month)) != state:
        assert time.monotonic() < deadline, f"the {month:%Y-%m} line is {found}, not {state}"
        await asyncio.sleep(0.2)


async def test_a_paid_month_is_confirmed_by_bpjs_and_a_lost_one_is_reconciled_by_a_re_send(
    infra: Infra, service: Service, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    p = service.prefix
    simulator = simulator_settings(TOPIC_PREFIX=p, SIMULATOR_CONTRIBUTION_LOSE_PERCENT=LOSE_PERCENT)
    answered, lost = worker(1, "07"), worker(2, "07")
    commitment = sample_commitment("medco-2027", ["07"], 2, company_id="medco", months=3)
    async with (
        serving(simulator),
        record_events(
            infra.kafka,
            p + contracts.COMMITMENT_ACCEPTED.topic,
            p + contracts.ENROLLMENT_COMPLETED.topic,
            p + contracts.CONTRIBUTION_PAID.topic,
            p + contracts.CONTRIBUTION_CONFIRMED.topic,
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
        # The simulator confirms both enrollments; sponsorship writes their months.
        completed = await rec.wait_for(2, 90, topic=p + contracts.ENROLLMENT_COMPLETED.topic)
        enrollment = {e.payload["worker_id"]: e.payload for e in completed}
        month = date.fromisoformat(enrollment[answered.worker_id]["coverage_start"]).replace(day=1)
        payments = {}
        for w, is_lost in ((answered, False), (lost, True)):
            enrollment_id = enrollment[w.worker_id]["enrollment_id"]
            payments[w.worker_id] = payment_for(enrollment_id, month, is_lost)
            await pay_month(infra, p, enrollment_id, month, payments[w.worker_id])
        sent = await rec.wait_for(2, 60, topic=p + contracts.CONTRIBUTION_PAID.topic)
        await rec.wait_for(1, 60, topic=p + contracts.CONTRIBUTION_CONFIRMED.topic)
        answered_id, lost_id = (
            enrollment[answered.worker_id]["enrollment_id"],
            enrollment[lost.worker_id]["enrollment_id"],
        )
        await until_state(infra, answered_id, month, "confirmed")
        assert await line_state(infra, lost_id, month) == "paid"  # BPJS lost its confirmation

        # The lost month shows in the reconciliation (paid 5 days ago, none after 30 days).
        shown = await call(service.port, "GET", "/api/reconciliation?older_than_days=3", OFFICE)
        assert shown.status == 200, shown.body
        assert [m["enrollment_id"] for m in shown.body["months"]] == [lost_id]
        [row] = shown.body["months"]
        assert (row["payment_id"], row["attempts"], row["month"]) == (
            payments[lost.worker_id],
            1,
            month.isoformat()[:7],
        )
        assert row["kpj_number"] == enrollment[lost.worker_id]["kpj_number"]
        assert shown.body["unconfirmed_idr"] == row["contribution_idr"] > 0
        audited = await call(service.port, "GET", "/api/reconciliation?older_than_days=3", AUDITOR)
        assert (
            audited.status == 200 and audited.body["months"][0]["kpj_number"] != row["kpj_number"]
        )  # masked
        assert (await call(service.port, "GET", "/api/reconciliation?older_than_days=30", OFFICE)).body[
            "months"
        ] == []
        assert (await call(service.port, "GET", "/api/reconciliation", MEDCO)).status == 403
        assert (await call(service.port, "PUT", "/api/reconciliation", AUDITOR, {})).status == 403
        assert (
            await call(service.port, "GET", "/api/reconciliation?older_than_days=x", OFFICE)
        ).status == 400

        # The office re-sends it: BPJS answers the second attempt, sponsorship records it.
        resent = await call(service.port, "PUT", "/api/reconciliation", OFFICE, {"older_than_days": 3})
        assert resent.status == 200, resent.body
        assert (resent.body["resent"], resent.body["never_sent"]) == (1, [])
        await until_state(infra, lost_id, month, "confirmed")
        events = await rec.settle(1.5)

    after = await call(service.port, "GET", "/api/reconciliation?older_than_days=0", OFFICE)
    assert after.body["months"] == []
    paid = [e.payload for e in events if e.topic == p + contracts.CONTRIBUTION_PAID.topic]
    assert sorted((m["enrollment_id"], m["attempt"]) for m in paid) == sorted(
        [(answered_id, 1), (lost_id, 1), (lost_id, 2)]
    )
    assert {m.payload["payment_id"] for m in sent} == set(payments.values())
    confirmed = [e.payload for e in events if e.topic == p + contracts.CONTRIBUTION_CONFIRMED.topic]
    assert sorted(c["enrollment_id"] for c in confirmed) == sorted([answered_id, lost_id])  # one each
    [months_row] = await rows(
        infra,
        f"SELECT count(*) FILTER (WHERE state = 'confirmed') AS confirmed, count(*) AS lines FROM member_month"
        f" WHERE enrollment_id IN ('{answered_id}', '{lost_id}')",
    )
    assert (months_row["confirmed"], months_row["lines"]) == (2, 6)  # only the paid months
