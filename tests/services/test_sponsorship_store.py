"""One set of contract tests for sponsorship's store, over both implementations: PgSponsorshipStore
on the real PostgreSQL (an emptied schema, each transaction committed as the consumer's would be)
and InMemorySponsorshipStore (tests/fakes). What passes here for both is what the in-memory
handler tests (tests/unit/test_sponsorship_handlers.py) may rely on."""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.sponsorship.app import MIGRATIONS
from services.sponsorship.domain import ledger
from services.sponsorship.domain.commitments import Commitment
from services.sponsorship.domain.ledger import LedgerTransitionError, MemberMonth
from services.sponsorship.domain.matching import waitlist_position
from services.sponsorship.repository import (
    ConfirmedEnrollment,
    Enrollment,
    PgSponsorshipStore,
    SponsorshipStore,
    WorkerToEnroll,
)
from shared.db import connect, migrate
from shared.events.registry import RegistrationWarning, WorkerFundedElsewhere, WorkerRegistered
from shared.kecamatan import kecamatan_name
from testkit.infra import Infra
from tests.fakes.sponsorship import InMemorySponsorshipStore, SponsorshipData
from tests.support import truncate_schema

Transaction = Callable[[], AbstractAsyncContextManager[SponsorshipStore]]
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
DAY = date(2026, 11, 1)


@pytest.fixture(params=["postgres", "memory"])
async def transaction(request: pytest.FixtureRequest) -> AsyncIterator[Transaction]:
    """`async with transaction() as store`: one consumer transaction, committed at the end."""
    if request.param == "memory":
        data = SponsorshipData()
        yield data.transaction
        return
    infra: Infra = request.getfixturevalue("infra")
    dsn = infra.database_urls["sponsorship"]
    await migrate(dsn, MIGRATIONS)
    await truncate_schema(infra, "sponsorship")

    @asynccontextmanager
    async def pg_transaction() -> AsyncIterator[SponsorshipStore]:
        conn = await connect(dsn)
        try:
            async with conn.transaction():
                yield PgSponsorshipStore(conn)
        finally:
            await conn.close()

    yield pg_transaction


def commitment(cid: str, codes: set[str] | None = None, slots: int = 3, **extra: Any) -> Commitment:
    return Commitment(
        commitment_id=cid,
        company_id=f"co-{cid}",
        company_name=f"PT {cid}",
        kecamatan_codes=frozenset(codes or set()),
        whole_regency=codes is None,
        slots=slots,
        months=12,
        package="JKK_JKM",
        preferred_occupations=("penyadap karet",),
        email="csr@example.co.id",
        webhook_url=None,
        **extra,
    )


def announced(
    i: int, kecamatan: str = "07", registration_seq: int | None = None, registered_at: datetime = T0
) -> WorkerRegistered:
    return WorkerRegistered(
        worker_id=str(uuid.UUID(int=i + 1)),
        submission_id=f"s-{i}",
        source="test",
        nik=f"160601{(i % 28) + 1:02d}0890{i + 1:04d}",
        full_name=f"Pekerja {i}",
        birth_date=date(1990, 8, (i % 28) + 1),
        sex="P",
        phone=f"+62812000{i:05d}",
        kecamatan_code=kecamatan,
        kecamatan_name=kecamatan_name(kecamatan),
        desa="Sukarami" if i % 2 else None,
        occupation="penyadap karet",
        declared_income_idr=1_500_000 if i % 3 == 0 else None,
        registered_at=registered_at,
        registration_seq=registration_seq,
    )


async def _enroll(store: SponsorshipStore, worker_id: uuid.UUID, commitment_id: str = "c") -> uuid.UUID:
    return await store.add_enrollment(
        worker_id=worker_id,
        commitment_id=commitment_id,
        package="JKK_JKM",
        months=12,
        coverage_start=DAY,
        contribution_idr=201_600,
    )


# --- commitments -----------------------------------------------------------------------------------


