"""A PostgreSQL stand-in for the consumer's unit tests: the inbox and the outbox as Python
collections, transactions and savepoints that roll them back, and faults on demand.

It understands exactly the statements MessageProcessor sends (the inbox claim and the two outbox
inserts); anything else fails loudly, so a new statement cannot pass by accident.
"""

import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeDatabase:
    inbox: set[tuple[str, str]] = field(default_factory=set)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # Called before each statement with its SQL: raise from it to inject a fault.
    before_statement: Callable[[str], None] = lambda sql: None
    statements: int = 0

    def pool(self) -> "FakePool":
        return FakePool(self)


class FakePool:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator["FakeConn"]:
        yield FakeConn(self.db)


class FakeConn:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def is_closed(self) -> bool:
        return False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A transaction or a savepoint: on an exception, what it did is undone."""
        inbox, outbox = set(self.db.inbox), copy.deepcopy(self.db.outbox)
        try:
            yield
        except BaseException:
            self.db.inbox, self.db.outbox = inbox, outbox
            raise

    def _statement(self, sql: str) -> None:
        self.db.statements += 1
        self.db.before_statement(sql)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self._statement(sql)
        if not sql.startswith("INSERT INTO inbox"):
            raise NotImplementedError(sql)
        consumer, event_ids, _topics = args
        claimed = []
        for event_id in event_ids:
            if (consumer, event_id) not in self.db.inbox:
                self.db.inbox.add((consumer, event_id))
                claimed.append({"event_id": event_id})
        return claimed

    async def execute(self, sql: str, *args: Any) -> str:
        self._statement(sql)
        if not sql.startswith("INSERT INTO outbox"):
            raise NotImplementedError(sql)
        columns = ("event_id", "topic", "key", "event_type", "payload", "headers", "raw_headers")
        rows = zip(*args, strict=True) if "unnest" in sql else [args]
        known = {row["event_id"] for row in self.db.outbox}
        for values in rows:
            row = dict(zip(columns, values, strict=True))
            if row["event_id"] not in known:  # ON CONFLICT (event_id) DO NOTHING
                self.db.outbox.append(row)
                known.add(row["event_id"])
        return "INSERT"
