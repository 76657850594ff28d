"""The notifications handlers on the in-memory store and a real `Publisher`: no servers.

What each handler queues and announces, once per event; the store is the fake that
tests/services/test_notifications_store.py holds to the PostgreSQL store's contract."""

import json
import uuid
from datetime import date
from typing import Any

import pytest

from services.notifications.handlers import NotificationsHandlers
from services.notifications.settings import NotificationsSettings
from shared import contracts
from shared.consumer import Handler, Incoming, MessageContext, PoisonMessage, Publisher
from shared.envelope import Envelope, new_envelope
from shared.events import EventModel
from shared.events.notifications import NotificationStored
from shared.events.registry import RegistrationRejected, RejectionReason
from shared.events.sponsorship import EnrollmentCompleted, EnrollmentFailed, WorkerWaitlisted
from testkit.samples import (
    EVENTS_AT,
    enrollment_completed,
    enrollment_failed,
    registration_rejected,
    sample_phone,
    worker_waitlisted,
)
from tests.fakes.notifications import InMemoryNotifications, QueuedRow

OFFICE = "disnakertrans@mubakab.go.id"
NOW = EVENTS_AT
WORKER = "3f2b8c1e-7a4d-4e59-9c0b-5d6e7f8a9b10"
phone = sample_phone


def completed(worker_id: str = WORKER, i: int = 1, **changes: Any) -> EnrollmentCompleted:
    return enrollment_completed(worker_id, i, **changes)


def waitlisted(worker_id: str = WORKER, i: int = 2, **changes: Any) -> WorkerWaitlisted:
    return worker_waitlisted(worker_id, i, **changes)


def failed(worker_id: str = WORKER, i: int = 3, **changes: Any) -> EnrollmentFailed:
    return enrollment_failed(worker_id, i, **changes)


def rejected(submission_id: str = "sub-1", with_phone: str | None = phone(4)) -> RegistrationRejected:
    return registration_rejected(submission_id, with_phone, "Joko Pratama")


class Service:
    """The handlers, their database and what they published, one transaction per message."""

    def __init__(self, **settings: Any) -> None:
        self.handlers = NotificationsHandlers(NotificationsSettings(office_email=OFFICE, **settings))
        self.db = InMemoryNotifications(clock=lambda: NOW)
        self.keys: list[bytes | None] = []  # the Kafka keys of what the last message published

    def received(
        self, event: EventModel, body: dict[str, Any] | None = None, event_id: str | None = None
    ) -> Incoming:
        """`event` as it comes off its topic, with CloudEvents headers of its own (its own id)."""
        contract = contracts.of(event)
        key = contract.key(event)
        envelope: Envelope = new_envelope(contract.event_type, "/muba/test", subject=key, event_id=event_id)
        raw = json.dumps(body if body is not None else event.model_dump(mode="json")).encode()
        return Incoming(contract.topic, 0, 0, contract.key(event), envelope.headers(), raw, envelope, 0)

    async def handle(self, incoming: Incoming) -> list[NotificationStored]:
        contract = contracts.by_topic(incoming.topic)
        assert contract is not None
        by_contract: dict[contracts.Contract[Any], Handler] = {
            contracts.REGISTRATION_REJECTED: self.handlers.on_registration_rejected,
            contracts.WORKER_WAITLISTED: self.handlers.on_worker_waitlisted,
            contracts.ENROLLMENT_COMPLETED: self.handlers.on_enrollment_completed,
            contracts.ENROLLMENT_FAILED: self.handlers.on_enrollment_failed,
        }
        handler = by_contract[contract]
        publisher = Publisher("notifications")
        async with self.db.transaction() as store:
            await handler(MessageContext(incoming, contract, store, publisher))
        self.keys = [row.key for row in publisher.rows]
        assert {row.topic for row in publisher.rows} <= {contracts.NOTIFICATION_SENT_V1.topic}
        return [e for e in publisher.events if isinstance(e, NotificationStored)]

    async def send(self, event: EventModel) -> list[NotificationStored]:
        return await self.handle(self.received(event))

    def rows(self) -> list[QueuedRow]:
        return self.db.queued()


def told(rows: list[QueuedRow]) -> list[tuple[str, str, str, str]]:
    return [
        (r.notification.template, r.notification.audience, r.notification.channel, r.notification.recipient)
        for r in rows
    ]


def announced(events: list[NotificationStored]) -> list[tuple[str, str, str, str]]:
    return [(e.template, e.audience, e.channel, e.recipient_masked) for e in events]