async def test_a_commitment_is_stored_once_as_first_received(transaction: Transaction) -> None:
    async with transaction() as store:
        assert await store.add_commitment(commitment("c", {"07", "01"}), budget_idr=604_800)
    async with transaction() as store:
        assert not await store.add_commitment(replace(commitment("c"), company_name="PT Other"), 1)
        stored = await store.commitment("c")
        assert await store.commitment("unknown") is None
    assert stored is not None
    assert (stored.company_name, stored.kecamatan_codes, stored.whole_regency) == (
        "PT c",
        frozenset({"01", "07"}),
        False,
    )
    assert (stored.slots, stored.slots_used, stored.budget_idr, stored.budget_used_idr) == (3, 0, 604_800, 0)
    assert (stored.package, stored.months, stored.preferred_occupations) == (
        "JKK_JKM",
        12,
        ("penyadap karet",),
    )
    assert stored.covered_codes == ["01", "07"]


async def test_open_commitments_are_those_with_a_free_slot_oldest_first(transaction: Transaction) -> None:
    async with transaction() as store:
        for cid, slots in (("old", 1), ("young", 2), ("youngest", 1)):
            await store.add_commitment(commitment(cid, {"07"}, slots), budget_idr=1_000_000)
        assert [c.commitment_id for c in await store.open_commitments()] == ["old", "young", "youngest"]
        assert await store.reserve_slot("old", 100)
        assert await store.reserve_slot("young", 250)
        # This transaction's view keeps up with its own reservations: the full one is gone.
        view = await store.open_commitments()
        assert [(c.commitment_id, c.slots_used, c.budget_used_idr) for c in view] == [
            ("young", 1, 250),
            ("youngest", 0, 0),
        ]
    async with transaction() as store:
        assert [(c.commitment_id, c.slots_used) for c in await store.open_commitments()] == [
            ("young", 1),
            ("youngest", 0),
        ]
        assert [c.seq for c in await store.open_commitments()] == sorted(
            c.seq for c in await store.open_commitments()
        )


async def test_a_reservation_needs_a_free_slot_and_the_budget_for_its_cost(transaction: Transaction) -> None:
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07"}, slots=2), budget_idr=1_000)
        assert await store.reserve_slot("c", 600)
        assert not await store.reserve_slot("c", 401)  # 1_001 > budget: nothing taken
        assert await store.reserve_slot("c", 400)  # exactly the budget
        assert not await store.reserve_slot("c", 0)  # no slot left
        assert not await store.reserve_slot("unknown", 0)
    async with transaction() as store:
        c = await store.commitment("c")
        assert c is not None and (c.slots_used, c.budget_used_idr) == (2, 1_000)
        assert await store.open_commitments() == []


async def test_a_stale_view_loses_the_last_slot_and_is_read_again(transaction: Transaction) -> None:
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07"}, slots=1), budget_idr=1_000)
    async with transaction() as late:
        assert [c.commitment_id for c in await late.open_commitments()] == ["c"]
        async with transaction() as first:  # another instance, committed meanwhile
            assert await first.reserve_slot("c", 10)
        assert [c.commitment_id for c in await late.open_commitments()] == ["c"]  # still its view
        assert not await late.reserve_slot("c", 10)
        assert await late.open_commitments() == []  # the failure made it read them again


async def test_the_view_is_read_again_when_a_lock_is_newly_taken(transaction: Transaction) -> None:
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07", "08"}, slots=5), budget_idr=10_000)

    async def someone_reserves() -> None:
        async with transaction() as other:
            assert await other.reserve_slot("c", 10)

    async def used(store: SponsorshipStore) -> int:
        return (await store.open_commitments())[0].slots_used

    async with transaction() as store:
        await store.lock_kecamatan_shared("07")
        assert await used(store) == 0
        await someone_reserves()
        assert await used(store) == 0  # this transaction's view
        await store.lock_kecamatan_shared("07")  # held already: nothing new to see
        assert await used(store) == 0
        await store.lock_kecamatan_shared("08")  # newly taken: slots may have changed meanwhile
        assert await used(store) == 1
        await someone_reserves()
        await store.lock_kecamatan_exclusive(["08", "07"])
        assert await used(store) == 2


