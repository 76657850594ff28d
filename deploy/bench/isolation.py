"""Whether a run had the service schemas to itself: other clients of the service roles on the
shared PostgreSQL, and whether this run's own outbox relays hold their advisory locks."""

import contextlib
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import psutil

from deploy.stack import Stack
from testkit.infra import SERVICES


@dataclass
class Isolation:
    """Whether this run had the service schemas to itself. TOPIC_PREFIX separates topics, not the
    database: another stack or test run on the same schemas shares the outbox relays' advisory
    locks (its relay may publish this run's events), the kecamatan locks, and TRUNCATEs them."""

    others_before_truncate: dict[str, int] = field(default_factory=dict)
    others_during_run: dict[str, int] = field(default_factory=dict)
    relay_leader: dict[str, bool] = field(default_factory=dict)

    def note(self, found: dict[str, int]) -> None:
        for role, count in found.items():
            self.others_during_run[role] = max(self.others_during_run.get(role, 0), count)

    def warnings(self) -> list[str]:
        found = []
        if any(self.others_before_truncate.values()):
            found.append(
                f"other clients were connected to the service schemas when this run emptied them: "
                f"{self.others_before_truncate} (their data is gone)"
            )
        if any(self.others_during_run.values()):
            found.append(
                f"other clients used the service schemas during the run: {self.others_during_run}; "
                "they share the outbox relay and kecamatan locks, so the figures are not clean"
            )
        lost = sorted(name for name, leader in self.relay_leader.items() if not leader)
        if lost:
            found.append(
                f"another process holds the outbox relay lock of {', '.join(lost)}: it, not this run's "
                "stack, publishes this run's events"
            )
        return found


async def other_backends(admin_url: str, pids: Sequence[int]) -> dict[str, int]:
    """Connections of the service roles that belong to none of `pids` (by the client's port).
    The server's list first: a pool connection opened after it is not in it, and one in it is
    still open when the processes' sockets are listed just after."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            "SELECT usename, client_port FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND usename = ANY($1::text[])",
            list(SERVICES),
        )
    finally:
        await conn.close()
    ours: set[int] = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            ours.update(c.laddr.port for c in psutil.Process(pid).net_connections(kind="inet") if c.raddr)
    found = Counter(str(r["usename"]) for r in rows if r["client_port"] not in ours)
    return {service: found.get(service, 0) for service in SERVICES}


def relay_leadership(stack: Stack, timeout_s: float = 10.0) -> dict[str, bool]:
    """Whether each service's own outbox relay holds its schema's advisory lock (/readyz)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, bool] = {}
    for process in stack.processes:
        if process.name not in SERVICES:
            continue
        url = f"http://127.0.0.1:{process.port}/readyz"
        while True:
            leader = False
            with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=5) as response:
                leader = bool(json.loads(response.read()).get("outbox_relay_leader"))
            if leader or time.monotonic() > deadline:
                found[process.name] = leader
                break
            time.sleep(0.2)
    return found