# --- each handler -------------------------------------------------------------------------------


async def test_registration_rejected_tells_the_worker_and_the_office_keyed_by_the_submission() -> None:
    service = Service()
    sent = await service.send(rejected("sub-1", phone(4)))
    assert told(service.rows()) == [
        ("registration_rejected", "worker", "sms", phone(4)),
        ("registration_rejected", "office", "email", OFFICE),
    ]
    assert announced(sent) == [
        ("registration_rejected", "worker", "sms", "+62812****0004"),
        ("registration_rejected", "office", "email", "d***@mubakab.go.id"),
    ]
    assert {(e.worker_id, e.submission) for e in sent} == {(None, "desa-online/sub-1")}
    assert service.keys == [b"desa-online/sub-1"] * 2
    assert all(r.worker_id is None for r in service.rows())


async def test_registration_rejected_without_a_phone_tells_only_the_office() -> None:
    service = Service()
    sent = await service.send(rejected("sub-2", None))
    assert told(service.rows()) == [("registration_rejected", "office", "email", OFFICE)]
    assert announced(sent) == [("registration_rejected", "office", "email", "d***@mubakab.go.id")]


async def test_worker_waitlisted_tells_the_worker_on_the_configured_channel() -> None:
    service = Service(worker_channel="whatsapp")
    sent = await service.send(waitlisted())
    assert told(service.rows()) == [("worker_waitlisted", "worker", "whatsapp", phone(2))]
    assert "Keluang" in service.rows()[0].notification.body
    assert announced(sent) == [("worker_waitlisted", "worker", "whatsapp", "+62812****0002")]
    assert [(e.worker_id, e.submission) for e in sent] == [(WORKER, None)]
    assert service.keys == [WORKER.encode()]


async def test_enrollment_completed_tells_the_worker_and_the_sponsoring_company() -> None:
    service = Service()
    sent = await service.send(completed())
    assert told(service.rows()) == [
        ("enrollment_confirmed", "worker", "sms", phone(1)),
        ("enrollment_confirmed", "company", "email", "csr@hindoli.co.id"),
        ("enrollment_confirmed", "company", "webhook", "https://hooks.hindoli.co.id/bpjs?token=s3cret"),
    ]
    assert announced(sent) == [
        ("enrollment_confirmed", "worker", "sms", "+62812****0001"),
        ("enrollment_confirmed", "company", "email", "c***@hindoli.co.id"),
        ("enrollment_confirmed", "company", "webhook", "https://hooks.hindoli.co.id"),
    ]
    rows = service.rows()
    # Each announcement names its row, and was sent when the row was queued.
    assert [e.notification_id for e in sent] == [str(r.id) for r in rows]
    assert {e.sent_at for e in sent} == {NOW}
    assert service.keys == [WORKER.encode()] * 3
    assert {r.worker_id for r in rows} == {uuid.UUID(WORKER)}
    assert "12345678901" in rows[0].notification.body
    assert json.loads(rows[2].notification.body)["nik_masked"] == "160601********03"
    for event in sent:  # the announcements carry no address
        body = event.model_dump_json()
        assert phone(1) not in body and "csr@" not in body and "token" not in body


@pytest.mark.parametrize(
    ("membership", "worker_words", "company_words"),
    [
        ("new", "kepesertaan baru", "kepesertaan baru"),
        ("continued", "Anda dilanjutkan", "dilanjutkan dengan No. KPJ yang sama"),
        ("resumed", "Anda diaktifkan kembali", "diaktifkan kembali dengan No. KPJ yang sama"),
    ],
)
async def test_enrollment_completed_says_whether_the_membership_is_new_or_the_workers_own(
    membership: str, worker_words: str, company_words: str
) -> None:
    service = Service()
    await service.send(completed(membership=membership))
    worker, email, webhook = (row.notification for row in service.rows())
    assert worker_words in worker.body and "12345678901" in worker.body
    assert company_words in email.body and "12345678901" in email.body
    assert json.loads(webhook.body)["membership"] == membership


async def test_a_data_mismatch_tells_the_worker_what_to_bring_and_the_office_what_to_check() -> None:
    service = Service()
    await service.send(failed(reason_code="DATA_MISMATCH", reason_message="Data tidak sesuai Dukcapil"))
    worker, office = (row.notification for row in service.rows())
    assert "KTP dan Kartu Keluarga (KK)" in worker.body and "Disdukcapil" in worker.body
    assert office.recipient == OFFICE and "Tindak lanjut:" in office.body


