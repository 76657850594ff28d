"""The registry's handler with the in-memory store and a real Publisher: no servers.

What it stores is read back from the store, what it published from the publisher; the same
store contract holds for PostgreSQL (tests/services/test_registry_store.py)."""

import dataclasses
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.registry.domain.funders import NikKey
from services.registry.domain.registration import validate_from_intake
from services.registry.handlers import RegistryHandlers
from services.registry.repository import RegistryStore
from services.registry.settings import RegistrySettings
from shared import clock, contracts, topics
from shared.consumer import Incoming, MessageContext, PoisonMessage, Publisher
from shared.envelope import REPLAY_FOR_HEADER, REPLAY_HEADER, Envelope
from shared.events.registry import RegistrationRejected, RegistrationSubmitted, WorkerRegistered
from testkit.samples import sample_registration
from tests.fakes.registry import InMemoryRegistryStore

PREFIX = "t1."
NIK_KEY = NikKey(b"unit-tests-nik-key-0123456789abcdef")
# The handler's own context type: mypy checks that the in-memory store is a RegistryStore.
Ctx = MessageContext[RegistrationSubmitted, RegistryStore]


def message(
    body: object, partner: str = "desa-online", *, offset: int = 0, topic: str | None = None
) -> Incoming:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Incoming(
        topic=topic or PREFIX + topics.intake_topic(partner),
        partition=0,
        offset=offset,
        key=None,
        headers={},
        body=raw,
        envelope=None,
        timestamp_ms=0,
    )


class Registry:
    """One handler, one store and one publisher, as a batch's transaction has them."""

    def __init__(self) -> None:
        self.handlers = RegistryHandlers(RegistrySettings(TOPIC_PREFIX=PREFIX), NIK_KEY)
        self.store = InMemoryRegistryStore()
        self.publisher = Publisher("registry", PREFIX)

    async def submit(self, body: object, partner: str = "desa-online", **kw: Any) -> Incoming:
        incoming = message(body, partner, **kw)
        ctx = Ctx(incoming, contracts.REGISTRATION_SUBMITTED, self.store, self.publisher)
        await self.handlers.on_registration_submitted(ctx)
        return incoming

    @property
    def registered(self) -> list[WorkerRegistered]:
        return [e for e in self.publisher.events if isinstance(e, WorkerRegistered)]

    @property
    def rejected(self) -> list[RegistrationRejected]:
        return [e for e in self.publisher.events if isinstance(e, RegistrationRejected)]


@pytest.fixture
def registry() -> Registry:
    return Registry()


async def test_a_registration_is_registered_once_and_announced_whole(registry: Registry) -> None:
    body = dict(sample_registration(1, run=31), desa="Sukajadi", declared_income_idr=1_250_000)
    before, incoming = clock.now(), await registry.submit(body)

    worker = await registry.store.worker(body["nik"])
    submission = await registry.store.submission("desa-online", body["submission_id"])
    assert worker is not None and submission is not None
    assert (submission.outcome, submission.worker_id, submission.event_id) == (
        "registered",
        worker.worker_id,
        incoming.event_id,
    )
    (event,) = registry.publisher.events
    assert event == WorkerRegistered(
        worker_id=str(worker.worker_id),
        submission_id=body["submission_id"],
        source="desa-online",
        nik=body["nik"],
        full_name=body["full_name"],
        birth_date=date.fromisoformat(body["birth_date"]),
        sex=body["sex"],
        phone="+62" + body["phone"][1:],
        kecamatan_code="02",
        kecamatan_name="Lais",
        desa="Sukajadi",
        occupation=body["occupation"],
        declared_income_idr=1_250_000,
        registered_at=worker.registered_at,
        registration_seq=worker.registration_seq,
    )
    assert before <= event.registered_at <= clock.now() and event.registered_at.tzinfo is not None
    (row,) = registry.publisher.rows
    assert row.topic == PREFIX + contracts.WORKER_REGISTERED.topic
    assert row.key == str(worker.worker_id).encode()  # keyed by the worker: its events stay in order
    (envelope,) = registry.publisher.envelopes
    assert envelope.correlation_id == incoming.correlation_id == incoming.event_id


