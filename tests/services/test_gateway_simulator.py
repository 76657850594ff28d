"""The gateway simulator as a process (`python -m simulators.gateway`), spoken to by the sender's
HttpGateway: what it answered 2xx is on record, also after a SIGKILL."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from deploy.stack import ROOT, free_port
from services.notifications.delivery import HttpGateway, PermanentRefusal, TemporaryFailure
from services.notifications.repository import StoredNotification


@contextmanager
def simulator(record: Path, **env: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.gateway"],
        cwd=ROOT,
        env={
            **os.environ,
            "GATEWAY_SIMULATOR_HTTP_PORT": str(port),
            "GATEWAY_SIMULATOR_RECORD": str(record),
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if process.poll() is not None:
                raise AssertionError(f"the simulator exited with {process.returncode}")
            with suppress(OSError):
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                    assert json.loads(response.read())["status"] == "up"
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the simulator did not answer /healthz")
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)  # no goodbye: what was answered must be on record
        process.wait()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def message(i: int) -> StoredNotification:
    return StoredNotification(
        i, None, "enrollment_confirmed", "worker", "sms", f"+62812{i:08d}", None, f"Isi {i}", 1, f"key-{i}"
    )


async def send_all(url: str, ids: range) -> dict[int, str]:
    """Send each message once, concurrently; what the sender saw per message."""
    gateway = HttpGateway(f"{url}/messages", timeout_s=5.0)
    outcomes: dict[int, str] = {}

    async def one(i: int) -> None:
        try:
            await gateway.send(message(i))
            outcomes[i] = "delivered"
        except PermanentRefusal:
            outcomes[i] = "refused"
        except TemporaryFailure:
            outcomes[i] = "retry"

    try:
        await asyncio.gather(*(one(i) for i in ids))
    finally:
        await gateway.stop()
    return outcomes


async def test_every_2xx_is_on_record_after_a_sigkill_and_a_restart_counts_repeats(tmp_path: Path) -> None:
    record = tmp_path / "gateway" / "received.jsonl"
    with simulator(record) as url:
        outcomes = await send_all(url, range(1, 41))
    # SIGKILLed right after the last answer.
    assert set(outcomes.values()) == {"delivered"}
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert sorted(e["notification_id"] for e in lines) == list(range(1, 41))
    assert all(e["outcome"] == "accepted" and e["status"] == 200 and e["repeat"] == 0 for e in lines)
    first = next(e for e in lines if e["notification_id"] == 7)
    assert (first["idempotency_key"], first["recipient"], first["template"], first["channel"]) == (
        "key-7",
        "+6281200000007",
        "enrollment_confirmed",
        "sms",
    )

    with simulator(record) as url:
        await send_all(url, range(7, 8))  # the same message again, after the restart
        received = get(f"{url}/received")
        stats = get(f"{url}/stats")
    assert len(received) == 41 and received[-1]["idempotency_key"] == "key-7"
    assert received[-1]["repeat"] == 1  # the simulator remembered the key across the restart
    assert stats == {"received": 1, "accepted": 1}


async def test_fault_injection_answers_503_for_a_share_and_refuses_a_share_for_good(tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    env = {"GATEWAY_SIMULATOR_FAIL_PERCENT": "30", "GATEWAY_SIMULATOR_REFUSE_PERCENT": "20"}
    with simulator(record, GATEWAY_SIMULATOR_SEED="7", **env) as url:
        outcomes = await send_all(url, range(200))
        again = await send_all(url, range(200))  # every refused message is refused again
        received = get(f"{url}/received")
    counts = Counter(outcomes.values())
    assert 20 < counts["refused"] < 60 and 30 < counts["retry"] < 100 and counts["delivered"] > 50
    assert {i for i, o in again.items() if o == "refused"} == {
        i for i, o in outcomes.items() if o == "refused"
    }
    assert len(received) == 400
    by_outcome = Counter(e["outcome"] for e in received)
    assert by_outcome["failed"] == sum(o == "retry" for o in [*outcomes.values(), *again.values()])
    refused = next(e for e in received if e["outcome"] == "refused")
    assert refused["status"] == 422


def test_a_bad_request_is_answered_400_and_recorded(tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    with simulator(record) as url:
        request = urllib.request.Request(f"{url}/messages", data=b'{"channel": "sms"}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=5)
        assert raised.value.code == 400
        assert "missing" in json.loads(raised.value.read())["error"]
        (entry,) = get(f"{url}/received")
    assert entry["outcome"] == "invalid" and entry["status"] == 400
