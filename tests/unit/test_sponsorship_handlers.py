"""Sponsorship's handlers with the in-memory store and a real Publisher: no servers.

Each message runs as the consumer runs it: in a transaction (SponsorshipData.transaction(), undone
when the handler raises), a batch of messages sharing one store and one publisher. What they
published is `publisher.events`; what they stored is the fake's tables."""

import dataclasses
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.sponsorship.domain.feed import FeedKey
from services.sponsorship.domain.tariffs import IncomeBand, TariffTable
from services.sponsorship.handlers import MAX_RESERVATION_TRIES, SponsorshipHandlers
from services.sponsorship.repository import default_tariff_table
from services.sponsorship.settings import SponsorshipSettings
from shared import clock, contracts
from shared.consumer import Handler, Incoming, MessageContext, PoisonMessage, Publisher
from shared.events import EventModel
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected, EnrollmentRequested
from shared.events.feed import FeedWorkerEnrolled, FeedWorkerWaitlisted
from shared.events.registry import RegistrationWarning, WorkerRegistered
from shared.events.sponsorship import (
    CommitmentAccepted,
    CommitmentRejected,
    EnrollmentCompleted,
    EnrollmentFailed,
    SponsorMatched,
    WorkerWaitlisted,
)
from shared.kecamatan import kecamatan_name
from shared.masking import mask_nik
from testkit.samples import sample_commitment
from tests.fakes.sponsorship import InMemorySponsorshipStore, SponsorshipData

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
AT_FLOOR = 12 * 16_800  # JKK_JKM for 12 months at the income floor, no discount
# The stored table without its PP 50/2025 rows: full-price figures whatever month today is (the
# discount, on by default, is tested on fixed dates below).
FULL_PRICE = TariffTable(default_tariff_table().tariffs, [], default_tariff_table().info)
Message = tuple[contracts.Contract[Any], EventModel | dict[str, Any]]

FEED_KEY = FeedKey(b"unit-tests-feed-key-0123456789abcdef")


class Sponsorship:
    """The service's handlers over one in-memory database."""

    def __init__(
        self, tariffs: TariffTable = FULL_PRICE, settings: SponsorshipSettings | None = None
    ) -> None:
        self.data = SponsorshipData(tariffs=tariffs)
        self.handlers = SponsorshipHandlers(settings or SponsorshipSettings(), FEED_KEY)
        self.offset = 0
        self.last_store: InMemorySponsorshipStore | None = None
        self.feed: list[EventModel] = []

    def _handler(self, contract: contracts.Contract[Any]) -> Handler:
        h = self.handlers
        handlers: dict[str, Handler] = {
            contracts.COMMITMENT_SUBMITTED.topic: h.on_commitment_submitted,
            contracts.WORKER_REGISTERED.topic: h.on_worker_registered,
            contracts.WORKER_FUNDED_ELSEWHERE.topic: h.on_worker_funded_elsewhere,
            contracts.ENROLLMENT_CONFIRMED.topic: h.on_enrollment_confirmed,
            contracts.ENROLLMENT_REJECTED.topic: h.on_enrollment_rejected,
        }
        return handlers[contract.topic]

    async def batch(
        self, messages: Sequence[Message], store: type[InMemorySponsorshipStore] | None = None
    ) -> list[EventModel]:
        """The messages in one transaction (one store, one publisher); what they published."""
        publisher = Publisher("sponsorship")
        async with self.data.transaction(store) as s:
            self.last_store = s
            for contract, body in messages:
                raw = body.model_dump_json() if isinstance(body, EventModel) else json.dumps(body)
                self.offset += 1
                incoming = Incoming(contract.topic, 0, self.offset, None, {}, raw.encode(), None, 0)
                await self._handler(contract)(MessageContext(incoming, contract, s, publisher))
        # The public feed's events apart (each outcome's copy without personal data): the tests
        # below read the outcomes, test_the_public_feed_* the feed.
        self.feed += [e for e in publisher.events if contracts.of(e) in contracts.FEED]
        return [e for e in publisher.events if contracts.of(e) not in contracts.FEED]

    async def deliver(
        self, contract: contracts.Contract[Any], body: EventModel | dict[str, Any]
    ) -> list[EventModel]:
        return await self.batch([(contract, body)])

    async def commit(self, cid: str, kecamatan: list[str], slots: int, **extra: Any) -> list[EventModel]:
        return await self.deliver(contracts.COMMITMENT_SUBMITTED, commitment(cid, kecamatan, slots, **extra))

    async def register(self, *workers: WorkerRegistered) -> list[EventModel]:
        return await self.batch([(contracts.WORKER_REGISTERED, w) for w in workers])

    def status(self, worker: WorkerRegistered) -> str:
        return self.data.worker_status(worker.worker_id)


