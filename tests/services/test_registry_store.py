"""One contract for the registry's store, held by both implementations: `PgRegistryStore` on the
real PostgreSQL (the registry schema, emptied inside a transaction that is rolled back) and the
in-memory `InMemoryRegistryStore` the handlers' unit tests use. What passes here for the fake is
what the database does, so those unit tests mean something."""

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import asyncpg
import pytest

from services.registry import repository
from services.registry.app import MIGRATIONS
from services.registry.domain.funders import FunderList, Funding, NikKey
from services.registry.domain.registration import Reason, Registration, validate_registration
from services.registry.repository import PgRegistryStore, RegistryStore, Submission, Worker
from shared.db import connect, migrate
from testkit.infra import Infra
from testkit.samples import sample_registration
from tests.fakes.registry import InMemoryRegistryStore

TODAY = date(2026, 11, 2)
AT = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)


class InspectableStore(RegistryStore, Protocol):
    """The store and the reads both implementations offer for checking it."""

    async def submission(self, source: str | None, submission_id: str | None) -> Submission | None: ...

    async def worker(self, nik: str) -> Worker | None: ...


@pytest.fixture(params=["postgres", "in-memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[InspectableStore]:
    if request.param == "in-memory":
        yield InMemoryRegistryStore()
        return
    infra: Infra = request.getfixturevalue("infra")
    dsn = infra.database_urls["registry"]
    await migrate(dsn, MIGRATIONS)
    conn = await connect(dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        # Empty for this test only: TRUNCATE is transactional, the rollback brings the rows back.
        await conn.execute("TRUNCATE worker, submission, funded_nik, funder_import RESTART IDENTITY")
        yield PgRegistryStore(conn)
    finally:
        await transaction.rollback()
        await conn.close()


def registration(i: int, **changes: object) -> Registration:
    result = validate_registration(sample_registration(i, run=21), today=TODAY)
    assert isinstance(result, Registration), result
    return dataclasses.replace(result, **changes)  # type: ignore[arg-type]


async def test_a_submission_is_claimed_once_by_its_source_and_id(store: InspectableStore) -> None:
    first = await store.claim_submission("desa-online", "s-1", "event-1")
    assert isinstance(first, int)
    assert await store.claim_submission("desa-online", "s-1", "event-2") is None  # the same submission
    assert await store.submission("desa-online", "s-1") == Submission(
        id=first,
        source="desa-online",
        submission_id="s-1",
        event_id="event-1",
        outcome="received",
        worker_id=None,
        reasons=None,
        kecamatan_code=None,
    )


async def test_the_same_event_is_claimed_once_whatever_it_names(store: InspectableStore) -> None:
    assert await store.claim_submission("desa-online", "s-1", "event-1") is not None
    assert await store.claim_submission("kud-sekayu", "s-2", "event-1") is None
    assert await store.submission("kud-sekayu", "s-2") is None


async def test_each_partner_numbers_its_own_submissions(store: InspectableStore) -> None:
    ours = await store.claim_submission("desa-online", "s-1", "event-1")
    theirs = await store.claim_submission("kud-sekayu", "s-1", "event-2")
    assert ours is not None and theirs is not None and ours != theirs


async def test_a_submission_without_an_id_or_source_is_never_a_repeat(store: InspectableStore) -> None:
    """SQL's NULLs are distinct in UNIQUE (source, submission_id): only the event id can repeat."""
    claimed = [
        await store.claim_submission("desa-online", None, "event-1"),
        await store.claim_submission("desa-online", None, "event-2"),
        await store.claim_submission(None, "s-1", "event-3"),
        await store.claim_submission(None, "s-1", "event-4"),
    ]
    assert None not in claimed and len(set(claimed)) == 4
    assert await store.claim_submission("desa-online", None, "event-1") is None


async def test_submission_numbers_increase_in_the_order_of_arrival(store: InspectableStore) -> None:
    a = await store.claim_submission("desa-online", "a", "event-a")
    assert await store.claim_submission("desa-online", "a", "event-a2") is None  # a conflict between
    b = await store.claim_submission("desa-online", "b", "event-b")
    c = await store.claim_submission("kud-sekayu", "a", "event-c")
    assert a is not None and b is not None and c is not None
    assert a < b < c


async def test_a_registered_worker_is_kept_whole(store: InspectableStore) -> None:
    r = registration(1, desa="Sukajadi", declared_income_idr=1_750_000)
    registered = await store.register_worker(r, AT)
    assert registered is not None and isinstance(registered.worker_id, uuid.UUID)
    assert await store.worker(r.nik) == Worker(
        worker_id=registered.worker_id,
        registration_seq=registered.registration_seq,
        nik=r.nik,
        source=r.source,
        submission_id=r.submission_id,
        full_name=r.full_name,
        birth_date=r.birth_date,
        sex=r.sex,
        phone=r.phone,
        kecamatan_code=r.kecamatan_code,
        desa="Sukajadi",
        occupation=r.occupation,
        declared_income_idr=1_750_000,
        registered_at=AT,
    )
    unknown = registration(2, desa=None, declared_income_idr=None)
    assert (await store.register_worker(unknown, AT)) is not None
    kept = await store.worker(unknown.nik)
    assert kept is not None and kept.desa is None and kept.declared_income_idr is None


async def test_a_workers_warnings_are_kept_with_it_in_order(store: InspectableStore) -> None:
    warnings = (
        Reason("nik", "NIK_BIRTH_DATE_MISMATCH", "Tanggal lahir di NIK berbeda."),
        Reason("nik", "NIK_SEX_MISMATCH", "Jenis kelamin berbeda."),
    )
    r = registration(3, warnings=warnings)
    assert await store.register_worker(r, AT) is not None
    kept = await store.worker(r.nik)
    assert kept is not None and kept.warnings == warnings
    plain = registration(4)
    assert plain.warnings == ()
    assert await store.register_worker(plain, AT) is not None
    kept = await store.worker(plain.nik)
    assert kept is not None and kept.warnings == ()


async def test_a_nik_is_registered_once(store: InspectableStore) -> None:
    first = registration(1)
    registered = await store.register_worker(first, AT)
    again = dataclasses.replace(registration(2), nik=first.nik, submission_id="another")
    assert await store.register_worker(again, AT + timedelta(minutes=1)) is None
    kept = await store.worker(first.nik)
    assert registered is not None and kept is not None
    assert (kept.worker_id, kept.full_name, kept.submission_id) == (
        registered.worker_id,
        first.full_name,
        first.submission_id,
    )


async def test_registration_numbers_follow_the_order_of_registration(store: InspectableStore) -> None:
    """Whatever registered_at says (a clock stepped back): the store numbers, in the order asked."""
    numbers = []
    for i, at in enumerate([AT, AT - timedelta(hours=1), AT - timedelta(hours=2)]):
        registered = await store.register_worker(registration(i), at)
        assert registered is not None
        numbers.append(registered.registration_seq)
        await store.register_worker(registration(i), at)  # a duplicate NIK between them
    assert numbers == sorted(set(numbers))


async def test_a_registered_submission_names_its_worker(store: InspectableStore) -> None:
    number = await store.claim_submission("desa-online", "s-1", "event-1")
    registered = await store.register_worker(registration(1), AT)
    assert number is not None and registered is not None
    await store.mark_registered(number, registered.worker_id)
    found = await store.submission("desa-online", "s-1")
    assert found is not None
    assert (found.outcome, found.worker_id, found.reasons) == ("registered", registered.worker_id, None)


async def test_a_rejected_submission_keeps_its_reasons_in_order_and_its_kecamatan(
    store: InspectableStore,
) -> None:
    reasons = [
        Reason("nik", "NIK_FORMAT", "NIK harus 16 digit."),
        Reason("phone", "PHONE_INVALID", "Nomor HP tidak valid."),
        Reason("birth_date", "AGE_OUT_OF_RANGE", "Usia di luar batas program."),
    ]
    with_place = await store.claim_submission("desa-online", "s-1", "event-1")
    without = await store.claim_submission("desa-online", "s-2", "event-2")
    assert with_place is not None and without is not None
    await store.mark_rejected(with_place, reasons, "07")
    await store.mark_rejected(without, reasons[:1], None)
    found = await store.submission("desa-online", "s-1")
    other = await store.submission("desa-online", "s-2")
    assert found is not None and other is not None
    assert (found.outcome, found.reasons, found.kecamatan_code, found.worker_id) == (
        "rejected",
        tuple(reasons),
        "07",
        None,
    )
    assert (other.reasons, other.kecamatan_code) == (tuple(reasons[:1]), None)


async def test_marking_a_number_that_names_no_submission_changes_nothing(store: InspectableStore) -> None:
    number = await store.claim_submission("desa-online", "s-1", "event-1")
    assert number is not None
    await store.mark_rejected(number + 1000, [Reason("nik", "NIK_FORMAT", "x")], None)
    found = await store.submission("desa-online", "s-1")
    assert found is not None and found.outcome == "received"
    assert await store.submission(None, None) is None


async def test_a_submission_names_only_a_registered_worker(store: InspectableStore) -> None:
    number = await store.claim_submission("desa-online", "s-1", "event-1")
    assert number is not None
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await store.mark_registered(number, uuid.uuid4())


@pytest.mark.parametrize("change", [{"sex": "X"}, {"declared_income_idr": -1}])
async def test_the_worker_rules_of_the_schema_hold(
    store: InspectableStore, change: dict[str, object]
) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await store.register_worker(registration(1, **change), AT)


# --- funder lists: the one look-up a registration makes -------------------------------------------

KEY = NikKey(b"store-contract-tests-nik-key-0123456789")


async def import_list(store: InspectableStore, funders: FunderList, by: str = "operator") -> None:
    """Put a funder's list in the store: in PostgreSQL the office's import (a replacement), in
    memory what that import leaves."""
    hashes = [KEY.digest(n) for n in funders.niks]
    if isinstance(store, PgRegistryStore):
        await repository.replace_funder_list(
            store.conn,
            funders,
            hashes,
            ["masked"] * len(hashes),
            list_digest=KEY.list_digest(funders, hashes),
            key_id=KEY.key_id,
            imported_by=by,
        )
        return
    assert isinstance(store, InMemoryRegistryStore)
    for fundings in store.funded.values():  # a new list of the same funder replaces the old one
        fundings[:] = [f for f in fundings if f.funder != funders.funder]
    imported = Funding(funders.funder, funders.source_code, funders.description, str(uuid.uuid4()), AT)
    for h in hashes:
        store.fund(h, imported)


def funder_list(funder: str, *niks: str, code: str = "SG", description: str | None = None) -> FunderList:
    return FunderList(funder, code, description, f"{funder}.csv", niks)


async def test_a_nik_on_a_funder_list_is_found_by_its_hash_and_names_the_funder(
    store: InspectableStore,
) -> None:
    listed, other = registration(1).nik, registration(2).nik
    assert await store.funder_of(KEY.digest(listed)) is None
    await import_list(store, funder_list("PAKE KELAMBU", listed, description="APBD Kabupaten Musi Banyuasin"))
    found = await store.funder_of(KEY.digest(listed))
    assert found is not None
    assert (found.funder, found.source_code, found.description) == (
        "PAKE KELAMBU",
        "SG",
        "APBD Kabupaten Musi Banyuasin",
    )
    assert await store.funder_of(KEY.digest(other)) is None
    assert await store.funder_of(NikKey(b"another-key-another-key-another-key").digest(listed)) is None


async def test_a_new_list_of_a_funder_replaces_its_old_one(store: InspectableStore) -> None:
    first, second = registration(1).nik, registration(2).nik
    await import_list(store, funder_list("PAKE KELAMBU", first))
    await import_list(store, funder_list("PAKE KELAMBU", second))
    assert await store.funder_of(KEY.digest(first)) is None  # left the scheme: may be sponsored now
    found = await store.funder_of(KEY.digest(second))
    assert found is not None and found.funder == "PAKE KELAMBU"


async def test_a_nik_on_two_lists_names_the_older_list(store: InspectableStore) -> None:
    nik = registration(1).nik
    await import_list(store, funder_list("PAKE KELAMBU", nik))
    await import_list(store, funder_list("Desa Sukajadi", nik, code="SD"))
    found = await store.funder_of(KEY.digest(nik))
    assert found is not None and found.funder == "PAKE KELAMBU"