async def test_an_already_funded_worker_is_told_to_do_nothing() -> None:
    service = Service()
    event = rejected().model_copy(
        update={
            "reasons": [
                RejectionReason(
                    field="nik",
                    code="ALREADY_FUNDED",
                    message="Sudah didanai oleh PAKE KELAMBU (APBD Kabupaten Musi Banyuasin)",
                )
            ]
        }
    )
    await service.send(event)
    worker, office = (row.notification for row in service.rows())
    assert worker.recipient == phone(4)
    assert "sudah dilindungi BPJS Ketenagakerjaan dengan iuran ditanggung PAKE KELAMBU" in worker.body
    assert "tidak perlu melakukan apa pun" in worker.body
    assert "tidak perlu dikirim ulang" in office.body


async def test_enrollment_failed_tells_the_worker_why_and_the_office() -> None:
    service = Service()
    sent = await service.send(failed())
    assert told(service.rows()) == [
        ("enrollment_rejected", "worker", "sms", phone(3)),
        ("enrollment_rejected", "office", "email", OFFICE),
    ]
    assert "Dukcapil" in service.rows()[0].notification.body
    assert announced(sent) == [
        ("enrollment_rejected", "worker", "sms", "+62812****0003"),
        ("enrollment_rejected", "office", "email", "d***@mubakab.go.id"),
    ]
    assert {e.worker_id for e in sent} == {WORKER}
    assert service.keys == [WORKER.encode()] * 2


# --- once per event -----------------------------------------------------------------------------

EVENTS = {
    "registration rejected": rejected,
    "worker waitlisted": waitlisted,
    "enrollment completed": completed,
    "enrollment failed": failed,
}


@pytest.mark.parametrize("make", EVENTS.values(), ids=EVENTS.keys())
async def test_a_replayed_event_queues_and_announces_nothing_new(make: Any) -> None:
    """The dedupe key holds where the inbox does not (another consumer, a replay after cleanup)."""
    service = Service()
    incoming = service.received(make())
    first = await service.handle(incoming)
    before = service.rows()
    assert first and len(first) == len(before)
    assert await service.handle(incoming) == []
    assert service.keys == []
    assert service.rows() == before


@pytest.mark.parametrize("make", EVENTS.values(), ids=EVENTS.keys())
async def test_a_new_event_with_the_same_content_is_told_again(make: Any) -> None:
    service = Service()
    event = make()
    first = await service.send(event)
    second = await service.send(event)  # another ce_id
    assert announced(second) == announced(first)
    assert len(service.rows()) == 2 * len(first)
    assert len({r.event_id for r in service.rows()}) == 2


async def test_a_waitlisting_that_arrives_after_the_enrollment_tells_the_worker_nothing() -> None:
    """Enrollment and waitlisting come on different topics, so in any order: once the worker was
    told they are enrolled, a late "you are on the waitlist" would be wrong."""
    service = Service()
    other = str(uuid.uuid4())
    await service.send(completed())
    assert await service.send(waitlisted()) == []
    assert service.keys == []
    assert await service.send(waitlisted(other, 5)) != []  # another worker is still told
    assert [(str(r.worker_id), r.notification.template, r.notification.audience) for r in service.rows()] == [
        (WORKER, "enrollment_confirmed", "worker"),
        (WORKER, "enrollment_confirmed", "company"),
        (WORKER, "enrollment_confirmed", "company"),
        (other, "worker_waitlisted", "worker"),
    ]


async def test_a_waitlisting_before_the_enrollment_is_told_and_so_is_the_enrollment() -> None:
    service = Service()
    await service.send(waitlisted())
    await service.send(completed(company_email=None, company_webhook_url=None))
    assert [r.notification.template for r in service.rows()] == ["worker_waitlisted", "enrollment_confirmed"]


async def test_only_the_workers_own_enrollment_message_makes_a_waitlisting_stale() -> None:
    """An enrollment failure, or a registration rejection, does not stop the waitlisted message."""
    service = Service()
    await service.send(failed())
    assert await service.send(waitlisted()) != []