commitment = sample_commitment


def worker(
    i: int, kecamatan: str = "07", registration_seq: int | None = None, income: int | None = None
) -> WorkerRegistered:
    return WorkerRegistered(
        worker_id=str(uuid.UUID(int=i + 1)),
        submission_id=f"s-{i}",
        source="test",
        nik=f"160601{(i % 28) + 1:02d}0890{i + 1:04d}",
        full_name=f"Pekerja {i}",
        birth_date=date(1990, 8, (i % 28) + 1),
        sex="L",
        phone=f"+62812000{i:05d}",
        kecamatan_code=kecamatan,
        kecamatan_name=kecamatan_name(kecamatan),
        desa="Sukarami" if i == 0 else None,
        occupation="penyadap karet",
        declared_income_idr=income,
        registered_at=T0 - timedelta(minutes=i),  # host clocks that disagree with the registry
        registration_seq=registration_seq if registration_seq is not None else i + 1,
    )


def of(events: Sequence[EventModel], kind: type[EventModel]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def sponsored(events: Sequence[EventModel]) -> list[str]:
    return [e.worker_id for e in of(events, SponsorMatched)]


def confirmation(request: EnrollmentRequested, **change: Any) -> EnrollmentConfirmed:
    return EnrollmentConfirmed(
        enrollment_id=request.enrollment_id,
        worker_id=request.worker_id,
        kpj_number="16001234567",
        coverage_start=request.coverage_start,
        coverage_end=request.coverage_start + timedelta(days=364),
        confirmed_at=T0,
    ).model_copy(update=change)


def rejection(request: EnrollmentRequested, **change: Any) -> EnrollmentRejected:
    return EnrollmentRejected(
        enrollment_id=request.enrollment_id,
        worker_id=request.worker_id,
        reason_code="NIK_NOT_FOUND",
        reason_message="NIK tidak ditemukan di Dukcapil",
        rejected_at=T0,
    ).model_copy(update=change)


async def matched_one() -> tuple[Sponsorship, WorkerRegistered, EnrollmentRequested]:
    service = Sponsorship()
    await service.commit("c", ["07"], slots=1)
    first = worker(1)
    [request] = of(await service.register(first), EnrollmentRequested)
    return service, first, request


# --- commitments -----------------------------------------------------------------------------------


async def test_a_commitment_sponsors_the_waitlisted_workers_it_covers_in_registration_order() -> None:
    service = Sponsorship()
    # Arrival order and host clocks disagree with the registry's order (registration_seq).
    waiting = [worker(i, registration_seq=n) for i, n in enumerate([5, 3, 1, 4, 2])]
    elsewhere = worker(9, kecamatan="01", registration_seq=0 + 6)
    events = await service.register(*waiting, elsewhere)
    assert [e.worker_id for e in of(events, WorkerWaitlisted)] == [w.worker_id for w in [*waiting, elsewhere]]

    events = await service.commit("c", ["Sungai Lilin"], slots=3)  # code 07

    [accepted] = of(events, CommitmentAccepted)
    assert (accepted.commitment_id, accepted.slots, accepted.budget_idr) == ("c", 3, 3 * AT_FLOOR)
    by_number = {w.registration_seq: w for w in waiting}
    assert sponsored(events) == [by_number[n].worker_id for n in (1, 2, 3)]
    assert [e.worker_id for e in of(events, EnrollmentRequested)] == sponsored(events)
    assert [service.status(by_number[n]) for n in (1, 2, 3, 4, 5)] == ["matched"] * 3 + ["waitlisted"] * 2
    assert service.status(elsewhere) == "waitlisted"
    stored = service.data.commitments["c"]
    assert (stored.slots_used, stored.budget_used_idr) == (3, 3 * AT_FLOOR)
    assert service.last_store is not None and service.last_store.locks == [("exclusive", "07")]


async def test_an_enrollment_request_carries_the_domains_coverage() -> None:
    service = Sponsorship()
    await service.commit("c", ["07"], slots=4, package="JKK_JKM_JHT")
    low, high = worker(0, income=400_000), worker(1, income=2_500_000)
    events = await service.register(low, high)
    first, second = of(events, EnrollmentRequested)
    # Below the floor: BPJS is told the floor, and that is what is paid on (JKK 10_000 + JKM 6_800 + JHT 20_000).
    assert (first.declared_income_idr, first.monthly_contribution_idr, first.total_contribution_idr) == (
        1_000_000,
        36_800,
        12 * 36_800,
    )
    assert (second.declared_income_idr, second.monthly_contribution_idr) == (2_500_000, 81_800)
    assert first.address == "Desa Sukarami, Kec. Sungai Lilin, Kab. Musi Banyuasin, Sumatera Selatan"
    assert (first.payer.commitment_id, first.payer.company_name, first.package) == (
        "c",
        "PT c",
        "JKK_JKM_JHT",
    )
    assert [m.contribution_idr for m in of(events, SponsorMatched)] == [12 * 36_800, 12 * 81_800]


async def test_a_commitment_stands_as_first_received_and_an_invalid_one_is_rejected() -> None:
    service = Sponsorship()
    assert of(await service.commit("c", ["07"], slots=1), CommitmentAccepted)
    assert await service.commit("c", ["07"], slots=99) == []
    assert service.data.commitments["c"].slots == 1
    [rejected] = await service.commit("bad", ["Atlantis"], slots=0)
    assert isinstance(rejected, CommitmentRejected)
    assert {r.code for r in rejected.reasons} == {"KECAMATAN_UNKNOWN", "SLOTS_INVALID"}
    assert "bad" not in service.data.commitments


async def test_the_waitlist_is_paged_past_the_first_fifty() -> None:
    """The 50 first registered cost more than the budget left: the next page is read, after them."""
    service = Sponsorship()
    dear = [worker(i, registration_seq=i + 1, income=10_000_000) for i in range(50)]
    cheap = [worker(50 + i, registration_seq=51 + i) for i in range(5)]
    await service.register(*reversed(cheap), *reversed(dear))  # arrival order is no order

    events = await service.commit("c", ["07"], slots=2)

    assert sponsored(events) == [cheap[0].worker_id, cheap[1].worker_id]
    assert all(service.status(w) == "waitlisted" for w in dear + cheap[2:])


async def test_more_free_slots_than_a_page_are_filled_in_one_go() -> None:
    service = Sponsorship()
    waiting = [worker(i, registration_seq=70 - i) for i in range(70)]
    await service.register(*waiting)
    events = await service.commit("c", ["07"], slots=60)
    by_number = sorted(waiting, key=lambda w: w.registration_seq or 0)
    assert sponsored(events) == [w.worker_id for w in by_number[:60]]


# --- workers ---------------------------------------------------------------------------------------


async def test_a_full_commitment_waitlists_the_next_worker() -> None:
    service = Sponsorship()
    await service.commit("c", ["07"], slots=2)
    a, b, c, d = worker(1), worker(2), worker(3), worker(4)
    # One batch: the second reservation is seen by the third worker's match (the store's view).
    events = await service.register(a, b, c)
    assert sponsored(events) == [a.worker_id, b.worker_id]
    assert [e.worker_id for e in of(events, WorkerWaitlisted)] == [c.worker_id]
    assert service.last_store is not None and service.last_store.locks == [("shared", "07")]  # once
    [waitlisted] = await service.register(d)
    assert isinstance(waitlisted, WorkerWaitlisted) and waitlisted.worker_id == d.worker_id
    assert [service.status(w) for w in (a, b, c, d)] == ["matched", "matched", "waitlisted", "waitlisted"]


async def test_a_commitment_without_the_budget_left_waitlists_the_worker() -> None:
    service = Sponsorship()
    await service.commit("c", ["07"], slots=2)  # budget: two workers at the floor
    rich, next_one = worker(1, income=2_500_000), worker(2)
    events = await service.register(rich, next_one)
    assert sponsored(events) == [rich.worker_id]  # a slot is left, but not its cost
    assert [e.worker_id for e in of(events, WorkerWaitlisted)] == [next_one.worker_id]


async def test_a_worker_announced_again_is_left_alone() -> None:
    service = Sponsorship()
    await service.commit("c", ["07"], slots=5)
    a = worker(1)
    assert sponsored(await service.register(a)) == [a.worker_id]
    assert await service.register(a.model_copy(update={"full_name": "Replay"})) == []
    assert service.data.commitments["c"].slots_used == 1


async def test_a_worker_is_matched_to_the_preferred_commitment() -> None:
    service = Sponsorship()
    await service.commit("any", ["07"], slots=5)
    await service.commit("karet", ["*"], slots=5, preferred_occupations=["Karet"])
    [match] = of(await service.register(worker(1)), SponsorMatched)
    assert match.commitment_id == "karet"


class AlwaysTaken(InMemorySponsorshipStore):
    """Every reservation loses to another instance (which then gives the slot back)."""

    attempts = 0

    async def reserve_slot(self, commitment_id: str, cost_idr: int) -> bool:
        type(self).attempts += 1
        await super().reserve_slot(commitment_id, cost_idr)
        await super().release_slot(commitment_id, cost_idr)
        return False


async def test_endless_contention_fails_the_batch_which_is_then_retried_whole() -> None:
    service = Sponsorship()
    await service.commit("c", ["07"], slots=1)
    a = worker(1)
    with pytest.raises(RuntimeError, match="contention"):
        await service.batch([(contracts.WORKER_REGISTERED, a)], store=AlwaysTaken)
    assert AlwaysTaken.attempts == MAX_RESERVATION_TRIES
    assert a.worker_id not in {str(w) for w in service.data.workers}  # rolled back with the batch
    assert service.data.commitments["c"].slots_used == 0
    assert sponsored(await service.register(a)) == [a.worker_id]  # the retried batch


class TakenOnce(InMemorySponsorshipStore):
    """Another instance takes the last slot of the first commitment tried, just before us."""

    async def reserve_slot(self, commitment_id: str, cost_idr: int) -> bool:
        if not getattr(self.data, "raced", False):
            self.data.raced = True  # type: ignore[attr-defined]
            async with self.data.transaction() as other:
                assert await other.reserve_slot(commitment_id, cost_idr)
        return await super().reserve_slot(commitment_id, cost_idr)


async def test_a_lost_reservation_reads_the_commitments_again_and_takes_the_next_best() -> None:
    service = Sponsorship()
    await service.commit("named", ["07"], slots=1)
    await service.commit("regency", ["*"], slots=1)
    [match] = of(
        await service.batch([(contracts.WORKER_REGISTERED, worker(1))], store=TakenOnce), SponsorMatched
    )
    assert match.commitment_id == "regency"
    assert service.data.commitments["named"].slots_used == 1  # the other instance's


def warning(code: str, field: str = "nik") -> RegistrationWarning:
    return RegistrationWarning(field=field, code=code, message=f"{code} (peringatan)")


async def test_the_registrys_nik_warnings_travel_on_the_enrollment_request() -> None:
    """The registry registered the worker although it could not confirm their NIK's digits: BPJS's
    Dukcapil check decides, so the request carries the codes, whichever path matches the worker."""
    service = Sponsorship()
    warned = worker(1).model_copy(
        update={
            "warnings": [
                warning("NIK_BIRTH_DATE_MISMATCH", "birth_date"),
                warning("NIK_AREA_UNKNOWN"),
                warning("NIK_BIRTH_DATE_MISMATCH"),  # twice: sent once
                warning("SOMETHING_ELSE", "phone"),  # not the NIK's: not BPJS's to decide
            ]
        }
    )
    waiting = worker(2).model_copy(update={"warnings": [warning("NIK_SEX_MISMATCH", "sex")]})
    plain = worker(3)
    await service.register(waiting)  # waitlisted: matched when the commitment arrives
    assert service.data.workers[uuid.UUID(waiting.worker_id)].warnings == ("NIK_SEX_MISMATCH",)

    events = await service.commit("c", ["07"], slots=3)
    events += await service.register(warned, plain)

    requests = {r.worker_id: r for r in of(events, EnrollmentRequested)}
    assert requests[waiting.worker_id].nik_warnings == ["NIK_SEX_MISMATCH"]
    assert requests[warned.worker_id].nik_warnings == ["NIK_BIRTH_DATE_MISMATCH", "NIK_AREA_UNKNOWN"]
    assert requests[plain.worker_id].nik_warnings == []
    stored = service.data.workers[uuid.UUID(warned.worker_id)].warnings
    assert stored == ("NIK_BIRTH_DATE_MISMATCH", "NIK_AREA_UNKNOWN", "SOMETHING_ELSE")
    # A warned worker is matched as any other: the warning is not a reason to hold a slot back.
    assert all(service.status(w) == "matched" for w in (warned, waiting, plain))


# --- answers from BPJS -----------------------------------------------------------------------------


@pytest.mark.parametrize("membership", ["continued", "resumed"])
async def test_an_existing_member_sponsored_is_a_confirmed_enrollment_on_their_own_kpj_number(
    membership: str,
) -> None:
    """BPJS says the NIK already holds a membership (active, or lapsed): the sponsor pays the
    contributions on that KPJ number. The slot and its budget stay used; the story goes on as
    completed, saying which membership it is."""
    service, first, request = await matched_one()
    second = worker(2)
    assert of(await service.register(second), WorkerWaitlisted)

    answer = confirmation(request, membership=membership, kpj_number="23009876543")
    [completed] = await service.deliver(contracts.ENROLLMENT_CONFIRMED, answer)

    assert isinstance(completed, EnrollmentCompleted)
    assert (completed.membership, completed.kpj_number, completed.contribution_idr) == (
        membership,
        "23009876543",
        AT_FLOOR,
    )
    stored = service.data.enrollments[uuid.UUID(request.enrollment_id)]
    assert (stored.status, stored.membership, stored.kpj_number) == ("confirmed", membership, "23009876543")
    assert service.status(first) == "enrolled"
    c = service.data.commitments["c"]
    assert (c.slots_used, c.budget_used_idr) == (1, AT_FLOOR)  # not released to the next worker
    assert service.status(second) == "waitlisted"


async def test_a_confirmation_without_membership_is_a_new_membership() -> None:
    """An answer from before the field (absent): a new membership, as it always was."""
    service, _, request = await matched_one()
    body = json.loads(confirmation(request).model_dump_json())
    del body["membership"]
    [completed] = await service.deliver(contracts.ENROLLMENT_CONFIRMED, body)
    assert isinstance(completed, EnrollmentCompleted) and completed.membership == "new"
    assert service.data.enrollments[uuid.UUID(request.enrollment_id)].membership == "new"


async def test_a_confirmation_completes_the_enrollment_once() -> None:
    service, first, request = await matched_one()
    [completed] = await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmation(request))
    assert isinstance(completed, EnrollmentCompleted)
    assert (completed.worker_id, completed.enrollment_id, completed.kpj_number) == (
        first.worker_id,
        request.enrollment_id,
        "16001234567",
    )
    assert completed.nik_masked == mask_nik(first.nik) != first.nik
    assert (completed.company_name, completed.company_email, completed.contribution_idr) == (
        "PT c",
        "csr@example.co.id",
        AT_FLOOR,
    )
    assert service.status(first) == "enrolled"
    assert await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmation(request)) == []
    assert service.status(first) == "enrolled"


