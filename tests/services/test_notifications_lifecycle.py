"""Notifications against real Kafka and PostgreSQL for the lifecycle's events: an invoice
reminder reaches the company, coverage ending / extended / ended reach the worker (SMS), the
company and (ended) the office, each once per event and recipient even when redelivered; no
unmasked personal number in what is announced."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

from services.notifications.domain import sms_segments
from shared import contracts
from shared.envelope import event_type, new_envelope
from shared.events.sponsorship import CoverageEnded, CoverageEnding, CoverageExtended, InvoiceReminder
from testkit.infra import Infra
from testkit.kafka import record_events
from tests.services.test_notifications import notifications, publish, rows, summary, wait_until_sent

__all__ = ["notifications"]  # the fixture, imported for this module's tests

AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
PHONE = "+6281234560001"
COMPANY = {
    "company_id": "pt-hindoli",
    "company_name": "PT Hindoli",
    "company_email": "csr@hindoli.co.id",
    "company_webhook_url": "https://hooks.hindoli.co.id/bpjs?token=s3cret",
}


def worker(worker_id: str) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "enrollment_id": str(uuid.uuid4()),
        "full_name": "Siti Aminah",
        "phone": PHONE,
        "commitment_id": "hindoli-2026",
    }


async def test_each_lifecycle_event_tells_whom_it_should_once(infra: Infra, notifications: str) -> None:
    prefix = notifications
    w_ending, w_extended, w_fallback, w_waitlisted = (str(uuid.uuid4()) for _ in range(4))
    reminder = InvoiceReminder(
        invoice_id="inv-hindoli-2026-12",
        invoice_number="INV-PT-HINDOLI-2026-12",
        month="2026-12",
        due_date=date(2026, 12, 15),
        kind="overdue",
        days_from_due=1,
        unpaid_lines=2,
        unpaid_idr=33_600,
        reminded_at=AT,
        **COMPANY,
    )
    ending = CoverageEnding(
        **worker(w_ending),
        **COMPANY,
        kpj_number="16001234560",
        coverage_end=date(2026, 12, 31),
        days_left=30,
        noticed_at=AT,
    )
    extended = CoverageExtended(
        **worker(w_extended),
        company_id="pt-hindoli",
        company_name="PT Hindoli",
        months_added=6,
        coverage_end=date(2027, 6, 30),
        extended_at=AT,
    )
    ended: dict[str, Any] = {**COMPANY, "kpj_number": "16001234560", "last_covered_day": date(2026, 12, 31)}
    fallback = CoverageEnded(
        **worker(w_fallback),
        **ended,
        reason="period_ended",
        months_unpaid=0,
        next="fallback",
        next_company_name="PT Medco E&P",
        next_coverage_start=date(2027, 1, 1),
        ended_at=AT,
    )
    waitlisted = CoverageEnded(
        **worker(w_waitlisted),
        **ended,
        reason="lapsed",
        months_unpaid=3,
        next="waitlisted",
        next_company_name=None,
        next_coverage_start=None,
        ended_at=AT,
    )
    sent_topic = prefix + contracts.NOTIFICATION_SENT_V1.topic
    async with record_events(infra.kafka, sent_topic) as recorder:
        for contract, key, event in [
            (contracts.INVOICE_REMINDER, "pt-hindoli", reminder),
            (contracts.COVERAGE_ENDING, w_ending, ending),
            (contracts.COVERAGE_EXTENDED, w_extended, extended),
            (contracts.COVERAGE_ENDED, w_fallback, fallback),
            (contracts.COVERAGE_ENDED, w_waitlisted, waitlisted),
        ]:
            envelope = new_envelope(event_type(contract.event_name), "/muba/sponsorship", subject=key)
            body = event.model_dump(mode="json")
            for _ in range(2):  # redelivered: the same event (ce_id) twice
                await publish(infra, prefix + contract.topic, contract.event_name, key, body, envelope)
        await recorder.wait_for(14)
        events = await recorder.settle(1.5)
    masked_phone = "+62812****0001"
    company_email, hook, office = "c***@hindoli.co.id", "https://hooks.hindoli.co.id", "d***@mubakab.go.id"
    # A company's message about an invoice is about no worker: its announcement has no worker's key.
    found = {(None if t == "invoice_reminder" else k, t, a, c, r) for k, t, a, c, r in summary(events)}
    assert sorted(found, key=str) == sorted(
        {
            (None, "invoice_reminder", "company", "email", company_email),
            (None, "invoice_reminder", "company", "webhook", hook),
            (w_ending, "coverage_ending", "worker", "sms", masked_phone),
            (w_ending, "coverage_ending", "company", "email", company_email),
            (w_ending, "coverage_ending", "company", "webhook", hook),
            (w_extended, "coverage_extended", "worker", "sms", masked_phone),
            *(
                (w, "coverage_ended", audience, channel, to)
                for w in (w_fallback, w_waitlisted)
                for audience, channel, to in [
                    ("worker", "sms", masked_phone),
                    ("company", "email", company_email),
                    ("company", "webhook", hook),
                    ("office", "email", office),
                ]
            ),
        },
        key=str,
    )
    assert len(events) == 14  # once each, for two deliveries of every event
    assert all(PHONE not in e.body.decode() for e in events)

    stored = await wait_until_sent(infra, 14)
    by = {(str(r["worker_id"]), r["template"], r["audience"], r["channel"]): r["body"] for r in stored}
    mail = next(r["body"] for r in stored if r["template"] == "invoice_reminder" and r["channel"] == "email")
    assert "INV-PT-HINDOLI-2026-12" in mail and "Rp33.600" in mail and "15 Desember 2026" in mail
    assert "lewat jatuh tempo" in mail
    sms = by[(w_ending, "coverage_ending", "worker", "sms")]
    assert "31 Desember 2026" in sms and "30 hari lagi" in sms and sms_segments(sms) <= 2
    sms = by[(w_extended, "coverage_extended", "worker", "sms")]
    assert "30 Juni 2027" in sms and "tanpa jeda" in sms and "6 bulan" in sms
    sms = by[(w_fallback, "coverage_ended", "worker", "sms")]
    assert "Mulai 1 Januari 2027" in sms and "PT Medco E&P" in sms and sms_segments(sms) <= 3
    sms = by[(w_waitlisted, "coverage_ended", "worker", "sms")]
    assert "daftar tunggu" in sms and "nonaktif" in sms
    office_mail = by[(w_waitlisted, "coverage_ended", "office", "email")]
    assert "daftar tunggu" in office_mail and PHONE not in office_mail and "+62812****0001" in office_mail
    assert (await rows(infra, "recipient = $1", "disnakertrans@mubakab.go.id"))[0][
        "template"
    ] == "coverage_ended"