async def test_a_released_slot_gives_back_its_cost_and_opens_the_commitment(transaction: Transaction) -> None:
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07"}, slots=1), budget_idr=1_000)
        assert await store.reserve_slot("c", 700)
        assert await store.open_commitments() == []
        await store.release_slot("c", 700)
        [c] = await store.open_commitments()
        assert (c.slots_used, c.budget_used_idr) == (0, 0)


# --- workers and the waitlist ----------------------------------------------------------------------


async def test_a_worker_is_stored_once_waitlisted(transaction: Transaction) -> None:
    worker = announced(3, registration_seq=9)
    async with transaction() as store:
        added = await store.add_worker(worker)
        assert await store.add_worker(worker.model_copy(update={"full_name": "Someone Else"})) is None
    assert isinstance(added, WorkerToEnroll)
    expected = (uuid.UUID(worker.worker_id), worker.nik, worker.full_name, worker.birth_date, worker.sex)
    assert (added.worker_id, added.nik, added.full_name, added.birth_date, added.sex) == expected
    assert (added.phone, added.kecamatan_code, added.kecamatan_name, added.desa) == (
        worker.phone,
        "07",
        worker.kecamatan_name,
        worker.desa,
    )
    assert (added.occupation, added.declared_income_idr, added.registered_at, added.registration_seq) == (
        "penyadap karet",
        1_500_000,
        T0,
        9,
    )
    assert added.status == "waitlisted"
    assert added.warnings == ()
    async with transaction() as store:
        assert await store.worker(added.worker_id) == added
        await store.set_worker_status(added.worker_id, "failed")
        assert (await store.worker(added.worker_id)).status == "failed"
        with pytest.raises(LookupError):
            await store.worker(uuid.UUID(int=999))


async def test_a_workers_warnings_are_kept_as_codes_each_once_in_the_registrys_order(
    transaction: Transaction,
) -> None:
    codes = ["NIK_SEX_MISMATCH", "NIK_AREA_UNKNOWN", "NIK_SEX_MISMATCH", "NIK_BIRTH_DATE_MISMATCH"]
    worker = announced(4).model_copy(
        update={"warnings": [RegistrationWarning(field="nik", code=c, message="periksa") for c in codes]}
    )
    async with transaction() as store:
        added = await store.add_worker(worker)
    assert added is not None
    expected = ("NIK_SEX_MISMATCH", "NIK_AREA_UNKNOWN", "NIK_BIRTH_DATE_MISMATCH")
    assert added.warnings == expected
    async with transaction() as store:
        assert (await store.worker(added.worker_id)).warnings == expected
        c = await store.add_commitment(commitment("c", {"07"}), budget_idr=10_000_000)
        stored = await store.commitment("c")
        assert c and stored is not None
        [waiting] = await store.waitlisted_covered_by(stored, 10)
        assert waiting.warnings == expected


async def test_the_waitlist_comes_in_the_domains_order_only_covered_and_waiting(
    transaction: Transaction,
) -> None:
    """The store's page is the waitlist's only order (nothing re-sorts it): it must be exactly
    domain.waitlist_position's order, however arrival order and host clocks disagree with it."""
    arrivals = [  # (i, kecamatan, registration_seq, registered_at), in the order they arrive
        (0, "07", 30, T0 - timedelta(hours=2)),
        (1, "07", None, T0 + timedelta(minutes=5)),
        (2, "01", 5, T0),  # not in the commitment's kecamatan
        (3, "07", 10, T0 + timedelta(hours=1)),  # a host clock ahead
        (4, "07", None, T0),
        (5, "07", 20, T0),  # matched below: no longer waiting
        (6, "07", None, T0),  # same clock as 4, arrived later
        (7, "07", 1, T0 + timedelta(days=1)),
    ]
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07"}, slots=10), budget_idr=10_000_000)
        await store.add_commitment(commitment("r", None, slots=10), budget_idr=10_000_000)
        for i, code, number, at in arrivals:
            assert await store.add_worker(announced(i, code, number, at)) is not None
        await _enroll(store, uuid.UUID(int=6))
    async with transaction() as store:
        c, regency = await store.commitment("c"), await store.commitment("r")
        assert c is not None and regency is not None
        page = await store.waitlisted_covered_by(c, 100)
        everywhere = await store.waitlisted_covered_by(regency, 100)

    def numbers(workers: list[WorkerToEnroll]) -> list[int]:
        return [w.worker_id.int - 1 for w in workers]

    assert numbers(page) == [4, 6, 1, 7, 3, 0]
    assert page == sorted(page, key=lambda w: waitlist_position(w.registration_seq, w.registered_at, w.seq))
    assert numbers(everywhere) == [4, 6, 1, 7, 2, 3, 0]


