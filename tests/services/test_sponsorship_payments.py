"""A company's payment through the real service (Kafka, PostgreSQL, HTTP): the office publishes
PaymentSubmitted as `operator`; sponsorship marks the company's invoiced lines paid oldest first,
publishes PaymentRecorded once (the same reference twice), keeps the credit, rejects a bad one
with its codes, and GET /api/payments shows each paid month."""

import uuid
from datetime import UTC, date, datetime

from services.sponsorship.domain.ledger import coverage_end
from shared import clock, contracts
from shared.events.bpjs import EnrollmentConfirmed
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events
from testkit.samples import sample_commitment
from tests.services import test_sponsorship_tariffs
from tests.services.test_sponsorship import publish_events, worker
from tests.services.test_sponsorship_tariffs import MEDCO, OFFICE, Service, call, rows

service = test_sponsorship_tariffs.service  # the fixture: sponsorship served over HTTP, with tokens

MONTHS = 3


async def test_a_payment_marks_the_companys_lines_paid_and_is_recorded_once(
    infra: Infra, service: Service
) -> None:
    p = service.prefix
    commitment = sample_commitment("medco-2026", ["07"], 1, company_id="medco", months=MONTHS)
    ours = worker(1, "07", "tukang ojek")
    async with record_events(
        infra.kafka,
        p + contracts.COMMITMENT_ACCEPTED.topic,
        p + contracts.ENROLLMENT_REQUESTED.topic,
        p + contracts.ENROLLMENT_COMPLETED.topic,
    ) as rec:
        await publish_json(
            infra.kafka_as("operator"), p + contracts.COMMITMENT_SUBMITTED.topic, [("medco-2026", commitment)]
        )
        await rec.wait_for(1, 60, topic=p + contracts.COMMITMENT_ACCEPTED.topic)
        await publish_events(
            infra, p + contracts.WORKER_REGISTERED.topic, [(ours.worker_id, "worker-registered.v1", ours)]
        )
        [requested] = await rec.wait_for(1, 60, topic=p + contracts.ENROLLMENT_REQUESTED.topic)
        start = date.fromisoformat(requested.payload["coverage_start"])
        answer = EnrollmentConfirmed(
            enrollment_id=requested.payload["enrollment_id"],
            worker_id=ours.worker_id,
            kpj_number="16001234560",
            coverage_start=start,
            coverage_end=coverage_end(start, MONTHS),
            confirmed_at=datetime.now(UTC),
        )
        await publish_events(
            infra,
            p + contracts.ENROLLMENT_CONFIRMED.topic,
            [(ours.worker_id, "enrollment-confirmed.v1", answer)],
        )
        await rec.wait_for(1, 60, topic=p + contracts.ENROLLMENT_COMPLETED.topic)

    enrollment = uuid.UUID(requested.payload["enrollment_id"])
    # The first two months invoiced (invoice issuance is another handler's): the third stays expected.
    invoiced = await rows(
        infra,
        "UPDATE member_month SET state = 'invoiced', invoice_id = 'inv-' || to_char(month, 'YYYY-MM'),"
        f" invoiced_at = now() WHERE enrollment_id = '{enrollment}'"
        " AND month < (SELECT max(month) FROM member_month WHERE enrollment_id = "
        f"'{enrollment}') RETURNING month, contribution_idr",
    )
    assert len(invoiced) == 2
    owed = sum(r["contribution_idr"] for r in invoiced)
    today = clock.today_in_jakarta().isoformat()
    good = {"company_id": "medco", "reference": "BCA-0001", "amount_idr": owed + 500, "paid_on": today}
    bad = {"company_id": "medco", "reference": "BCA-0002", "amount_idr": -5, "paid_on": "2026-02-30"}
    async with record_events(
        infra.kafka, p + contracts.PAYMENT_RECORDED.topic, p + contracts.PAYMENT_REJECTED.topic
    ) as rec:
        await publish_json(
            infra.kafka_as("operator"),
            p + contracts.PAYMENT_SUBMITTED.topic,
            [("medco", good), ("medco", good), ("medco", bad)],
        )
        await rec.wait_for(1, 60, topic=p + contracts.PAYMENT_REJECTED.topic)
        events = await rec.settle(2.0)

    recorded = [e.payload for e in events if e.topic == p + contracts.PAYMENT_RECORDED.topic]
    assert len(recorded) == 1  # the same reference twice: recorded once
    [once] = recorded
    assert (once["reference"], once["lines_paid"], once["credit_idr"]) == ("BCA-0001", 2, 500)
    [rejected] = [e.payload for e in events if e.topic == p + contracts.PAYMENT_REJECTED.topic]
    assert {(r["field"], r["code"]) for r in rejected["reasons"]} == {
        ("amount_idr", "AMOUNT_INVALID"),
        ("paid_on", "PAID_ON_INVALID"),
    }
    lines = await rows(
        infra, f"SELECT month, state FROM member_month WHERE enrollment_id = '{enrollment}' ORDER BY month"
    )
    assert [r["state"] for r in lines] == ["paid", "paid", "expected"]
    [credit] = await rows(infra, "SELECT credit_idr FROM company_credit WHERE company_id = 'medco'")
    assert credit["credit_idr"] == 500

    shown = await call(service.port, "GET", "/api/payments?company_id=medco", OFFICE)
    assert shown.status == 200
    assert shown.body["credit_idr"] == 500
    [payment] = shown.body["payments"]
    assert [(x["month"], x["state"], x["kpj_number"]) for x in payment["lines"]] == [
        (r["month"].isoformat()[:7], "paid", "16001234560") for r in lines[:2]
    ]
    own = await call(service.port, "GET", "/api/payments?company_id=medco", MEDCO)
    assert own.status == 200 and own.body["payments"][0]["reference"] == "BCA-0001"
    other = await call(service.port, "GET", "/api/payments?company_id=someone-else", MEDCO)
    assert other.status == 404
