"""The README's services table says what each service consumes and publishes: the same topics as
shared/contracts.py, which the services subscribe and publish from, so the table cannot drift."""

import re
from pathlib import Path

import pytest

from shared.contracts import CONTRACTS

README = Path(__file__).resolve().parents[2] / "README.md"
ROWS = {
    "registry": "services/registry",
    "sponsorship": "services/sponsorship",
    "notifications": "services/notifications",
    "bpjs-simulator": "simulators/bpjs",
}


def _row(path: str) -> tuple[set[str], set[str]]:
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| `{path}` |"):
            cells = line.split(" | ")
            consumes, publishes = (set(re.findall(r"`([a-z0-9.<>-]+)`", cell)) for cell in cells[1:3])
            return consumes, publishes
    raise AssertionError(f"README.md has no row for {path} in its services table")


@pytest.mark.parametrize("service", ROWS)
def test_the_services_table_lists_the_contracts_topics(service: str) -> None:
    consumes, publishes = _row(ROWS[service])
    assert consumes == {
        c.topic + (".<partner>" if c.per_partner else "") for c in CONTRACTS if service in c.consumers
    }
    assert publishes == {c.topic for c in CONTRACTS if c.producer == service}