# --- the public feed ------------------------------------------------------------------------------

PERSONAL = {"worker_id", "full_name", "phone", "nik", "nik_masked", "birth_date", "kpj_number"}


async def test_the_public_feed_tells_each_outcome_once_by_pseudonym_without_personal_data() -> None:
    service, first, request = await matched_one()
    waiting = worker(2, kecamatan="07")
    await service.register(waiting)
    [completed] = await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmation(request))
    assert await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmation(request)) == []  # again

    waitlisted, enrolled = service.feed
    assert isinstance(waitlisted, FeedWorkerWaitlisted) and isinstance(enrolled, FeedWorkerEnrolled)
    assert waitlisted.worker_ref == FEED_KEY.worker_ref(waiting.worker_id) != waiting.worker_id
    assert (waitlisted.kecamatan_code, waitlisted.occupation) == ("07", waiting.occupation)
    assert enrolled.worker_ref == FEED_KEY.worker_ref(first.worker_id)
    assert (enrolled.company_id, enrolled.months, enrolled.contribution_idr) == (
        "co-c",
        12,
        completed.contribution_idr,
    )
    assert (enrolled.kecamatan_code, enrolled.occupation) == ("07", first.occupation)
    assert (enrolled.coverage_start, enrolled.coverage_end) == (
        completed.coverage_start,
        completed.coverage_end,
    )
    for event in service.feed:
        body = event.model_dump_json()
        assert not set(event.model_dump()) & PERSONAL
        for value in (first.nik, first.full_name, first.phone, first.worker_id, waiting.nik, waiting.phone):
            assert value not in body
    # Another key, other pseudonyms: the reference is nobody's without the programme's key.
    assert FeedKey(b"another-feed-key-0123456789abcdef").worker_ref(first.worker_id) != enrolled.worker_ref


