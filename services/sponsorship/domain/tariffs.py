"""Sponsorship's tariffs: dated BPU tariffs (JKK by declared-income band, JKM flat, JHT a rate)
and discounts, what a worker's coverage costs, the table's document form (what the office loads
and reads back), and the occupation sectors the PP 50/2025 discount is given by.

No I/O here (services/sponsorship/repository.py stores and caches the table; its default is the
data file services/sponsorship/tariffs/bpu.json). Money is integer Rupiah throughout.

Rounding (integer Rupiah): JHT = rate x insured income, rounded half-up. A discount is applied to
JKK and to JKM each (the regulation discounts each programme's contribution), and what remains to
be paid is rounded UP to the Rupiah: BPJS bills the contribution, and a Rupiah short leaves the
month in arrears while a Rupiah over is credited, so we never reserve nor pay less than is due.
The shipped amounts (JKK in whole hundreds, JKM Rp6,800) halve exactly; the rule only decides for
amounts an office table might bring.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import Any, Literal, get_args

from shared.events.sponsorship import Package

Sector = Literal["transport", "other"]
SECTORS: frozenset[str] = frozenset(get_args(Sector))
PACKAGES: frozenset[str] = frozenset(get_args(Package))
DOCUMENT_FORMAT = "muba-bpu-tariffs/1"
MAX_BANDS = 200
MAX_ROWS = 100
MAX_TEXT = 2000
_UNBOUNDED = 1 << 62


@dataclass(frozen=True)
class IncomeBand:
    """One band of PP 44/2015 Lampiran II: a declared income from `income_from_idr` to
    `income_to_idr` (inclusive; None: no upper bound) pays the band's fixed JKK, 1% of its nominal
    income."""

    income_from_idr: int
    income_to_idr: int | None
    nominal_income_idr: int
    jkk_idr: int


@dataclass(frozen=True)
class Tariff:
    valid_from: date
    valid_to: date | None
    income_floor_idr: int  # the least income contributions are computed on
    jkk_bands: tuple[IncomeBand, ...]  # contiguous, ascending, the last without an upper bound
    jkm_idr: int  # flat a month
    jht_rate_permille: int  # 20 = 2% of the insured income
    note: str = ""

    @cached_property
    def _band_ends(self) -> list[int]:
        """Each band's upper bound, the last one's (none) as unbounded: bisected by `band_for`."""
        return [b.income_to_idr if b.income_to_idr is not None else _UNBOUNDED for b in self.jkk_bands]

    def band_for(self, insured_income_idr: int) -> IncomeBand:
        index = bisect.bisect_left(self._band_ends, insured_income_idr)
        if index == len(self.jkk_bands):
            raise ValueError(f"no JKK band covers Rp{insured_income_idr}")  # the table forbids it
        return self.jkk_bands[index]


@dataclass(frozen=True)
class Discount:
    """A discount on JKK and JKM (never JHT) for one sector over a window of contribution months."""

    valid_from: date
    valid_to: date
    sector: Sector
    percent: int
    name: str
    note: str = ""


@dataclass(frozen=True)
class Problem:
    """Why a tariff table is refused: the row (a path in the document) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class TariffTableError(ValueError):
    """The table is refused; `problems` names each row and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def _div_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounded half-up, for non-negative numerator and positive denominator."""
    return (2 * numerator + denominator) // (2 * denominator)


