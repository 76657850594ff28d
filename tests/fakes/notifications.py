"""An in-memory `NotificationsStore`: what the handlers' unit tests run on, held to the same
contract tests as `PgNotificationsStore` (tests/services/test_notifications_store.py).

`InMemoryNotifications` is the database (the rows, the id sequence, the worker locks);
`transaction()` gives the store of one transaction, as the consumer's store factory does.
Like PostgreSQL: a dedupe key is queued once, ever; ids come from a sequence that a rollback
does not give back; every row of one transaction has that transaction's start time as
`created_at`; a rollback removes the transaction's rows; `lock_worker` holds the worker until
the transaction ends. Unlike it, another transaction sees rows before they are committed (the
handlers lock the worker before they look, so none of theirs can tell).
"""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.notifications.domain import TEMPLATE_ENROLLMENT_COMPLETED, Notification
from services.notifications.repository import Queued


@dataclass(frozen=True, slots=True)
class QueuedRow:
    """One `notification` row as the handlers leave it (queued, not yet sent)."""

    id: int
    dedupe_key: str
    event_id: str
    worker_id: uuid.UUID | None
    notification: Notification
    created_at: datetime
    company_id: str | None = None
    submission: str | None = None


@dataclass
class InMemoryNotifications:
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    rows: dict[str, QueuedRow] = field(default_factory=dict)  # by dedupe key, in insertion order
    ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    locks: dict[uuid.UUID, asyncio.Lock] = field(default_factory=dict)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["InMemoryNotificationsStore"]:
        """One transaction's store: committed when the block ends, rolled back when it raises."""
        store = InMemoryNotificationsStore(self, self.clock())
        try:
            yield store
        except BaseException:
            for key in store.queued_keys:
                del self.rows[key]
            raise
        finally:
            for lock in store.held:
                lock.release()

    def queued(self) -> list[QueuedRow]:
        """Every row, in id order."""
        return sorted(self.rows.values(), key=lambda r: r.id)


@dataclass
class InMemoryNotificationsStore:
    db: InMemoryNotifications
    started_at: datetime
    queued_keys: list[str] = field(default_factory=list)
    held: list[asyncio.Lock] = field(default_factory=list)

    async def queue(
        self,
        *,
        dedupe_key: str,
        event_id: str,
        worker_id: uuid.UUID | None,
        notification: Notification,
        company_id: str | None = None,
        submission: str | None = None,
    ) -> Queued | None:
        if dedupe_key in self.db.rows:
            return None
        company = company_id if notification.audience == "company" else None
        row = QueuedRow(
            next(self.db.ids),
            dedupe_key,
            event_id,
            worker_id,
            notification,
            self.started_at,
            company,
            submission,
        )
        self.db.rows[dedupe_key] = row
        self.queued_keys.append(dedupe_key)
        return Queued(row.id, row.created_at)

    async def lock_worker(self, worker_id: uuid.UUID) -> None:
        lock = self.db.locks.setdefault(worker_id, asyncio.Lock())
        if lock in self.held:
            return  # PostgreSQL's advisory locks are re-entrant within a transaction
        await lock.acquire()
        self.held.append(lock)

    async def was_told_enrolled(self, worker_id: uuid.UUID) -> bool:
        return any(
            r.worker_id == worker_id
            and r.notification.template == TEMPLATE_ENROLLMENT_COMPLETED
            and r.notification.audience == "worker"
            for r in self.db.rows.values()
        )