async def test_a_nik_that_disagrees_is_registered_and_announced_with_its_warnings(
    registry: Registry,
) -> None:
    # 1606015208900003: a woman born 12 Aug 1990, first registered in Sekayu. Stated 13 Aug and L:
    # Dukcapil may have corrected both behind a NIK that never changes; BPJS's check decides.
    body = dict(sample_registration(5, run=31), nik="1606015208900003", birth_date="1990-08-13", sex="L")
    await registry.submit(body)

    (event,) = registry.publisher.events
    assert isinstance(event, WorkerRegistered)
    assert (event.nik, event.birth_date, event.sex) == ("1606015208900003", date(1990, 8, 13), "L")
    assert [(w.field, w.code) for w in event.warnings] == [
        ("nik", "NIK_BIRTH_DATE_MISMATCH"),
        ("nik", "NIK_SEX_MISMATCH"),
    ]
    assert all("Dukcapil" in w.message and "1606" not in w.message for w in event.warnings)
    worker = await registry.store.worker(body["nik"])
    assert worker is not None
    assert [(w.field, w.code, w.message) for w in worker.warnings] == [
        (w.field, w.code, w.message) for w in event.warnings
    ]
    assert registry.rejected == []


async def test_a_nik_from_an_unknown_area_is_registered_with_a_warning(registry: Registry) -> None:
    body = dict(sample_registration(5, run=31), nik="1699995208900003", birth_date="1990-08-12", sex="P")
    await registry.submit(body)
    (event,) = registry.registered
    assert [w.code for w in event.warnings] == ["NIK_AREA_UNKNOWN"]


async def test_a_worker_whose_nik_agrees_is_announced_without_warnings(registry: Registry) -> None:
    await registry.submit(sample_registration(5, run=31))
    (event,) = registry.registered
    assert event.warnings == []
    assert "warnings" in event.model_dump()  # present, empty: consumers need not guess


async def test_the_same_submission_again_changes_nothing_and_publishes_nothing(registry: Registry) -> None:
    body = sample_registration(1, run=31)
    await registry.submit(body)
    workers, submissions = dict(registry.store.workers), dict(registry.store.submissions)
    published = list(registry.publisher.events)

    await registry.submit(body, offset=1)  # a redelivery, byte for byte
    await registry.submit(dict(body, full_name="Nama Lain", nik="1606010101900001"), offset=2)  # same id
    assert registry.store.workers == workers and registry.store.submissions == submissions
    assert registry.publisher.events == published and len(published) == 1


async def test_a_duplicate_nik_is_rejected_and_published_as_rejected(registry: Registry) -> None:
    first = sample_registration(1, run=31)
    again = dict(sample_registration(2, run=31, source="kud-sekayu"), nik=first["nik"])
    again["submission_id"] = "another-submission"
    again.update(birth_date=first["birth_date"], sex=first["sex"])  # valid apart from the NIK taken
    await registry.submit(first)
    await registry.submit(again, "kud-sekayu")

    (kept,) = registry.store.workers.values()
    assert kept.submission_id == first["submission_id"]  # the first registration stays
    (rejection,) = registry.rejected
    assert [(r.field, r.code) for r in rejection.reasons] == [("nik", "DUPLICATE_NIK")]
    assert (rejection.source, rejection.submission_id) == ("kud-sekayu", "another-submission")
    assert (rejection.full_name, rejection.phone) == (again["full_name"], "+62" + again["phone"][1:])
    assert "nik" not in rejection.model_dump()
    submission = await registry.store.submission("kud-sekayu", "another-submission")
    assert submission is not None
    assert (submission.outcome, submission.worker_id, submission.kecamatan_code) == ("rejected", None, "03")
    assert [r.code for r in submission.reasons or ()] == ["DUPLICATE_NIK"]


