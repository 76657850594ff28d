"""The programme's dates: months, working days, and when a month's contribution is invoiced,
due and reminded. Pure: no clock is read here (the caller passes the day), no I/O but reading the
repository's own cuti bersama file once.

Rules, each with its source:

- **Working day**: not a Saturday or Sunday, not an Indonesian national public holiday (the
  `holidays` library, country "ID", category public: the Keppres and SKB holidays), not a cuti
  bersama day (shared/data/cuti_bersama.json, from each year's SKB 3 Menteri). Cuti bersama is
  leave, not a public holiday, but the SKB asks employers to observe it and companies' finance
  staff and BPJS's branch offices are away: a due date or a reminder never falls on one.
- **Unknown years are refused**: a year with no cuti bersama entry raises `CalendarYearUnknown`
  rather than being taken as having none (the library also only estimates the Islamic holidays
  of years the decree has not fixed). The decree for the next year is signed between September
  and November: add it to the data file then.
- **Contribution due date**: the 15th of the month, or the next working day when the 15th is not
  one (the programme: "Contributions are monthly, due by the 15th of the month (next working day
  if a holiday)"; a weekend counts as not a working day).
- **Invoice issue date**: the first calendar day of the month, holiday or not. The scheduler issues
  it as the month starts (00:00 WIB); waiting for the first working day would only shorten the
  company's time to pay, and the due date does not move with it.
- **Reminders**: a signed number of working days from the due date (default: 5 before, on the
  day, 3 and 10 after), counted in working days so that none lands on a day the company's staff
  are away. A reminder on or before the issue date is dropped (the invoice itself says it).
- **Dates and instants**: a date is a day in Asia/Jakarta (WIB, UTC+7, no daylight saving). It
  begins at 00:00 WIB = 17:00 UTC the day before and ends before the next day's 00:00 WIB: a due
  date of 18 August ends at 23:59:59 WIB = 16:59:59 UTC on 18 August. Instants travel in UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Final

import holidays

from shared.clock import JAKARTA

CUTI_BERSAMA_FILE: Final = Path(__file__).resolve().parent / "data" / "cuti_bersama.json"
DUE_DAY: Final = 15
SATURDAY, SUNDAY = 5, 6
_MONTH: Final = re.compile(r"(\d{4})-(\d{2})")


class CalendarYearUnknown(LookupError):
    """No cuti bersama data for a year: its working days cannot be known."""

    def __init__(self, year: int) -> None:
        super().__init__(
            f"no cuti bersama data for {year}: add that year's SKB 3 Menteri to shared/data/cuti_bersama.json"
        )
        self.year = year


class CalendarDataError(ValueError):
    """The cuti bersama file is malformed (a date outside its year, on a weekend, no source...)."""


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month, written YYYY-MM."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"no such month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        found = _MONTH.fullmatch(text.strip())
        if found is None:
            raise ValueError(f"a month is written YYYY-MM, got {text!r}")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.plus(1).first_day - timedelta(days=1)

    @property
    def days(self) -> int:
        return self.last_day.day

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def day(self, number: int) -> date:
        return date(self.year, self.month, number)


@dataclass(frozen=True, slots=True)
class CutiBersamaYear:
    year: int
    days: Mapping[date, str]  # the day -> what it is for
    source: str


def parse_cuti_bersama(document: Mapping[str, object]) -> dict[int, CutiBersamaYear]:
    """The data file's content, checked: each year has a source, each day lies in its year and on
    a weekday (the SKB only ever grants leave on working days)."""
    years = document.get("years")
    if not isinstance(years, dict):
        raise CalendarDataError('the document needs "years": {"YYYY": {"source": ..., "days": {...}}}')
    found: dict[int, CutiBersamaYear] = {}
    for key, entry in years.items():
        if not re.fullmatch(r"\d{4}", key) or not isinstance(entry, dict):
            raise CalendarDataError(f"year {key!r}: an entry is keyed by the year, YYYY")
        year = int(key)
        source, days = entry.get("source"), entry.get("days")
        if not isinstance(source, str) or not source.strip():
            raise CalendarDataError(f"{year}: each year names its source (the decree)")
        if not isinstance(days, dict):
            raise CalendarDataError(f"{year}: days is a map of YYYY-MM-DD to what the leave is for")
        parsed: dict[date, str] = {}
        for text, what in days.items():
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise CalendarDataError(f"{year}: {text!r} is not a date YYYY-MM-DD") from None
            if day.year != year:
                raise CalendarDataError(f"{year}: {day} lies in another year")
            if day.weekday() in (SATURDAY, SUNDAY):
                raise CalendarDataError(f"{year}: {day} is a weekend day, never cuti bersama")
            if not isinstance(what, str) or not what.strip():
                raise CalendarDataError(f"{year}: {day} needs what the leave is for")
            parsed[day] = what
        found[year] = CutiBersamaYear(year, parsed, source)
    return found


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """A reminder `working_days` from the due date: negative before it, 0 on it, positive after."""

    working_days: int

    @property
    def kind(self) -> str:
        if self.working_days < 0:
            return "before_due"
        return "on_due_date" if self.working_days == 0 else "overdue"


DEFAULT_REMINDERS: Final = (ReminderRule(-5), ReminderRule(0), ReminderRule(3), ReminderRule(10))


@dataclass(frozen=True, slots=True)
class ReminderDate:
    rule: ReminderRule
    on: date


@dataclass(frozen=True)
class WorkingCalendar:
    """Indonesia's working days for the years `cuti_bersama` knows."""

    cuti_bersama: Mapping[int, CutiBersamaYear]
    _public: dict[int, dict[date, str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def days_off(self, year: int) -> dict[date, str]:
        """Every public holiday and cuti bersama day of `year` (weekends aside), with its name."""
        known = self.cuti_bersama.get(year)
        if known is None:
            raise CalendarYearUnknown(year)
        if year not in self._public:
            public = holidays.country_holidays("ID", years=year, categories=(holidays.PUBLIC,))
            self._public[year] = {day: str(name) for day, name in public.items()}
        found = dict(self._public[year])
        for day, what in known.days.items():
            found[day] = f"{found[day]}; cuti bersama {what}" if day in found else f"cuti bersama {what}"
        return found

    def day_off_reason(self, day: date) -> str | None:
        """Why `day` is not a working day (None: it is one)."""
        reasons = []
        if day.weekday() in (SATURDAY, SUNDAY):
            reasons.append(day.strftime("%A"))
        if (holiday := self.days_off(day.year).get(day)) is not None:
            reasons.append(holiday)
        return "; ".join(reasons) or None

    def is_working_day(self, day: date) -> bool:
        return self.day_off_reason(day) is None

    def working_day_on_or_after(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (before it when negative); 0: `day` itself if
        it is a working day, else the next one."""
        if count == 0:
            return self.working_day_on_or_after(day)
        step = timedelta(days=1 if count > 0 else -1)
        for _ in range(abs(count)):
            day += step
            while not self.is_working_day(day):
                day += step
        return day

    def working_days_in(self, month: Month) -> Iterator[date]:
        day = month.first_day
        while day <= month.last_day:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)

    def contribution_due_date(self, month: Month) -> date:
        """The 15th, or the next working day when the 15th is not one."""
        return self.working_day_on_or_after(month.day(DUE_DAY))

    def invoice_issue_date(self, month: Month) -> date:
        """The month's first day (see the module's rules: not moved to a working day)."""
        return month.first_day

    def reminder_dates(
        self, month: Month, rules: Sequence[ReminderRule] = DEFAULT_REMINDERS
    ) -> tuple[ReminderDate, ...]:
        """The month's reminders in date order; those on or before the issue date are dropped."""
        due, issued = self.contribution_due_date(month), self.invoice_issue_date(month)
        dated = (ReminderDate(rule, self.add_working_days(due, rule.working_days)) for rule in rules)
        return tuple(sorted((r for r in dated if r.on > issued), key=lambda r: (r.on, r.rule.working_days)))


@cache
def programme_calendar() -> WorkingCalendar:
    """The calendar of the repository's cuti bersama data (read once)."""
    document = json.loads(CUTI_BERSAMA_FILE.read_text(encoding="utf-8"))
    return WorkingCalendar(parse_cuti_bersama(document))


# --- dates and instants ---------------------------------------------------------------------------


def day_starts_at(day: date) -> datetime:
    """The instant (UTC) a Jakarta day begins: 00:00 WIB = 17:00 UTC the day before."""
    return datetime.combine(day, time(0), JAKARTA).astimezone(UTC)


def day_ends_at(day: date) -> datetime:
    """The first instant (UTC) after a Jakarta day: what is due on `day` is on time before it."""
    return day_starts_at(day + timedelta(days=1))


def jakarta_date(instant: datetime) -> date:
    """The day in Jakarta of an instant (timezone-aware)."""
    if instant.tzinfo is None:
        raise ValueError("an instant must be timezone-aware")
    return instant.astimezone(JAKARTA).date()


def is_on_time(instant: datetime, due: date) -> bool:
    """Whether something done at `instant` was done by the end of `due` in Jakarta."""
    return jakarta_date(instant) <= due
