"""One place for "now": the programme clock every time-based rule reads.

In production it is real time. In tests and demos it can run from a chosen programme instant,
faster than real time, and still read the same in every process and instance without any
coordination between them, because it is a pure function of the real clock and three settings:

- `MUBA_PROGRAMME_EPOCH`: a programme instant, ISO 8601 with its offset (2027-01-01T00:00:00+07:00);
- `MUBA_PROGRAMME_ANCHOR`: the real instant at which the programme clock reads EPOCH
  (ISO 8601 with its offset, e.g. 2026-05-04T10:00:00Z);
- `MUBA_PROGRAMME_SPEED`: programme seconds per real second (default 1; 86400 runs a day per second).

    programme_now = EPOCH + (real_now - ANCHOR) * SPEED + skew

All unset: programme time is real time. EPOCH and ANCHOR go together; SPEED alone is refused
(it would need a start). `check()` validates them when a service is built.

`MUBA_CLOCK_SKEW_S` (seconds, may be negative or fractional; default 0) shifts this process's
clock on top of that, unscaled. It is for tests and the fault campaign only ("a clock step on one
instance"): never set it in a real deployment. Both are read on every call, so a test can step the
clock of a running service.

What this clock stamps is information for people and the programme's own rules (registered at,
coverage starts, due dates). Nothing technical reads it: leases, timeouts and retries use
`time.monotonic()` or the database's `now()`, and `real_now()` is for stamps an operator reads
(when a message was dead-lettered). Order comes from database sequences, not from any clock.

Domain code takes a `Clock` (or a `now` argument) instead of calling `programme_now()` itself,
so unit tests hand it a `ManualClock`.
"""

import logging
import math
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final, Protocol
from zoneinfo import ZoneInfo

JAKARTA: Final = ZoneInfo("Asia/Jakarta")
SKEW_VARIABLE: Final = "MUBA_CLOCK_SKEW_S"
EPOCH_VARIABLE: Final = "MUBA_PROGRAMME_EPOCH"
ANCHOR_VARIABLE: Final = "MUBA_PROGRAMME_ANCHOR"
SPEED_VARIABLE: Final = "MUBA_PROGRAMME_SPEED"
MAX_SPEED: Final = 10_000_000.0  # a programme year in about three real seconds

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


_announced: set[object] = set()


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


@dataclass(frozen=True, slots=True)
class ProgrammeTime:
    """Where the programme clock stood at one real instant, and how fast it runs."""

    epoch: datetime
    anchor: datetime
    speed: float

    def at(self, real: datetime) -> datetime:
        return self.epoch + (real - self.anchor) * self.speed


def _instant(variable: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{variable} must be an ISO 8601 instant, got {raw!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"{variable} must carry its UTC offset (e.g. +07:00 or Z), got {raw!r}")
    return value.astimezone(UTC)


@lru_cache(maxsize=8)
def _parse_programme(epoch: str, anchor: str, speed: str) -> ProgrammeTime | None:
    if not (epoch or anchor or speed):
        return None
    if not (epoch and anchor):
        raise ValueError(
            f"{EPOCH_VARIABLE} and {ANCHOR_VARIABLE} go together ({SPEED_VARIABLE} needs both), got"
            f" {EPOCH_VARIABLE}={epoch!r} {ANCHOR_VARIABLE}={anchor!r} {SPEED_VARIABLE}={speed!r}"
        )
    try:
        factor = float(speed) if speed else 1.0
    except ValueError:
        raise ValueError(f"{SPEED_VARIABLE} must be a number, got {speed!r}") from None
    if not math.isfinite(factor) or not 0 < factor <= MAX_SPEED:
        raise ValueError(f"{SPEED_VARIABLE} must be above 0 and at most {MAX_SPEED:g}, got {speed!r}")
    return ProgrammeTime(_instant(EPOCH_VARIABLE, epoch), _instant(ANCHOR_VARIABLE, anchor), factor)


def _settings() -> ProgrammeTime | None:
    return _parse_programme(
        os.environ.get(EPOCH_VARIABLE, "").strip(),
        os.environ.get(ANCHOR_VARIABLE, "").strip(),
        os.environ.get(SPEED_VARIABLE, "").strip(),
    )


def programme_time() -> ProgrammeTime | None:
    """The settings of the programme clock, or None when it is real time. Each new setting is
    logged once (a warning), so a process off real time says so in its log."""
    found = _settings()
    if found is not None and found not in _announced:
        _announced.add(found)
        log.warning(
            "programme clock is not real time",
            extra={
                "programme_epoch": found.epoch.isoformat(),
                "programme_anchor": found.anchor.isoformat(),
                "programme_speed": found.speed,
            },
        )
    return found


def speed() -> float:
    """Programme seconds per real second (1 unless the clock is accelerated)."""
    found = _settings()
    return 1.0 if found is None else found.speed


def real_now() -> datetime:
    """The host's real time, UTC: for stamps an operator reads, never for programme rules."""
    return datetime.now(UTC)


def programme_now() -> datetime:
    """The programme's current moment, timezone-aware in UTC (plus the fault-injection skew)."""
    real = real_now()
    found = programme_time()
    return (real if found is None else found.at(real)) + skew()


def programme_today() -> date:
    """The programme's calendar date for people here (Asia/Jakarta), whatever the server's zone."""
    return programme_now().astimezone(JAKARTA).date()


def now() -> datetime:
    """The programme's current moment (`programme_now`): the name the services have always used."""
    return programme_now()


def today_in_jakarta() -> date:
    """Today for people here (ages, coverage starts), on the programme clock (`programme_today`)."""
    return programme_today()


def check_skew() -> timedelta:
    """Validate `MUBA_CLOCK_SKEW_S` and the programme clock's settings when a service is built
    (a typo fails the start, not every message later); returns the skew."""
    programme_time()
    raw = os.environ.get(SKEW_VARIABLE, "").strip()
    return _parse_skew(raw) if raw else timedelta(0)


class Clock(Protocol):
    """What domain code and the scheduler read "now" from."""

    def now(self) -> datetime: ...


class ProgrammeClock:
    """The programme clock of this process (`programme_now`), as a `Clock`."""

    def now(self) -> datetime:
        return programme_now()


PROGRAMME: Final = ProgrammeClock()


class ManualClock:
    """A clock that stands still until a test sets or advances it."""

    def __init__(self, at: datetime) -> None:
        self.set(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a ManualClock needs a timezone-aware instant")
        self._at = at.astimezone(UTC)

    def advance(self, by: timedelta) -> datetime:
        self._at += by
        return self._at


def today_of(clock: Clock) -> date:
    """The Asia/Jakarta calendar date of `clock`'s now."""
    return clock.now().astimezone(JAKARTA).date()