async def test_an_invalid_registration_is_rejected_with_every_reason(registry: Registry) -> None:
    body = dict(
        sample_registration(3, run=31),
        nik="1234",
        phone="0812-3456-7890",
        kecamatan="Sungai Lilin",
        sex="X",
        occupation="",
        declared_income_idr=-5,
    )
    await registry.submit(body)

    expected = validate_from_intake(body, "desa-online", today=clock.today_in_jakarta())
    assert isinstance(expected, list)
    (rejection,) = registry.publisher.events
    assert isinstance(rejection, RegistrationRejected)
    assert [(r.field, r.code, r.message) for r in rejection.reasons] == [
        (r.field, r.code, r.message) for r in expected
    ]
    assert {r.code for r in rejection.reasons} >= {
        "NIK_FORMAT",
        "SEX_INVALID",
        "MISSING_FIELD",
        "INCOME_INVALID",
    }
    # The worker can still be told: the phone as normalised; no name from an invalid registration.
    assert (rejection.phone, rejection.full_name) == ("+6281234567890", None)
    assert registry.store.workers == {}
    submission = await registry.store.submission("desa-online", body["submission_id"])
    assert submission is not None and submission.outcome == "rejected"
    assert submission.kecamatan_code == "07"  # where the rejection came from, for the office's report
    assert list(submission.reasons or ()) == expected


async def test_a_rejection_keeps_no_phone_or_kecamatan_it_cannot_read(registry: Registry) -> None:
    body = dict(sample_registration(3, run=31), phone="12345", kecamatan="Jakarta Selatan", nik="1")
    await registry.submit(body)
    (rejection,) = registry.rejected
    assert rejection.phone is None
    submission = await registry.store.submission("desa-online", body["submission_id"])
    assert submission is not None and submission.kecamatan_code is None


async def test_a_body_claiming_another_partner_is_refused_as_the_sender(registry: Registry) -> None:
    forged = dict(sample_registration(4, run=31, source="desa-online"), submission_id="desa-online-31-9")
    silent = {k: v for k, v in sample_registration(5, run=31).items() if k != "source"}
    await registry.submit(forged, "kud-sekayu")
    await registry.submit(silent, "kud-sekayu")

    (rejection,) = registry.rejected
    assert [(r.field, r.code) for r in rejection.reasons] == [("source", "SOURCE_MISMATCH")]
    assert (rejection.source, rejection.submission_id) == ("kud-sekayu", "desa-online-31-9")
    assert await registry.store.submission("desa-online", "desa-online-31-9") is None
    assert await registry.store.worker(forged["nik"]) is None
    (registered,) = registry.registered
    assert registered.source == "kud-sekayu"  # no source in the body: the topic's partner


async def test_another_partner_may_use_the_same_submission_id(registry: Registry) -> None:
    ours = sample_registration(1, run=31)
    theirs = dict(sample_registration(2, run=31, source="kud-sekayu"), submission_id=ours["submission_id"])
    await registry.submit(ours)
    await registry.submit(theirs, "kud-sekayu")
    assert [(e.source, e.submission_id) for e in registry.registered] == [
        ("desa-online", ours["submission_id"]),
        ("kud-sekayu", ours["submission_id"]),
    ]


async def test_the_rejected_event_is_keyed_by_source_and_submission_id(registry: Registry) -> None:
    await registry.submit(dict(sample_registration(1, run=31), nik="1234"), "kud-sekayu")
    (row,) = registry.publisher.rows
    assert row.topic == PREFIX + contracts.REGISTRATION_REJECTED.topic
    assert row.key == b"kud-sekayu/desa-online-31-1"
    assert json.loads(row.body)["source"] == "kud-sekayu"