async def test_the_waitlist_pages_after_a_position(transaction: Transaction) -> None:
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07"}, slots=10), budget_idr=10_000_000)
        for i in range(7):
            await store.add_worker(announced(i, "07", registration_seq=100 - i))
    async with transaction() as store:
        c = await store.commitment("c")
        assert c is not None
        pages, after = [], None
        while page := await store.waitlisted_covered_by(c, 3, after):
            pages.append([w.registration_seq for w in page])
            after = page[-1].position
    assert pages == [[94, 95, 96], [97, 98, 99], [100]]


# --- workers another payer funds (registry.worker-funded-elsewhere) ---------------------------------


def funded(i: int, funder: str = "PAKE KELAMBU") -> WorkerFundedElsewhere:
    return WorkerFundedElsewhere(
        worker_id=str(uuid.UUID(int=i + 1)),
        funder=funder,
        source_code="SA",
        description="APBD Kabupaten Musi Banyuasin",
        import_id=str(uuid.UUID(int=0xF00 + i)),
        noticed_at=T0,
    )


async def test_a_worker_funded_elsewhere_leaves_the_waitlist_or_is_flagged_once(
    transaction: Transaction,
) -> None:
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07"}, slots=10), budget_idr=10_000_000)
        for i in range(3):
            await store.add_worker(announced(i, "07", registration_seq=i + 1))
        await _enroll(store, uuid.UUID(int=2))
    async with transaction() as store:
        assert await store.note_funded_elsewhere(funded(0)) == "withdrawn"
        assert await store.note_funded_elsewhere(funded(1)) == "flagged"
        assert await store.note_funded_elsewhere(funded(5)) == "remembered"  # not announced yet
    async with transaction() as store:
        assert await store.note_funded_elsewhere(funded(0, "Desa Sukajadi")) == "again"
        assert await store.note_funded_elsewhere(funded(1)) == "again"
        c = await store.commitment("c")
        assert c is not None
        waiting = await store.waitlisted_covered_by(c, 10)
        statuses = [(await store.worker(uuid.UUID(int=i + 1))).status for i in range(3)]
    assert [w.worker_id.int - 1 for w in waiting] == [2]
    assert statuses == ["funded_elsewhere", "matched", "waitlisted"]


async def test_a_worker_noticed_before_announced_is_added_withdrawn(transaction: Transaction) -> None:
    async with transaction() as store:
        assert await store.note_funded_elsewhere(funded(4)) == "remembered"
    async with transaction() as store:
        added = await store.add_worker(announced(4))
        assert added is not None and added.status == "funded_elsewhere"
        other = await store.add_worker(announced(5))
        assert other is not None and other.status == "waitlisted"
        await store.add_commitment(commitment("c", {"07"}), budget_idr=10_000_000)
        c = await store.commitment("c")
        assert c is not None
        assert [w.worker_id for w in await store.waitlisted_covered_by(c, 10)] == [other.worker_id]


# --- enrollments -----------------------------------------------------------------------------------


async def _worker_with_commitment(transaction: Transaction) -> uuid.UUID:
    async with transaction() as store:
        await store.add_commitment(commitment("c", {"07"}, slots=3), budget_idr=1_000_000)
        worker = await store.add_worker(announced(1))
        assert worker is not None
    return worker.worker_id