async def test_a_rejection_releases_the_slot_and_offers_it_to_the_next_waiting_worker() -> None:
    service, first, request = await matched_one()
    second = worker(2)
    assert of(await service.register(second), WorkerWaitlisted)

    events = await service.deliver(contracts.ENROLLMENT_REJECTED, rejection(request))

    [failed] = of(events, EnrollmentFailed)
    assert (failed.worker_id, failed.reason_code, failed.full_name) == (
        first.worker_id,
        "NIK_NOT_FOUND",
        "Pekerja 1",
    )
    assert sponsored(events) == [second.worker_id]
    assert (service.status(first), service.status(second)) == ("failed", "matched")
    stored = service.data.commitments["c"]
    assert (stored.slots_used, stored.budget_used_idr) == (1, AT_FLOOR)
    assert service.data.enrollments[uuid.UUID(request.enrollment_id)].reason_code == "NIK_NOT_FOUND"
    # Kecamatan locks before the commitment's row is touched, once more for the waitlist.
    assert service.last_store is not None and service.last_store.locks[0] == ("exclusive", "07")
    assert await service.deliver(contracts.ENROLLMENT_REJECTED, rejection(request)) == []  # again: nothing


async def test_a_confirmation_after_a_rejection_is_poison() -> None:
    service, first, request = await matched_one()
    await service.deliver(contracts.ENROLLMENT_REJECTED, rejection(request))
    with pytest.raises(PoisonMessage) as caught:
        await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmation(request))
    assert caught.value.reason == "ENROLLMENT_ALREADY_REJECTED"
    assert service.status(first) == "failed"