@pytest.mark.parametrize("submission_id", [None, 17, "x" * 1_001, "with\x00nul", "   "])
async def test_a_submission_without_a_usable_id_is_rejected_and_never_recognised_again(
    registry: Registry, submission_id: object
) -> None:
    """No id to remember it by: the same bytes again are one message (the inbox's event id), but
    a resend with any change is another rejection."""
    body = dict(sample_registration(1, run=31), submission_id=submission_id)
    await registry.submit(body)
    await registry.submit(body, offset=1)  # the same record again: the same event
    await registry.submit(dict(body, desa="Lain"), offset=2)  # another record, still no id
    assert [e.submission_id for e in registry.rejected] == [None, None]
    assert {r.field for e in registry.rejected for r in e.reasons} == {"submission_id"}
    assert registry.registered == [] and registry.store.workers == {}
    assert [s.submission_id for s in registry.store.submissions.values()] == [None, None]


async def test_one_batch_registers_in_order_and_numbers_increase(registry: Registry) -> None:
    bodies = [sample_registration(i, run=31) for i in range(5)]
    for n, body in enumerate(bodies):
        await registry.submit(body, offset=n)
    numbers = [e.registration_seq for e in registry.registered]
    assert [e.nik for e in registry.registered] == [b["nik"] for b in bodies]
    assert numbers == sorted(set(numbers))  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("body", "reason"), [(b"\xff not json", "NOT_JSON"), (b"[1, 2]", "NOT_A_JSON_OBJECT")]
)
async def test_a_body_that_is_no_json_object_is_poison_and_claims_nothing(
    registry: Registry, body: bytes, reason: str
) -> None:
    with pytest.raises(PoisonMessage) as refused:
        await registry.submit(body)
    assert refused.value.reason == reason
    assert registry.store.submissions == {} and registry.publisher.events == []


async def test_a_message_off_the_partners_intakes_is_not_handled(registry: Registry) -> None:
    with pytest.raises(ValueError, match="no partner's intake topic"):
        await registry.submit(
            sample_registration(1, run=31), topic=PREFIX + contracts.WORKER_REGISTERED.topic
        )
    assert registry.store.submissions == {} and registry.publisher.events == []


def test_the_partner_is_read_from_the_topic_once_under_any_prefix() -> None:
    on_intake = message({}, "kud-sekayu")
    assert on_intake.partner == "kud-sekayu"
    assert message({}, topic="registry.registration-submitted.v1.desa-online").partner == "desa-online"
    assert message({}, topic=PREFIX + topics.intake_topic("a") + ".dlq").partner is None
    assert message({}, topic=PREFIX + contracts.WORKER_REGISTERED.topic).partner is None
    # The partner is part of who a message is: the same bytes from two partners are two messages.
    assert on_intake.event_id != message({}, "desa-online").event_id
    # A replay meant for another consumer is the original to this one: another identity, same partner.
    headers = {REPLAY_HEADER: "letter-1", REPLAY_FOR_HEADER: "other"}
    replay = dataclasses.replace(on_intake, headers=headers, event_id="")  # identity recomputed
    replayed = replay.for_consumer("registry")
    assert replayed.event_id != replay.event_id and replayed.event_id == on_intake.event_id
    assert replayed.partner == "kud-sekayu"


async def test_the_handler_publishes_with_the_messages_correlation_id(registry: Registry) -> None:
    incoming = Incoming(
        topic=PREFIX + topics.intake_topic("desa-online"),
        partition=0,
        offset=0,
        key=None,
        headers={},
        body=json.dumps(sample_registration(1, run=31)).encode(),
        envelope=Envelope("ev-1", "x.v1", "/partner/desa-online", datetime(2026, 1, 1, tzinfo=UTC), "corr-7"),
        timestamp_ms=0,
    )
    ctx = Ctx(incoming, contracts.REGISTRATION_SUBMITTED, registry.store, registry.publisher)
    await registry.handlers.on_registration_submitted(ctx)
    assert [e.correlation_id for e in registry.publisher.envelopes] == ["corr-7"]
