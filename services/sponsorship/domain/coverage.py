"""Coverage that lasts: when a sponsored coverage is noticed, ends, lapses, is renewed, and what
the programme's daily numbers count. Pure: dates are Asia/Jakarta days, money integer Rupiah.

Rules (the daily job services/sponsorship/coverage.py applies them for each programme day D,
at 00:00 WIB, in this order):

1. **Missed**: an invoiced line still unpaid after its invoice's due date (the 15th, or the next
   working day: shared/calendar) is missed on the day after the due date (PROGRAMME: contributions
   are due by the 15th; there is no late fine). A late payment still pays it (ledger.TRANSITIONS).
2. **Lapse**: a membership whose last `LAPSE_AFTER_MISSED_MONTHS` (3) lines in a row are missed
   becomes inactive ("nonaktif", PROGRAMME: "after 3 consecutive unpaid months") on the day the
   third is missed: the last covered day is the day before. Its future lines (not owed: never
   invoiced) are removed and their budget released, its slot released, the commitment suspended
   (it matches no one until its company pays what it missed), and the worker returns to matching
   from that day. The grace: until then a late payment of a missed month keeps the membership
   active (the run of missed months is broken, `missed_run`), and when it clears every missed
   month of a suspended commitment the commitment matches again.
3. **Period end**: on a coverage's last day (`coverage_end`) with no renewal, the enrollment ends
   and the worker returns to matching from the next day: another open commitment covering them
   (never the one that just ended) takes over from the day after the last covered day (fallback
   sponsor), else they are waitlisted; the office is told either way. A catch-up after downtime
   runs the missed days in order, so the fallback still starts the day after, not the day of the
   catch-up.
4. **Notices**: `NOTICE_DAYS` (30 and 7) days before the last covered day the worker and the company
   are told, once each per last day (a renewal moves the last day, and the notices are due again
   for the new one). Caught up late, only the nearest notice is sent (`notices_due`).
5. **Renewal**: `months` more for every live coverage of the commitment: the new months follow
   the last line (never a month twice, never a day's gap) and the commitment's budget grows by
   the added months' cost at the slots it has.
6. **Numbers** of day D (`DayCounts`): covered (a confirmed coverage includes D), uncovered
   (covered before, neither covered nor being enrolled on D), **unplanned gaps** (uncovered or
   waiting while an open commitment with room would take them: must be 0), at risk (covered, with
   a month missed and not paid), and BPJS's KPI (6 or more paid months).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from services.sponsorship.domain.ledger import LineState, add_months, coverage_end

NOTICE_DAYS: Final = (30, 7)
LAPSE_AFTER_MISSED_MONTHS: Final = 3
KPI_PAID_MONTHS: Final = 6  # BPJS counts a vulnerable-worker member after 6 paid months (PROGRAMME)
PAID_STATES: Final = frozenset({"paid", "confirmed"})


def missed_run(states_by_month: Sequence[tuple[date, LineState]]) -> int:
    """How many of the most recent lines that are past their due (missed, or paid/confirmed),
    counted back from the newest, are missed in a row. Lines still expected or invoiced (not due
    yet) do not break or lengthen the run. The months are taken in order whatever order given."""
    run = 0
    for _, state in sorted(states_by_month, reverse=True):
        if state in ("expected", "invoiced"):
            continue
        if state == "missed":
            run += 1
        else:
            break
    return run


def lapses(states_by_month: Sequence[tuple[date, LineState]]) -> bool:
    return missed_run(states_by_month) >= LAPSE_AFTER_MISSED_MONTHS


def notices_due(last_covered_day: date, today: date, sent_for: Iterable[int]) -> int | None:
    """The notice (days before the last covered day) to send today, if any: the nearest threshold
    reached and not sent for this last day. After the last day, none."""
    days_left = (last_covered_day - today).days
    if days_left < 0:
        return None
    reached = [d for d in NOTICE_DAYS if days_left <= d]
    if not reached:
        return None
    nearest = min(reached)
    return None if nearest in set(sent_for) else nearest


def next_coverage_start(last_covered_day: date) -> date:
    """A fallback sponsor covers from the day after the last covered day: no day's gap."""
    return last_covered_day + timedelta(days=1)


def extended_end(coverage_start: date, months: int) -> date:
    """The last covered day after a renewal (the same arithmetic as BPJS's, ledger.coverage_end)."""
    return coverage_end(coverage_start, months)


def new_months(coverage_start: date, months_before: int, months_added: int) -> list[date]:
    """The calendar months a renewal adds: the ones after the last line, in order."""
    first = coverage_start.replace(day=1)
    return [add_months(first, months_before + i) for i in range(months_added)]


@dataclass(frozen=True, slots=True)
class CoveragePeriod:
    """One enrollment's stretch of coverage, for counting: [start, last] inclusive (Jakarta days).
    `pending`: requested of BPJS, not answered yet (being enrolled)."""

    worker_id: str
    start: date
    last: date
    pending: bool = False

    def includes(self, day: date) -> bool:
        return self.start <= day <= self.last


@dataclass(frozen=True, slots=True)
class DayCounts:
    workers_covered: int
    workers_uncovered: int
    unplanned_gaps: int
    members_at_risk: int
    members_six_paid_months: int


def count_day(
    day: date,
    periods: Iterable[CoveragePeriod],
    waiting_with_room: Iterable[str],
    at_risk: Iterable[str],
    paid_months: dict[str, int],
) -> DayCounts:
    """Day D's numbers from every coverage period, the waiting workers an open commitment with room
    would take (`waiting_with_room`: matching's answer, computed by the caller), the covered
    workers with a missed unpaid month, and each worker's paid months."""
    covered: set[str] = set()
    in_hand: set[str] = set()
    ever: set[str] = set()
    for p in periods:
        if not p.pending:
            if p.start <= day:
                ever.add(p.worker_id)
            if p.includes(day):
                covered.add(p.worker_id)
        if p.includes(day) or (p.pending and p.start <= day + timedelta(days=1)):
            in_hand.add(p.worker_id)
    uncovered = ever - in_hand
    gaps = set(waiting_with_room) - in_hand
    return DayCounts(
        workers_covered=len(covered),
        workers_uncovered=len(uncovered),
        unplanned_gaps=len(gaps),
        members_at_risk=len(set(at_risk) & covered),
        members_six_paid_months=sum(1 for n in paid_months.values() if n >= KPI_PAID_MONTHS),
    )
