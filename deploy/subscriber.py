"""Run the feed's TypeScript subscriber (subscribers/typescript) and read what it counted.

`make demo` and tests/e2e/test_subscriber_typescript.py run it after the pipeline, as a partner
would: as the Kafka principal `subscriber`, with its own password, in a group of its own; then
compare its counts with what the pipeline did (one worker-enrolled per enrollment completed, one
worker-waitlisted per waitlisting).

    python -m deploy.subscriber [--since EPOCH_MS] [--topic-prefix P]   # prints its JSON line
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploy.stack import ROOT

PROJECT = ROOT / "subscribers" / "typescript"
MAIN = PROJECT / "dist" / "main.js"


@dataclass(frozen=True)
class FeedCounts:
    """What the subscriber printed, and how it exited (0 valid, 1 invalid records, 2 could not
    run, 3 did not catch up)."""

    returncode: int
    events: dict[str, int]
    records: int
    duplicates: int
    invalid: int
    stderr: str

    @property
    def line(self) -> str:
        shown = ", ".join(f"{topic} {n}" for topic, n in sorted(self.events.items()))
        return f"{shown}; {self.records} records, {self.duplicates} repeats, {self.invalid} invalid"


def _stale() -> bool:
    if not MAIN.exists():
        return True
    built = MAIN.stat().st_mtime
    return any(p.stat().st_mtime > built for p in (PROJECT / "src").rglob("*") if p.is_file())


def build() -> None:
    """Compile the subscriber if its sources are newer than dist/ (bootstrap builds it first)."""
    if not (PROJECT / "node_modules").is_dir():
        raise RuntimeError("the subscriber is not installed: make install (npm ci in subscribers/typescript)")
    if _stale():
        subprocess.run(
            ["npm", "run", "--silent", "build"], cwd=PROJECT, check=True, capture_output=True, text=True
        )


def run_subscriber(
    *,
    since_ms: int | None = None,
    topic_prefix: str = "",
    group: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 120.0,
) -> FeedCounts:
    """Run the subscriber until it has caught up with the feed; `since_ms`: count only records
    written from then on (epoch milliseconds)."""
    build()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (make install)")
    argv = [node, str(MAIN), "--topic-prefix", topic_prefix, "--timeout-s", str(int(timeout_s))]
    if since_ms is not None:
        argv += ["--since", str(since_ms)]
    if group is not None:
        argv += ["--group", group]
    done = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s + 60,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    printed: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return FeedCounts(
        returncode=done.returncode,
        events={str(k): int(v) for k, v in printed.get("events", {}).items()},
        records=int(printed.get("records", 0)),
        duplicates=int(printed.get("duplicates", 0)),
        invalid=int(printed.get("invalid", 0)),
        stderr=done.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--since", type=int, help="epoch milliseconds: count records from then on")
    parser.add_argument("--topic-prefix", default=os.environ.get("TOPIC_PREFIX", ""))
    args = parser.parse_args(argv)
    counts = run_subscriber(since_ms=args.since, topic_prefix=args.topic_prefix)
    sys.stderr.write(counts.stderr)
    print(counts.line)
    return counts.returncode


if __name__ == "__main__":
    sys.exit(main())