async def test_an_enrollment_matches_its_worker_who_holds_one_live_enrollment(
    transaction: Transaction,
) -> None:
    worker_id = await _worker_with_commitment(transaction)
    async with transaction() as store:
        enrollment_id = await _enroll(store, worker_id)
        assert (await store.worker(worker_id)).status == "matched"
        c = await store.commitment("c")
        assert c is not None and await store.waitlisted_covered_by(c, 10) == []
        assert await store.lock_enrollment(enrollment_id) == Enrollment(
            enrollment_id, worker_id, "c", "requested", 201_600
        )
        assert await store.lock_enrollment(uuid.UUID(int=12345)) is None
    with pytest.raises(asyncpg.UniqueViolationError):
        async with transaction() as store:
            await _enroll(store, worker_id)


async def test_only_a_requested_enrollment_of_that_worker_is_confirmed(transaction: Transaction) -> None:
    worker_id = await _worker_with_commitment(transaction)
    async with transaction() as store:
        enrollment_id = await _enroll(store, worker_id)
    confirm = (
        "16001234567",
        DAY,
        DAY + timedelta(days=364),
        T0,
    )
    async with transaction() as store:
        assert await store.confirm_enrollment(enrollment_id, uuid.UUID(int=999), *confirm) is None
        assert (await store.worker(worker_id)).status == "matched"
        done = await store.confirm_enrollment(enrollment_id, worker_id, *confirm)
        assert await store.confirm_enrollment(enrollment_id, worker_id, *confirm) is None  # once
    w = announced(1)
    assert done == ConfirmedEnrollment(
        package="JKK_JKM",
        contribution_idr=201_600,
        full_name=w.full_name,
        phone=w.phone,
        nik=w.nik,
        kecamatan_code=w.kecamatan_code,
        kecamatan_name=w.kecamatan_name,
        company_id="co-c",
        company_name="PT c",
        email="csr@example.co.id",
        webhook_url=None,
        commitment_id="c",
        months=12,
        occupation="penyadap karet",
        declared_income_idr=None,
    )
    async with transaction() as store:
        assert (await store.worker(worker_id)).status == "enrolled"
        found = await store.lock_enrollment(enrollment_id)
        assert found is not None and found.status == "confirmed"
    assert await membership_of(transaction, enrollment_id) == "new"


@pytest.mark.parametrize("membership", ["continued", "resumed"])
async def test_a_confirmation_keeps_what_bpjs_did_with_the_membership(
    transaction: Transaction, membership: str
) -> None:
    worker_id = await _worker_with_commitment(transaction)
    async with transaction() as store:
        enrollment_id = await _enroll(store, worker_id)
    with pytest.raises(asyncpg.CheckViolationError):
        async with transaction() as store:
            await store.confirm_enrollment(enrollment_id, worker_id, "1", DAY, DAY, T0, "transferred")  # type: ignore[arg-type]
    async with transaction() as store:
        done = await store.confirm_enrollment(
            enrollment_id, worker_id, "23009876543", DAY, DAY + timedelta(days=364), T0, membership
        )
        assert done is not None and (await store.worker(worker_id)).status == "enrolled"
    assert await membership_of(transaction, enrollment_id) == membership


async def membership_of(transaction: Transaction, enrollment_id: uuid.UUID) -> str | None:
    """The stored membership, read as the office reads it (the row of either store)."""
    async with transaction() as store:
        if isinstance(store, PgSponsorshipStore):
            found: str | None = await store.conn.fetchval(
                "SELECT membership FROM enrollment WHERE enrollment_id = $1", enrollment_id
            )
            return found
        assert isinstance(store, InMemorySponsorshipStore)
        return store.data.enrollments[enrollment_id].membership


async def test_a_rejected_enrollment_is_no_longer_live(transaction: Transaction) -> None:
    worker_id = await _worker_with_commitment(transaction)
    async with transaction() as store:
        enrollment_id = await _enroll(store, worker_id)
        await store.reject_enrollment(enrollment_id, "NIK_INVALID", "NIK tidak valid", T0)
        found = await store.lock_enrollment(enrollment_id)
        assert found is not None and found.status == "rejected"
        assert await store.confirm_enrollment(enrollment_id, worker_id, "1", DAY, DAY, T0) is None
        await _enroll(store, worker_id)  # a rejected one does not count against the worker


