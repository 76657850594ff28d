"""`make demo`, the README's first command, as a person runs it (330 workers: some wait): it exits 0, and the
feed's TypeScript subscriber, reading the demo's public feed as the principal `subscriber`, counts
one worker-enrolled per enrollment completed and one worker-waitlisted per waitlisting, as the
summary the demo printed from the pipeline's own topics says."""

import os
import re
import subprocess
import sys

from deploy.stack import ROOT


def _row(summary: str, label: str) -> int:
    found = re.search(rf"^\s+{re.escape(label)}\s+(\d+)$", summary, re.MULTILINE)
    assert found, f"no row {label!r} in the demo's summary"
    return int(found.group(1))


def test_the_demo_runs_and_the_subscriber_counts_its_feed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.demo"],
        cwd=ROOT,
        env={**os.environ, "DEMO_WORKERS": "330"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    completed = _row(done.stdout, "enrollments completed")
    waitlisted = _row(done.stdout, "workers waitlisted")
    assert completed > 0 and waitlisted > 0
    feed = re.search(
        r"^The public feed, read by the TypeScript subscriber .*: feed\.coverage-ended\.v1 (\d+),"
        r" feed\.worker-enrolled\.v1 (\d+), feed\.worker-waitlisted\.v1 (\d+); \d+ records, \d+ repeats,"
        r" 0 invalid$",
        done.stdout,
        re.MULTILINE,
    )
    assert feed, done.stdout[-2000:]
    assert (int(feed.group(1)), int(feed.group(2)), int(feed.group(3))) == (0, completed, waitlisted)