def _payable_after(amount_idr: int, percent: int) -> int:
    """What is left to pay of `amount_idr` after a `percent` discount, rounded up to the Rupiah."""
    return -((-amount_idr * (100 - percent)) // 100)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + (month.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def _is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def _in_window(month: date, valid_from: date, valid_to: date | None) -> bool:
    """A dated row applies to a calendar month when the month's first day lies in its window."""
    return valid_from <= month and (valid_to is None or month <= valid_to)


def _windows_overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (b_to is None or a_from <= b_to) and (a_to is None or b_from <= a_to)


def _window_text(valid_from: date, valid_to: date | None) -> str:
    return f"{valid_from.isoformat()}..{valid_to.isoformat() if valid_to else 'open'}"


def _band_problems(where: str, t: Tariff) -> list[Problem]:
    problems: list[Problem] = []
    if not t.jkk_bands:
        return [Problem(f"{where}.jkk_bands", "at least one band is needed")]
    first = t.jkk_bands[0]
    if first.income_from_idr > t.income_floor_idr:
        problems.append(
            Problem(
                f"{where}.jkk_bands[0]",
                f"the first band starts at Rp{first.income_from_idr}, above the income floor"
                f" Rp{t.income_floor_idr}: the floor must fall in a band",
            )
        )
    previous: IncomeBand | None = None
    for i, band in enumerate(t.jkk_bands):
        at = f"{where}.jkk_bands[{i}]"
        if min(band.income_from_idr, band.nominal_income_idr, band.jkk_idr) < 0 or (
            band.income_to_idr is not None and band.income_to_idr < 0
        ):
            problems.append(Problem(at, "negative amount"))
        if band.income_to_idr is not None and band.income_to_idr < band.income_from_idr:
            problems.append(
                Problem(at, f"ends (Rp{band.income_to_idr}) before it starts (Rp{band.income_from_idr})")
            )
        if previous is not None:
            if previous.income_to_idr is None:
                problems.append(
                    Problem(at, "follows a band without an upper bound: only the last may have none")
                )
            elif band.income_from_idr <= previous.income_from_idr:
                problems.append(
                    Problem(
                        at, f"not sorted: starts at Rp{band.income_from_idr}, not above the band before it"
                    )
                )
            elif band.income_from_idr != previous.income_to_idr + 1:
                gap_or_overlap = (
                    "a gap" if band.income_from_idr > previous.income_to_idr + 1 else "an overlap"
                )
                problems.append(
                    Problem(
                        at,
                        f"{gap_or_overlap}: starts at Rp{band.income_from_idr}, the band before it ends at"
                        f" Rp{previous.income_to_idr} (it must start at Rp{previous.income_to_idr + 1})",
                    )
                )
            elif band.jkk_idr < previous.jkk_idr:
                problems.append(
                    Problem(at, f"JKK Rp{band.jkk_idr} is less than the band below it (Rp{previous.jkk_idr})")
                )
        previous = band
    if t.jkk_bands[-1].income_to_idr is not None:
        problems.append(
            Problem(
                f"{where}.jkk_bands[{len(t.jkk_bands) - 1}]",
                "the last band must have no upper bound (income_to_idr null): every income needs a band",
            )
        )
    return problems


def table_problems(tariffs: Sequence[Tariff], discounts: Sequence[Discount]) -> list[Problem]:
    """Everything that makes the table ambiguous or unusable, each naming its row."""
    problems: list[Problem] = []
    if not tariffs:
        problems.append(Problem("tariffs", "at least one tariff is needed"))
    for i, t in enumerate(tariffs):
        where = f"tariffs[{i}]"
        if t.valid_from.day != 1:
            problems.append(Problem(f"{where}.valid_from", "a tariff starts on the first day of a month"))
        if t.valid_to is not None and not _is_month_end(t.valid_to):
            problems.append(Problem(f"{where}.valid_to", "a tariff ends on the last day of a month"))
        if t.valid_to is not None and t.valid_to < t.valid_from:
            problems.append(Problem(where, f"ends ({t.valid_to}) before it starts ({t.valid_from})"))
        if min(t.jkm_idr, t.jht_rate_permille, t.income_floor_idr) < 0:
            problems.append(Problem(where, "negative amount (income floor, JKM or JHT rate)"))
        problems += _band_problems(where, t)
    ordered = sorted(range(len(tariffs)), key=lambda k: tariffs[k].valid_from)
    for a, b in itertools.pairwise(ordered):
        ta, tb = tariffs[a], tariffs[b]
        if _windows_overlap(ta.valid_from, ta.valid_to, tb.valid_from, tb.valid_to):
            problems.append(
                Problem(
                    f"tariffs[{b}]",
                    f"overlaps tariffs[{a}] ({_window_text(ta.valid_from, ta.valid_to)})",
                )
            )
        elif ta.valid_to is not None and tb.valid_from != ta.valid_to + timedelta(days=1):
            problems.append(
                Problem(
                    f"tariffs[{b}]",
                    f"a gap: starts {tb.valid_from}, tariffs[{a}] ends {ta.valid_to}"
                    " (a month without a tariff cannot be priced)",
                )
            )
    if tariffs and tariffs[ordered[-1]].valid_to is not None:
        problems.append(
            Problem(
                f"tariffs[{ordered[-1]}].valid_to",
                "the latest tariff must have no end (null): commitments are priced months ahead",
            )
        )
    for i, d in enumerate(discounts):
        where = f"discounts[{i}]"
        if d.valid_from.day != 1:
            problems.append(Problem(f"{where}.valid_from", "a discount starts on the first day of a month"))
        if not _is_month_end(d.valid_to):
            problems.append(Problem(f"{where}.valid_to", "a discount ends on the last day of a month"))
        if d.valid_to < d.valid_from:
            problems.append(Problem(where, f"ends ({d.valid_to}) before it starts ({d.valid_from})"))
        if not 0 <= d.percent <= 100:
            problems.append(Problem(f"{where}.percent", f"{d.percent}: between 0 and 100"))
        if d.sector not in SECTORS:
            problems.append(Problem(f"{where}.sector", f"{d.sector!r}: one of {', '.join(sorted(SECTORS))}"))
        for j in range(i):
            other = discounts[j]
            if other.sector == d.sector and _windows_overlap(
                other.valid_from, other.valid_to, d.valid_from, d.valid_to
            ):
                problems.append(
                    Problem(
                        where,
                        f"overlaps discounts[{j}] ({other.name!r},"
                        f" {_window_text(other.valid_from, other.valid_to)}) for the sector {d.sector}",
                    )
                )
    return problems


@dataclass(frozen=True)
class TableInfo:
    """What the table says of itself (shown by `muba tariffs show`, kept with the table)."""

    name: str = ""
    source: str = ""
    uncertain: str | None = None  # what is not yet verified against the regulation, if anything


class TariffTable:
    """Dated BPU tariffs and discounts.

    Rows apply per calendar month (by the month's first day). A table that is ambiguous or cannot
    price some month (`table_problems`) is refused at construction with TariffTableError. Whether a
    discount applies to a member (e.g. company-paid) is the caller's decision (`apply_discount`).
    """

    def __init__(
        self, tariffs: Sequence[Tariff], discounts: Sequence[Discount], info: TableInfo | None = None
    ) -> None:
        problems = table_problems(tariffs, discounts)
        if problems:
            raise TariffTableError(problems)
        self.tariffs: tuple[Tariff, ...] = tuple(sorted(tariffs, key=lambda t: t.valid_from))
        self.discounts: tuple[Discount, ...] = tuple(discounts)
        self.info = info or TableInfo()

    def tariff_for(self, month: date) -> Tariff:
        first = _month_start(month)
        for t in self.tariffs:
            if _in_window(first, t.valid_from, t.valid_to):
                return t
        raise ValueError(f"no tariff covers the month {first:%Y-%m}")

    def discount_for(self, month: date, sector: Sector) -> Discount | None:
        first = _month_start(month)
        for d in self.discounts:
            if d.sector == sector and _in_window(first, d.valid_from, d.valid_to):
                return d
        return None

    def insured_income(self, declared_income_idr: int | None, month: date) -> int:
        """The income contributions are computed on, and BPJS is told: the declared income, never
        below the month's income floor (an unknown income is the floor)."""
        floor = self.tariff_for(month).income_floor_idr
        return max(declared_income_idr or floor, floor)

    def jkk(self, declared_income_idr: int | None, month: date) -> int:
        """The month's JKK: the fixed amount of the insured income's band (not 1% of the income)."""
        return self.tariff_for(month).band_for(self.insured_income(declared_income_idr, month)).jkk_idr

    def monthly_contribution(
        self,
        package: Package,
        declared_income_idr: int | None,
        month: date,
        sector: Sector,
        apply_discount: bool,
    ) -> int:
        """Contribution for one month (rounding: see the module's docstring)."""
        if package not in PACKAGES:
            raise ValueError(f"unknown package {package!r}")
        tariff = self.tariff_for(month)
        floor = tariff.income_floor_idr
        income = max(declared_income_idr or floor, floor)  # as `insured_income`, on this tariff
        jkk, jkm = tariff.band_for(income).jkk_idr, tariff.jkm_idr
        discount = self.discount_for(month, sector) if apply_discount else None
        if discount is not None:
            jkk, jkm = _payable_after(jkk, discount.percent), _payable_after(jkm, discount.percent)
        total = jkk + jkm
        if package == "JKK_JKM_JHT":
            total += _div_half_up(income * tariff.jht_rate_permille, 1000)
        return total

    def coverage_cost(
        self,
        package: Package,
        declared_income_idr: int | None,
        start: date,
        months: int,
        sector: Sector,
        apply_discount: bool,
    ) -> int:
        """Sum of the monthly contributions for `months` calendar months from start's month."""
        if months < 1:
            raise ValueError(f"months must be at least 1, got {months}")
        first = _month_start(start)
        return sum(
            self.monthly_contribution(
                package, declared_income_idr, _add_months(first, i), sector, apply_discount
            )
            for i in range(months)
        )


@dataclass(frozen=True)
class Coverage:
    """What one worker's coverage under one commitment's package and months costs."""

    declared_income_idr: int  # what BPJS is told: the declared income, never below the floor
    monthly_contribution_idr: int  # the first month's contribution
    total_contribution_idr: int  # every month's, what the commitment's budget pays


@dataclass(frozen=True)
class Pricing:
    """The tariff table, the day coverage starts, and whether the PP 50/2025 discount applies to
    company-paid members: everything a worker's coverage cost depends on besides the worker and
    the commitment. One per message, so every cost in it is priced on the same day."""

    tariffs: TariffTable
    start: date
    apply_discount: bool

    def coverage(
        self, package: Package, months: int, declared_income_idr: int | None, occupation: str
    ) -> Coverage:
        sector = occupation_sector(occupation)
        return Coverage(
            declared_income_idr=self.tariffs.insured_income(declared_income_idr, self.start),
            monthly_contribution_idr=self.tariffs.monthly_contribution(
                package, declared_income_idr, self.start, sector, self.apply_discount
            ),
            total_contribution_idr=self.tariffs.coverage_cost(
                package, declared_income_idr, self.start, months, sector, self.apply_discount
            ),
        )


# --- the document: what the office loads and reads back -------------------------------------------

_TOP_KEYS = frozenset({"format", "name", "source", "uncertain", "tariffs", "discounts"})
_TARIFF_KEYS = frozenset(
    {"valid_from", "valid_to", "income_floor_idr", "jkm_idr", "jht_rate_permille", "jkk_bands", "note"}
)
_BAND_KEYS = frozenset({"income_from_idr", "income_to_idr", "nominal_income_idr", "jkk_idr"})
_DISCOUNT_KEYS = frozenset({"name", "sector", "valid_from", "valid_to", "percent", "note"})


class _Reader:
    """Reads fields of the document, collecting a Problem (naming the path) for each bad one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def keys(self, raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
        for key in sorted(set(raw) - allowed):
            self.fail(
                f"{where}.{key[:64]}" if where else key[:64],
                f"unknown field (known: {', '.join(sorted(allowed))})",
            )

    def obj(self, value: object, where: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.fail(where, "an object expected")
            return None
        return value

    def rows(self, raw: Mapping[str, Any], key: str, limit: int, *, required: bool = True) -> list[Any]:
        value = raw.get(key)
        if value is None:
            if required:
                self.fail(key, "required (a list)")
            return []
        if not isinstance(value, list):
            self.fail(key, "a list expected")
            return []
        if len(value) > limit:
            self.fail(key, f"{len(value)} rows, at most {limit}")
            return []
        return value

    def integer(self, raw: Mapping[str, Any], key: str, where: str, *, nullable: bool = False) -> int | None:
        value = raw.get(key)
        if value is None:
            if not nullable:
                self.fail(f"{where}.{key}", "required (a whole number of Rupiah)")
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{where}.{key}", f"{str(value)[:40]!r}: a whole number expected")
            return None
        if value < 0:
            self.fail(f"{where}.{key}", f"{value}: negative amount")
            return None
        if value > 10**12:
            self.fail(f"{where}.{key}", f"{value}: implausibly large")
            return None
        return value

    def day(self, raw: Mapping[str, Any], key: str, where: str, *, nullable: bool = False) -> date | None:
        value = raw.get(key)
        if value is None:
            if not nullable:
                self.fail(f"{where}.{key}", "required (a date, YYYY-MM-DD)")
            return None
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(f"{where}.{key}", f"{str(value)[:40]!r}: a date YYYY-MM-DD expected")
        return None

    def text(self, raw: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
        value = raw.get(key)
        at = f"{where}.{key}" if where else key
        if value is None:
            if required:
                self.fail(at, "required (text)")
            return None
        if not isinstance(value, str):
            self.fail(at, "text expected")
            return None
        if len(value) > MAX_TEXT or any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
            self.fail(at, f"text of at most {MAX_TEXT} characters without control characters")
            return None
        return value


def _band(r: _Reader, raw: Mapping[str, Any], where: str) -> IncomeBand | None:
    r.keys(raw, _BAND_KEYS, where)
    start = r.integer(raw, "income_from_idr", where)
    end = r.integer(raw, "income_to_idr", where, nullable=True)
    nominal = r.integer(raw, "nominal_income_idr", where)
    jkk = r.integer(raw, "jkk_idr", where)
    if (
        start is None
        or nominal is None
        or jkk is None
        or (end is None and raw.get("income_to_idr") is not None)
    ):
        return None
    return IncomeBand(start, end, nominal, jkk)


def _tariff(r: _Reader, raw: Mapping[str, Any], where: str) -> Tariff | None:
    r.keys(raw, _TARIFF_KEYS, where)
    valid_from = r.day(raw, "valid_from", where)
    valid_to = r.day(raw, "valid_to", where, nullable=True)
    floor = r.integer(raw, "income_floor_idr", where)
    jkm = r.integer(raw, "jkm_idr", where)
    jht = r.integer(raw, "jht_rate_permille", where)
    note = r.text(raw, "note", where) or ""
    bands: list[IncomeBand] = []
    raw_bands = raw.get("jkk_bands")
    if not isinstance(raw_bands, list):
        r.fail(f"{where}.jkk_bands", "required (a list of income bands)")
    elif len(raw_bands) > MAX_BANDS:
        r.fail(f"{where}.jkk_bands", f"{len(raw_bands)} bands, at most {MAX_BANDS}")
    else:
        for j, item in enumerate(raw_bands):
            at = f"{where}.jkk_bands[{j}]"
            band_raw = r.obj(item, at)
            band = _band(r, band_raw, at) if band_raw is not None else None
            if band is not None:
                bands.append(band)
    if valid_from is None or floor is None or jkm is None or jht is None:
        return None
    if valid_to is None and raw.get("valid_to") is not None:
        return None
    return Tariff(valid_from, valid_to, floor, tuple(bands), jkm, jht, note)


def _discount(r: _Reader, raw: Mapping[str, Any], where: str) -> Discount | None:
    r.keys(raw, _DISCOUNT_KEYS, where)
    name = r.text(raw, "name", where, required=True)
    sector = raw.get("sector")
    if sector not in SECTORS:
        r.fail(f"{where}.sector", f"{str(sector)[:40]!r}: one of {', '.join(sorted(SECTORS))}")
    valid_from = r.day(raw, "valid_from", where)
    valid_to = r.day(raw, "valid_to", where)
    percent = r.integer(raw, "percent", where)
    note = r.text(raw, "note", where) or ""
    if name is None or sector not in SECTORS or valid_from is None or valid_to is None or percent is None:
        return None
    chosen: Sector = "transport" if sector == "transport" else "other"
    return Discount(valid_from, valid_to, chosen, percent, name, note)


def table_from_document(document: object) -> TariffTable:
    """The table a document describes, or TariffTableError naming every row at fault and why."""
    r = _Reader()
    raw = r.obj(document, "(document)")
    if raw is None:
        raise TariffTableError(r.problems)
    r.keys(raw, _TOP_KEYS, "")
    if raw.get("format") != DOCUMENT_FORMAT:
        r.fail("format", f"{str(raw.get('format'))[:40]!r}: {DOCUMENT_FORMAT!r} expected")
    info = TableInfo(
        name=r.text(raw, "name", "") or "",
        source=r.text(raw, "source", "") or "",
        uncertain=r.text(raw, "uncertain", ""),
    )
    tariffs: list[Tariff] = []
    for i, item in enumerate(r.rows(raw, "tariffs", MAX_ROWS)):
        row = r.obj(item, f"tariffs[{i}]")
        tariff = _tariff(r, row, f"tariffs[{i}]") if row is not None else None
        if tariff is not None:
            tariffs.append(tariff)
    discounts: list[Discount] = []
    for i, item in enumerate(r.rows(raw, "discounts", MAX_ROWS, required=False)):
        row = r.obj(item, f"discounts[{i}]")
        discount = _discount(r, row, f"discounts[{i}]") if row is not None else None
        if discount is not None:
            discounts.append(discount)
    if r.problems:
        raise TariffTableError(r.problems)
    return TariffTable(tariffs, discounts, info)


def table_document(table: TariffTable) -> dict[str, Any]:
    """The table as a document (`table_from_document` reads it back to an equal table)."""
    return {
        "format": DOCUMENT_FORMAT,
        "name": table.info.name,
        "source": table.info.source,
        "uncertain": table.info.uncertain,
        "tariffs": [
            {
                "valid_from": t.valid_from.isoformat(),
                "valid_to": t.valid_to.isoformat() if t.valid_to else None,
                "income_floor_idr": t.income_floor_idr,
                "jkm_idr": t.jkm_idr,
                "jht_rate_permille": t.jht_rate_permille,
                "note": t.note,
                "jkk_bands": [
                    {
                        "income_from_idr": b.income_from_idr,
                        "income_to_idr": b.income_to_idr,
                        "nominal_income_idr": b.nominal_income_idr,
                        "jkk_idr": b.jkk_idr,
                    }
                    for b in t.jkk_bands
                ],
            }
            for t in table.tariffs
        ],
        "discounts": [
            {
                "name": d.name,
                "sector": d.sector,
                "valid_from": d.valid_from.isoformat(),
                "valid_to": d.valid_to.isoformat(),
                "percent": d.percent,
                "note": d.note,
            }
            for d in table.discounts
        ],
    }


# --- sectors (for the PP 50/2025 discount) -------------------------------------------------------

TRANSPORT_WORDS: frozenset[str] = frozenset(
    {
        "ojek",
        "ojol",
        "gojek",
        "driver",
        "sopir",
        "supir",
        "pengemudi",
        "kurir",
        "courier",
        "becak",  # also matches "tukang becak"
        "bentor",
        "angkutan",
        "angkot",
        "taksi",
        "taxi",
        "transportasi",
        "motoris",  # river-boat operators
    }
)

_WORD = re.compile(r"[0-9a-z]+")


def occupation_words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def occupation_sector(occupation: str) -> Sector:
    if any(word in TRANSPORT_WORDS for word in occupation_words(occupation)):
        return "transport"
    return "other"