# --- the member-month ledger -----------------------------------------------------------------------

DECEMBER, JANUARY = date(2026, 12, 1), date(2027, 1, 1)


async def _confirmed_lines(
    transaction: Transaction, i: int = 1, commitment_id: str = "c", reserved: int = 201_600
) -> tuple[uuid.UUID, list[MemberMonth]]:
    """A worker enrolled (confirmed) under `commitment_id`, and the lines their coverage from
    2026-12-20 would have (priced by the default table, full price: 12 x Rp16,800)."""
    async with transaction() as store:
        if await store.commitment(commitment_id) is None:
            await store.add_commitment(commitment(commitment_id, {"07"}, slots=3), budget_idr=1_000_000)
        worker = await store.add_worker(announced(i))
        assert worker is not None
        enrollment_id = await _enroll(store, worker.worker_id, commitment_id)
        assert await store.reserve_slot(commitment_id, reserved)
        done = await store.confirm_enrollment(
            enrollment_id, worker.worker_id, "1", date(2026, 12, 20), date(2027, 12, 19), T0
        )
        assert done is not None
        sponsored = done.sponsored(enrollment_id, worker.worker_id, date(2026, 12, 20))
        lines = ledger.member_months(sponsored, await store.tariff_table(), apply_discount=False)
    return enrollment_id, lines


async def test_a_confirmations_lines_are_written_once_and_take_over_the_reservation(
    transaction: Transaction,
) -> None:
    enrollment_id, lines = await _confirmed_lines(transaction, reserved=201_000)
    assert [x.month for x in lines][:2] == [DECEMBER, JANUARY] and len(lines) == 12
    async with transaction() as store:
        assert await store.add_member_months(lines, reserved_idr=201_000) == 12  # 600 more than reserved
        assert await store.member_months(enrollment_id) == lines
        c = await store.commitment("c")
        assert c is not None and c.budget_used_idr == 12 * 16_800
    async with transaction() as store:
        assert await store.add_member_months(lines, reserved_idr=201_000) == 0  # redelivered
        assert await store.member_months(enrollment_id) == lines
        c = await store.commitment("c")
        assert c is not None and c.budget_used_idr == 12 * 16_800


async def test_the_ledger_may_take_a_commitment_past_its_budget_but_no_reservation_may(
    transaction: Transaction,
) -> None:
    """BPJS enrolled the worker: their months are owed even when the table changed and they cost
    more than the budget had left; the next reservation is refused."""
    async with transaction() as store:
        await store.add_commitment(commitment("tight", {"07"}, slots=3), budget_idr=201_600)
    _, lines = await _confirmed_lines(transaction, commitment_id="tight", reserved=201_600)
    dearer = [replace(x, contribution_idr=x.contribution_idr + 100) for x in lines]
    async with transaction() as store:
        assert await store.add_member_months(dearer, reserved_idr=201_600) == 12
        c = await store.commitment("tight")
        assert c is not None and c.budget_used_idr == 201_600 + 1_200 > c.budget_idr
        assert not await store.reserve_slot("tight", 1)