async def test_a_rejection_after_a_confirmation_is_poison_and_changes_nothing() -> None:
    service, first, request = await matched_one()
    await service.deliver(contracts.ENROLLMENT_CONFIRMED, confirmation(request))
    with pytest.raises(PoisonMessage) as caught:
        await service.deliver(contracts.ENROLLMENT_REJECTED, rejection(request))
    assert caught.value.reason == "ENROLLMENT_ALREADY_CONFIRMED"
    assert service.status(first) == "enrolled"
    assert service.data.commitments["c"].slots_used == 1


@pytest.mark.parametrize("enrollment_id", [str(uuid.UUID(int=404)), "not-an-id"])
async def test_an_answer_about_an_unknown_enrollment_is_poison(enrollment_id: str) -> None:
    service, _, request = await matched_one()
    for contract, answer in (
        (contracts.ENROLLMENT_CONFIRMED, confirmation(request, enrollment_id=enrollment_id)),
        (contracts.ENROLLMENT_REJECTED, rejection(request, enrollment_id=enrollment_id)),
    ):
        with pytest.raises(PoisonMessage) as caught:
            await service.deliver(contract, answer)
        assert caught.value.reason == "UNKNOWN_ENROLLMENT"


@pytest.mark.parametrize("worker_id", [str(uuid.UUID(int=777)), "not-an-id"])
async def test_an_answer_naming_another_worker_is_poison(worker_id: str) -> None:
    service, first, request = await matched_one()
    for contract, answer in (
        (contracts.ENROLLMENT_CONFIRMED, confirmation(request, worker_id=worker_id)),
        (contracts.ENROLLMENT_REJECTED, rejection(request, worker_id=worker_id)),
    ):
        with pytest.raises(PoisonMessage) as caught:
            await service.deliver(contract, answer)
        assert caught.value.reason == "WORKER_MISMATCH"
    assert service.status(first) == "matched"
    assert service.data.commitments["c"].slots_used == 1


