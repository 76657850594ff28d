"""The registry's store in memory: `RegistryStore` as `PgRegistryStore` behaves on the registry
schema, for handlers' unit tests (tests/services/test_registry_store.py holds both to one contract).

Test code only: never imported by services/, shared/, simulators/ or muba/. Each method runs
without awaiting anything, so within one event loop it is as atomic as its SQL statement. What it
keeps from the schema: the conflicts (`event_id`, `(source, submission_id)` with NULLs distinct,
`nik`), the sequences (numbers increase and, as in PostgreSQL, a conflicting insert uses one up),
the worker's CHECKs and the submission's foreign key to the worker, raised as asyncpg raises them.
A transaction's rollback is not modelled: a handler that fails leaves what it did so far.
"""

import dataclasses
import itertools
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.registry.domain.funders import Funding
from services.registry.domain.registration import Reason, Registration
from services.registry.repository import RegisteredWorker, Submission, Worker


class InMemoryRegistryStore:
    def __init__(self) -> None:
        self.submissions: dict[int, Submission] = {}  # by number, in the order they arrived
        self.workers: dict[str, Worker] = {}  # by NIK, in the order they were registered
        self.funded: dict[bytes, list[Funding]] = {}  # the current funder lists, by keyed NIK hash
        self._submission_numbers = itertools.count(1)
        self._registration_numbers = itertools.count(1)

    async def claim_submission(
        self, source: str | None, submission_id: str | None, event_id: str
    ) -> int | None:
        number = next(self._submission_numbers)  # bigserial: taken before the conflict is seen
        for seen in self.submissions.values():
            if seen.event_id == event_id:
                return None
            same = source is not None and submission_id is not None  # NULLs are distinct in UNIQUE
            if same and (seen.source, seen.submission_id) == (source, submission_id):
                return None
        self.submissions[number] = Submission(
            id=number,
            source=source,
            submission_id=submission_id,
            event_id=event_id,
            outcome="received",
            worker_id=None,
            reasons=None,
            kecamatan_code=None,
        )
        return number

    async def register_worker(
        self, registration: Registration, registered_at: datetime
    ) -> RegisteredWorker | None:
        r = registration
        if r.sex not in ("L", "P"):
            raise asyncpg.CheckViolationError('new row for relation "worker" violates check constraint')
        if r.declared_income_idr is not None and r.declared_income_idr < 0:
            raise asyncpg.CheckViolationError('new row for relation "worker" violates check constraint')
        number = next(self._registration_numbers)  # GENERATED ALWAYS: taken before the conflict
        if r.nik in self.workers:
            return None
        worker = Worker(
            worker_id=uuid.uuid4(),
            registration_seq=number,
            nik=r.nik,
            source=r.source,
            submission_id=r.submission_id,
            full_name=r.full_name,
            birth_date=r.birth_date,
            sex=r.sex,
            phone=r.phone,
            kecamatan_code=r.kecamatan_code,
            desa=r.desa,
            occupation=r.occupation,
            declared_income_idr=r.declared_income_idr,
            registered_at=registered_at,
            warnings=r.warnings,
        )
        self.workers[r.nik] = worker
        return RegisteredWorker(worker.worker_id, worker.registration_seq)

    async def funder_of(self, nik_hash: bytes) -> Funding | None:
        fundings = self.funded.get(nik_hash, [])  # in the order of import, as import_seq orders them
        return fundings[0] if fundings else None

    def fund(self, nik_hash: bytes, funding: Funding) -> None:
        """A funder's list holds this NIK (what the office's import does in PostgreSQL)."""
        self.funded.setdefault(nik_hash, []).append(funding)

    async def mark_registered(self, submission: int, worker_id: uuid.UUID) -> None:
        if not any(w.worker_id == worker_id for w in self.workers.values()):
            raise asyncpg.ForeignKeyViolationError(
                'insert or update on table "submission" violates foreign key constraint'
            )
        self._update(submission, outcome="registered", worker_id=worker_id)

    async def mark_rejected(
        self, submission: int, reasons: Sequence[Reason], kecamatan_code: str | None
    ) -> None:
        self._update(submission, outcome="rejected", reasons=tuple(reasons), kecamatan_code=kecamatan_code)

    def _update(self, submission: int, **changes: object) -> None:
        """An UPDATE ... WHERE id = $1: a number that names no submission changes nothing."""
        found = self.submissions.get(submission)
        if found is not None:
            self.submissions[submission] = dataclasses.replace(found, **changes)  # type: ignore[arg-type]

    # The same reads as PgRegistryStore's, for tests.

    async def submission(self, source: str | None, submission_id: str | None) -> Submission | None:
        return next(
            (s for s in self.submissions.values() if (s.source, s.submission_id) == (source, submission_id)),
            None,
        )

    async def worker(self, nik: str) -> Worker | None:
        return self.workers.get(nik)
