"""One place for "now": the times services stamp on what they store and publish.

These times are information for people (when a worker was registered, matched, notified). Nothing
is ordered by them: a host clock can be skewed or stepped by NTP, so order comes from a database
sequence instead (the registry's `registration_seq` orders the waitlist).

`MUBA_CLOCK_SKEW_S` (seconds, may be negative or fractional; default 0) shifts this process's
clock. It is for tests and the fault campaign only ("a clock step on one instance"): never set it
in a real deployment. It is read on every call, so a test can step the clock of a running service.
"""

import logging
import math
import os
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

JAKARTA: Final = ZoneInfo("Asia/Jakarta")
SKEW_VARIABLE: Final = "MUBA_CLOCK_SKEW_S"

log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def _parse_skew(raw: str) -> timedelta:
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{SKEW_VARIABLE} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(seconds) or abs(seconds) > 10 * 365 * 86_400:
        raise ValueError(f"{SKEW_VARIABLE} must be a finite number of seconds within 10 years, got {raw!r}")
    return timedelta(seconds=seconds)


_announced: set[timedelta] = set()


def skew() -> timedelta:
    """The fault-injection offset of this process's clock (zero unless `MUBA_CLOCK_SKEW_S` is set).

    Each new non-zero offset is logged once (a warning), so a skewed process says so in its log."""
    raw = os.environ.get(SKEW_VARIABLE, "").strip()
    offset = _parse_skew(raw) if raw else timedelta(0)
    if offset and offset not in _announced:
        _announced.add(offset)
        log.warning(
            "clock skewed for fault injection",
            extra={"clock_skew_s": offset.total_seconds(), "variable": SKEW_VARIABLE},
        )
    return offset


def now() -> datetime:
    """The current moment, timezone-aware in UTC (plus the fault-injection skew, if any)."""
    return datetime.now(UTC) + skew()


def today_in_jakarta() -> date:
    """Today's calendar date for people here (ages, coverage starts), whatever the server's zone."""
    return now().astimezone(JAKARTA).date()


def check_skew() -> timedelta:
    """Validate `MUBA_CLOCK_SKEW_S` when a service is built: a typo fails the start, not every
    message later."""
    raw = os.environ.get(SKEW_VARIABLE, "").strip()
    return _parse_skew(raw) if raw else timedelta(0)
