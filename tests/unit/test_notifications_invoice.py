"""The company is told of its invoice (notifications' on_invoice_issued and its template): the
number, the month, the total in Rupiah, the due date and where to get the CSV, in Bahasa
Indonesia, by e-mail and webhook; once per event id."""

import json
from datetime import UTC, date, datetime

from services.notifications.handlers import NotificationsHandlers
from services.notifications.settings import NotificationsSettings
from shared import contracts
from shared.consumer import Incoming, MessageContext, Publisher
from shared.envelope import new_envelope
from shared.events.notifications import NotificationStored
from shared.events.sponsorship import InvoiceIssued
from tests.fakes.notifications import InMemoryNotifications

CSV_URL = "https://sponsorship.muba.example/api/invoices.csv"
ISSUED = InvoiceIssued(
    invoice_id="eaffa2b5-4284-5459-ae90-3a0167c61527",
    invoice_number="INV-PT-HINDOLI-2027-03",
    company_id="pt-hindoli",
    company_name="PT Hindoli",
    company_email="keuangan@hindoli.co.id",
    company_webhook_url="https://hindoli.example/hooks/muba",
    month="2027-03",
    lines_count=120,
    total_idr=2_016_000,
    issue_date=date(2027, 3, 1),
    due_date=date(2027, 3, 16),
    issued_at=datetime(2027, 2, 28, 17, tzinfo=UTC),
)


async def handle(db: InMemoryNotifications, event: InvoiceIssued, event_id: str) -> list[NotificationStored]:
    contract = contracts.INVOICE_ISSUED
    envelope = new_envelope(
        contract.event_type, "/muba/sponsorship", subject=event.company_id, event_id=event_id
    )
    raw = event.model_dump_json().encode()
    incoming = Incoming(contract.topic, 0, 0, contract.key(event), envelope.headers(), raw, envelope, 0)
    handlers = NotificationsHandlers(NotificationsSettings(office_email="o@x.id", invoice_csv_url=CSV_URL))
    publisher = Publisher("notifications")
    async with db.transaction() as store:
        await handlers.on_invoice_issued(MessageContext(incoming, contract, store, publisher))
    return [e for e in publisher.events if isinstance(e, NotificationStored)]


async def test_the_company_gets_an_email_and_a_webhook_with_number_month_total_due_date_and_csv() -> None:
    db = InMemoryNotifications(clock=lambda: ISSUED.issued_at)
    sent = await handle(db, ISSUED, ISSUED.invoice_id)
    assert [(e.template, e.audience, e.channel) for e in sent] == [
        ("invoice_issued", "company", "email"),
        ("invoice_issued", "company", "webhook"),
    ]
    email, webhook = (row.notification for row in db.queued())
    assert email.recipient == "keuangan@hindoli.co.id"
    assert (
        email.subject == "Tagihan iuran BPJS Ketenagakerjaan Maret 2027: INV-PT-HINDOLI-2027-03 (Rp2.016.000)"
    )
    for expected in (
        "Yth. PT Hindoli",
        "Nomor tagihan : INV-PT-HINDOLI-2027-03",
        "Bulan iuran   : Maret 2027",
        "Total tagihan : Rp2.016.000",
        "Jatuh tempo   : 16 Maret 2027",
        f"{CSV_URL}?invoice_id={ISSUED.invoice_id}",
    ):
        assert expected in email.body, expected
    body = json.loads(webhook.body)
    assert webhook.recipient == "https://hindoli.example/hooks/muba"
    assert body["invoice_number"] == "INV-PT-HINDOLI-2027-03" and body["total_idr"] == 2_016_000
    assert body["due_date"] == "2027-03-16" and body["month"] == "2027-03"
    assert body["csv_url"] == f"{CSV_URL}?invoice_id={ISSUED.invoice_id}"
    assert (
        body["pesan"]
        == "Tagihan INV-PT-HINDOLI-2027-03 bulan Maret 2027: Rp2.016.000, jatuh tempo 16 Maret 2027."
    )


async def test_the_same_event_again_tells_nobody_twice() -> None:
    db = InMemoryNotifications(clock=lambda: ISSUED.issued_at)
    assert len(await handle(db, ISSUED, ISSUED.invoice_id)) == 2
    assert await handle(db, ISSUED, ISSUED.invoice_id) == []
    assert len(db.queued()) == 2


async def test_a_company_with_only_an_email_gets_only_the_email() -> None:
    db = InMemoryNotifications(clock=lambda: ISSUED.issued_at)
    sent = await handle(db, ISSUED.model_copy(update={"company_webhook_url": None}), ISSUED.invoice_id)
    assert [e.channel for e in sent] == ["email"]