# --- what can never be sent ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        waitlisted(phone="081200000003"),  # not normalised: SMS cannot reach it
        completed(phone="081200000003"),
        failed().model_copy(update={"phone": "081200000003"}),
        completed(coverage_end=date(2026, 1, 1)),  # ends before it starts
        completed(kpj_number="  "),
    ],
    ids=["waitlisted", "completed", "failed", "coverage", "kpj"],
)
async def test_unsendable_data_is_dead_lettered_as_unsendable_and_nothing_is_queued(
    event: EventModel,
) -> None:
    service = Service()
    with pytest.raises(PoisonMessage) as raised:
        await service.send(event)
    assert raised.value.reason == "UNSENDABLE"
    assert "081200000003" not in str(raised.value)  # the detail goes into dead-letter headers
    assert service.rows() == []


async def test_an_office_address_missing_is_unsendable() -> None:
    service = Service()
    service.handlers.settings = NotificationsSettings(office_email=" ")
    with pytest.raises(PoisonMessage) as raised:
        await service.send(rejected())
    assert raised.value.reason == "UNSENDABLE"
    assert service.rows() == []


@pytest.mark.parametrize("make", [waitlisted, completed, failed], ids=["waitlisted", "completed", "failed"])
async def test_a_worker_id_that_is_not_a_uuid_breaks_the_contract(make: Any) -> None:
    service = Service()
    with pytest.raises(PoisonMessage) as raised:
        await service.send(make("worker-7"))
    assert raised.value.reason == "CONTRACT_VIOLATION"
    assert service.rows() == []


async def test_a_body_that_breaks_the_contract_is_a_contract_violation() -> None:
    service = Service()
    body = {k: v for k, v in waitlisted().model_dump(mode="json").items() if k != "phone"}
    with pytest.raises(PoisonMessage) as raised:
        await service.handle(service.received(waitlisted(), body))
    assert raised.value.reason == "CONTRACT_VIOLATION" and "phone" in raised.value.detail
    assert service.rows() == []


# --- stored names are not renamed ---------------------------------------------------------------

# What the release before the rename of enrollment_confirmed/rejected to enrollment_completed/failed
# (issue 11, item 7) stored for these events: (template, audience, channel, dedupe_key).
STORED_BEFORE = {
    "completed": [
        (
            "enrollment_confirmed",
            "worker",
            "sms",
            "a62339228be0d7bc67a72bd6ba9c0916ab6ffb433481a8baf8fe99fc700e9eab",
        ),
        (
            "enrollment_confirmed",
            "company",
            "email",
            "f196923d27b474bd46a411bff31d5bfedbb41ce24bd67698825e0cf74b02db22",
        ),
        (
            "enrollment_confirmed",
            "company",
            "webhook",
            "5dc2f1f1b1659f12f09acebf10f8edc8557b21e372c568ce0ee1ca8b25c6327c",
        ),
    ],
    "failed": [
        (
            "enrollment_rejected",
            "worker",
            "sms",
            "14d38f6602673f29eac0e0f20ed55240abdcb0f867df9ff014aa5e327c76134c",
        ),
        (
            "enrollment_rejected",
            "office",
            "email",
            "4a05126bb73e9fc84d806004edf36e00a67ab6595398ec9ffc0752e123ee37f2",
        ),
    ],
    "waitlisted": [
        (
            "worker_waitlisted",
            "worker",
            "sms",
            "0ea76550516c755e97d650e06b65ab29869a0bc0c9687b504008182a9b07bd10",
        ),
    ],
    "rejected": [
        (
            "registration_rejected",
            "worker",
            "sms",
            "32eb14caf85ed3ff5bde255535af9e8e90e1291a5b2a7a5e9f4aad0fca175e4c",
        ),
        (
            "registration_rejected",
            "office",
            "email",
            "400f75fad7fcf93f66aa49635bcddcd92aee1ce2a5cf4d3a0c05ab5648a3f195",
        ),
    ],
}


@pytest.mark.parametrize("make", [completed, failed, waitlisted, rejected], ids=STORED_BEFORE.keys())
async def test_an_event_handled_before_a_rename_queues_nothing_when_replayed(make: Any) -> None:
    """Template names are stored in rows, sent in NotificationStored.template (and the webhook's
    "event"), and part of the dedupe key: they stay as first published whatever the code calls
    them, or a replayed old event would queue its messages a second time."""
    service = Service()
    await service.handle(service.received(make(), event_id=f"golden-{make.__name__}"))
    stored = [
        (r.notification.template, r.notification.audience, r.notification.channel, r.dedupe_key)
        for r in service.rows()
    ]
    assert stored == STORED_BEFORE[make.__name__]