# --- pricing: the stored tariff table, PP 50/2025 by default ---------------------------------------


async def test_budgets_and_reservations_follow_the_stored_table() -> None:
    """The office's table (another JKK for the floor band) prices both the budget and a reservation."""
    base = default_tariff_table().tariffs[0]
    floor_band = IncomeBand(0, 1_000_000, 1_000_000, 12_000)
    dearer = dataclasses.replace(base, jkk_bands=(floor_band, *base.jkk_bands[1:]))
    service = Sponsorship(TariffTable([dearer], []))
    [accepted] = of(await service.commit("c", ["07"], slots=2), CommitmentAccepted)
    assert accepted.budget_idr == 2 * 12 * (12_000 + 6_800)
    [request] = of(await service.register(worker(1, income=1_250_000)), EnrollmentRequested)
    assert request.monthly_contribution_idr == 15_000 + 6_800  # the band 1,000,001..1,500,000


@pytest.mark.parametrize(
    ("occupation", "expected"),
    [
        # December 2026 .. November 2027: transport discounted Dec..Mar (4 months), "other" Dec only
        ("tukang ojek", 4 * 8_400 + 8 * 16_800),
        ("penyadap karet", 1 * 8_400 + 11 * 16_800),
    ],
)
async def test_pp_50_2025_applies_to_company_paid_members_by_default(
    monkeypatch: pytest.MonkeyPatch, occupation: str, expected: int
) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: date(2026, 12, 15))
    service = Sponsorship(default_tariff_table())
    [accepted] = of(await service.commit("c", ["07"], slots=1), CommitmentAccepted)
    assert accepted.budget_idr == 8_400 + 11 * 16_800  # the budget prices "other" at the floor
    [request] = of(
        await service.register(worker(1).model_copy(update={"occupation": occupation})), EnrollmentRequested
    )
    assert request.total_contribution_idr == expected