async def test_a_line_goes_expected_invoiced_paid_confirmed_and_nothing_else(
    transaction: Transaction,
) -> None:
    enrollment_id, lines = await _confirmed_lines(transaction)
    async with transaction() as store:
        await store.add_member_months(lines, reserved_idr=201_600)
    at = T0 + timedelta(days=31)
    async with transaction() as store:
        with pytest.raises(LedgerTransitionError, match="is expected: it cannot become paid"):
            await store.mark_paid(enrollment_id, DECEMBER, at)
        with pytest.raises(LookupError):
            await store.mark_paid(enrollment_id, date(2028, 1, 1), at)
        line = await store.mark_invoiced(enrollment_id, date(2026, 12, 20), "inv-1", at)  # any day names it
        assert (line.state, line.invoice_id, line.invoiced_at) == ("invoiced", "inv-1", at)
        assert await store.mark_invoiced(enrollment_id, DECEMBER, "inv-1", at + timedelta(days=1)) == line
        with pytest.raises(LedgerTransitionError, match="it is on inv-1"):
            await store.mark_invoiced(enrollment_id, DECEMBER, "inv-2", at)
    async with transaction() as store:
        with pytest.raises(LedgerTransitionError, match="is invoiced: it cannot become confirmed"):
            await store.mark_confirmed(enrollment_id, DECEMBER, at)
        await store.mark_paid(enrollment_id, DECEMBER, at + timedelta(days=2))
        done = await store.mark_confirmed(enrollment_id, DECEMBER, at + timedelta(days=3))
    async with transaction() as store:
        [december, january, *_] = await store.member_months(enrollment_id)
    assert (
        december
        == done
        == replace(
            lines[0],
            state="confirmed",
            invoice_id="inv-1",
            invoiced_at=at,
            paid_at=at + timedelta(days=2),
            confirmed_at=at + timedelta(days=3),
        )
    )
    assert january == lines[1]  # untouched


async def test_a_refused_move_changes_nothing(transaction: Transaction) -> None:
    enrollment_id, lines = await _confirmed_lines(transaction)
    async with transaction() as store:
        await store.add_member_months(lines, reserved_idr=201_600)
    with pytest.raises(LedgerTransitionError):
        async with transaction() as store:
            await store.mark_invoiced(enrollment_id, DECEMBER, "inv-1", T0)
            await store.mark_confirmed(enrollment_id, DECEMBER, T0)  # the transaction is undone
    async with transaction() as store:
        assert (await store.member_months(enrollment_id))[0] == lines[0]


async def test_a_month_is_missed_after_its_due_date_and_a_late_payment_still_pays_it(
    transaction: Transaction,
) -> None:
    enrollment_id, lines = await _confirmed_lines(transaction)
    async with transaction() as store:
        await store.add_member_months(lines, reserved_idr=201_600)
        due = date(2026, 12, 15)
        with pytest.raises(LedgerTransitionError, match="before its due date"):
            await store.mark_missed(enrollment_id, DECEMBER, datetime(2026, 12, 15, 12, tzinfo=UTC), due)
        at = datetime(2026, 12, 15, 17, tzinfo=UTC)  # the 16th in Jakarta
        missed = await store.mark_missed(enrollment_id, DECEMBER, at, due)
        assert (missed.state, missed.missed_at) == ("missed", at)
        late = await store.mark_paid(enrollment_id, DECEMBER, at + timedelta(days=10))
    async with transaction() as store:
        [december, *_] = await store.member_months(enrollment_id)
    assert december == late and (late.state, late.missed_at) == ("paid", at)


async def test_the_lines_of_a_month_to_invoice_by_company_or_commitment(transaction: Transaction) -> None:
    first, lines_1 = await _confirmed_lines(transaction, 1, "c")
    second, lines_2 = await _confirmed_lines(transaction, 2, "c")
    third, lines_3 = await _confirmed_lines(transaction, 3, "d")
    async with transaction() as store:
        for lines in (lines_1, lines_2, lines_3):
            await store.add_member_months(lines, reserved_idr=201_600)
        await store.mark_invoiced(second, DECEMBER, "inv-1", T0)
    async with transaction() as store:
        december_c = await store.lines_of_month(date(2026, 12, 31), company_id="co-c")
        assert [x.enrollment_id for x in december_c] == [first]  # the second's is invoiced
        assert [x.enrollment_id for x in await store.lines_of_month(DECEMBER, commitment_id="d")] == [third]
        assert {x.enrollment_id for x in await store.lines_of_month(DECEMBER)} == {first, third}
        invoiced = await store.lines_of_month(DECEMBER, company_id="co-c", state="invoiced")
        assert [(x.enrollment_id, x.invoice_id) for x in invoiced] == [(second, "inv-1")]
        january = await store.lines_of_month(JANUARY, company_id="co-c")
        assert {x.enrollment_id for x in january} == {first, second}
        assert await store.lines_of_month(date(2027, 12, 1)) == []  # past the last line
