"""The member-month ledger through the real service (Kafka, PostgreSQL, HTTP): BPJS's confirmation
writes the enrollment's months (once, also when redelivered), the commitment's use becomes their
total, GET /api/report shows them per commitment, and GET /api/months shows a worker's months to
the office and auditor, and to the company only its own."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

from services.sponsorship.domain.ledger import add_months, coverage_end
from shared import clock, contracts
from shared.events.bpjs import EnrollmentConfirmed
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events
from testkit.samples import sample_commitment
from tests.services import test_sponsorship_tariffs
from tests.services.test_sponsorship import publish_events, worker
from tests.services.test_sponsorship_tariffs import AUDITOR, MEDCO, OFFICE, Service, call, rows

service = test_sponsorship_tariffs.service  # the fixture: sponsorship served over HTTP, with tokens

MONTHS = 6


async def test_a_confirmed_enrollment_has_its_months_in_the_db_the_report_and_the_workers_months(
    infra: Infra, service: Service
) -> None:
    p = service.prefix
    commitments = [
        sample_commitment("medco-2026", ["07"], 2, company_id="medco", months=MONTHS),
        sample_commitment("other-2026", ["01"], 2, months=MONTHS),
    ]
    ours, theirs = worker(1, "07", "tukang ojek"), worker(2, "01")
    async with record_events(
        infra.kafka,
        p + contracts.COMMITMENT_ACCEPTED.topic,
        p + contracts.ENROLLMENT_REQUESTED.topic,
        p + contracts.ENROLLMENT_COMPLETED.topic,
    ) as rec:
        await publish_json(
            infra.kafka_as("operator"),
            p + contracts.COMMITMENT_SUBMITTED.topic,
            [(c["commitment_id"], c) for c in commitments],
        )
        await rec.wait_for(2, 60, topic=p + contracts.COMMITMENT_ACCEPTED.topic)
        await publish_events(
            infra,
            p + contracts.WORKER_REGISTERED.topic,
            [(w.worker_id, "worker-registered.v1", w) for w in (ours, theirs)],
        )
        requested = await rec.wait_for(2, 60, topic=p + contracts.ENROLLMENT_REQUESTED.topic)
        requests = {r.payload["worker_id"]: r.payload for r in requested}
        start = date.fromisoformat(requests[ours.worker_id]["coverage_start"])
        answers = [
            EnrollmentConfirmed(
                enrollment_id=requests[w.worker_id]["enrollment_id"],
                worker_id=w.worker_id,
                kpj_number=f"1600123456{n}",
                coverage_start=start,
                coverage_end=coverage_end(start, MONTHS),
                confirmed_at=datetime.now(UTC),
            )
            for n, w in enumerate((ours, theirs))
        ]
        await publish_events(
            infra,
            p + contracts.ENROLLMENT_CONFIRMED.topic,
            # the first confirmation twice: the redelivery writes nothing
            [(a.worker_id, "enrollment-confirmed.v1", a) for a in (answers[0], answers[0], answers[1])],
        )
        await rec.wait_for(2, 60, topic=p + contracts.ENROLLMENT_COMPLETED.topic)
        events = await rec.settle(1.5)

    request = requests[ours.worker_id]
    lines = await rows(
        infra,
        f"SELECT * FROM member_month WHERE enrollment_id = '{uuid.UUID(request['enrollment_id'])}' ORDER BY month",
    )
    first = start.replace(day=1)
    assert [r["month"] for r in lines] == [add_months(first, i) for i in range(MONTHS)]
    assert {(r["state"], r["commitment_id"], r["company_id"]) for r in lines} == {
        ("expected", "medco-2026", "medco")
    }
    total = sum(r["contribution_idr"] for r in lines)
    assert total == request["total_contribution_idr"]  # the reservation: the same table priced both
    [used] = await rows(infra, "SELECT budget_used_idr FROM commitment WHERE commitment_id = 'medco-2026'")
    assert used["budget_used_idr"] == total  # handed over once, the redelivery changed nothing
    completed = [e.payload for e in events if e.topic == p + contracts.ENROLLMENT_COMPLETED.topic]
    assert sorted(c["worker_id"] for c in completed) == sorted([ours.worker_id, theirs.worker_id])
    assert next(c for c in completed if c["worker_id"] == ours.worker_id)["contribution_idr"] == total

    report = await call(service.port, "GET", "/api/report", AUDITOR)
    assert report.status == 200
    ledger = {c["commitment_id"]: c for c in report.body["ledger"]}
    this_month = clock.today_in_jakarta().replace(day=1)
    assert ledger["medco-2026"] == {
        "commitment_id": "medco-2026",
        "company_name": "PT medco-2026",
        "budget_idr": ledger["medco-2026"]["budget_idr"],
        "reserved_idr": 0,
        "ledger_idr": {
            "expected": total,
            "invoiced": 0,
            "paid": 0,
            "confirmed": 0,
            "missed": 0,
            "total": total,
        },
        "committed_idr": total,
        "budget_used_idr": total,
        "budget_left_idr": ledger["medco-2026"]["budget_idr"] - total,
        "over_budget_idr": 0,
        "months_left": sum(1 for r in lines if r["month"] >= this_month),
        "last_month": add_months(first, MONTHS - 1).isoformat()[:7],
    }
    assert ledger["medco-2026"]["months_left"] == MONTHS  # coverage starts this month
    assert ledger["other-2026"]["ledger_idr"]["expected"] > 0

    path = f"/api/months?worker_id={ours.worker_id}"
    office = await call(service.port, "GET", path, OFFICE)
    assert office.status == 200
    months: list[dict[str, Any]] = office.body["months"]
    assert [m["month"] for m in months] == [r["month"].isoformat()[:7] for r in lines]
    assert [m["contribution_idr"] for m in months] == [r["contribution_idr"] for r in lines]
    assert {(m["state"], m["company_name"], m["kpj_number"]) for m in months} == {
        ("expected", "PT medco-2026", "16001234560")
    }
    assert office.body["totals_idr"]["expected"] == total
    audited = await call(service.port, "GET", path, AUDITOR)
    assert audited.status == 200 and audited.body["months"][0]["kpj_number"] != "16001234560"
    own = await call(service.port, "GET", path, MEDCO)
    assert own.status == 200 and len(own.body["months"]) == MONTHS
    other = await call(service.port, "GET", f"/api/months?worker_id={theirs.worker_id}", MEDCO)
    assert other.status == 404  # another company's worker: as if unknown
    unknown = await call(service.port, "GET", f"/api/months?worker_id={uuid.uuid4()}", OFFICE)
    assert unknown.status == 404
    assert (await call(service.port, "GET", "/api/months?worker_id=x", OFFICE)).status == 400