async def test_the_office_can_switch_the_discount_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today_in_jakarta", lambda: date(2026, 12, 15))
    monkeypatch.setenv("SPONSORSHIP_APPLY_DISCOUNT", "false")
    service = Sponsorship(default_tariff_table(), SponsorshipSettings())
    [accepted] = of(await service.commit("c", ["07"], slots=1), CommitmentAccepted)
    assert accepted.budget_idr == AT_FLOOR
    ojek = worker(1).model_copy(update={"occupation": "tukang ojek"})
    [request] = of(await service.register(ojek), EnrollmentRequested)
    assert request.total_contribution_idr == AT_FLOOR


def test_sponsorship_does_not_start_without_a_usable_feed_key(tmp_path: Path) -> None:
    from services.sponsorship.settings import FeedKeyError, load_feed_key

    with pytest.raises(FeedKeyError, match=r"SPONSORSHIP_FEED_KEY_FILE: .* does not exist"):
        SponsorshipHandlers(SponsorshipSettings(SPONSORSHIP_FEED_KEY_FILE=str(tmp_path / "missing")))  # type: ignore[call-arg]
    short = tmp_path / "short"
    short.write_text("short\n")
    with pytest.raises(FeedKeyError, match="SPONSORSHIP_FEED_KEY_FILE: the feed key is too short"):
        load_feed_key(str(short))
    key_file = tmp_path / "feed-key"
    key_file.write_text("k" * 43 + "\n")
    assert load_feed_key(str(key_file)).worker_ref("W") == FeedKey(b"k" * 43).worker_ref("w")
