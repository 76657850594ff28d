"""Sponsorship's tariffs: dated BPU tariffs and discounts, what a worker's coverage costs, and
the occupation sectors the PP 50/2025 discount is given by.

No I/O here. Money is integer Rupiah throughout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from shared.events.sponsorship import Package

Sector = Literal["transport", "other"]
PACKAGES: frozenset[str] = frozenset(get_args(Package))


@dataclass(frozen=True)
class Tariff:
    valid_from: date
    valid_to: date | None
    jkk_rate_permille: int  # 10 = 1%
    jkm_flat_idr: int
    jht_rate_permille: int  # 20 = 2%
    income_floor_idr: int


@dataclass(frozen=True)
class Discount:
    """A discount on JKK+JKM (never JHT) for one sector over a window of contribution months."""

    valid_from: date
    valid_to: date
    sector: Sector
    percent: int
    name: str


DEFAULT_TARIFFS: tuple[Tariff, ...] = (
    Tariff(
        valid_from=date(2015, 7, 1),
        valid_to=None,
        jkk_rate_permille=10,
        jkm_flat_idr=6_800,
        jht_rate_permille=20,
        income_floor_idr=1_000_000,
    ),
)

DEFAULT_DISCOUNTS: tuple[Discount, ...] = (
    Discount(date(2026, 1, 1), date(2027, 3, 31), "transport", 50, "PP 50/2025"),
    Discount(date(2026, 4, 1), date(2026, 12, 31), "other", 50, "PP 50/2025"),
)


def _div_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounded half-up, for non-negative numerator and positive denominator."""
    return (2 * numerator + denominator) // (2 * denominator)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + (month.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def _in_window(month: date, valid_from: date, valid_to: date | None) -> bool:
    """A dated row applies to a calendar month when the month's first day lies in its window."""
    return valid_from <= month and (valid_to is None or month <= valid_to)


def _windows_overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (b_to is None or a_from <= b_to) and (a_to is None or b_from <= a_to)


class TariffTable:
    """Dated BPU tariffs and discounts.

    Rows apply per calendar month (by the month's first day). Overlapping tariffs, or overlapping
    discounts for the same sector, are rejected at construction: the table must be unambiguous.
    Whether a discount applies to a member (e.g. CSR-paid) is the caller's decision (`apply_discount`).
    """

    def __init__(
        self,
        tariffs: Sequence[Tariff] = DEFAULT_TARIFFS,
        discounts: Sequence[Discount] = DEFAULT_DISCOUNTS,
    ) -> None:
        for t in tariffs:
            if t.valid_to is not None and t.valid_to < t.valid_from:
                raise ValueError(f"tariff from {t.valid_from} ends before it starts")
            if min(t.jkk_rate_permille, t.jkm_flat_idr, t.jht_rate_permille, t.income_floor_idr) < 0:
                raise ValueError(f"tariff from {t.valid_from} has a negative amount")
        for d in discounts:
            if d.valid_to < d.valid_from:
                raise ValueError(f"discount {d.name!r} ({d.sector}) ends before it starts")
            if not 0 <= d.percent <= 100:
                raise ValueError(f"discount {d.name!r} ({d.sector}) percent must be 0..100")
        for i, a in enumerate(tariffs):
            for b in tariffs[i + 1 :]:
                if _windows_overlap(a.valid_from, a.valid_to, b.valid_from, b.valid_to):
                    raise ValueError(f"tariffs from {a.valid_from} and {b.valid_from} overlap")
        for i, da in enumerate(discounts):
            for db in discounts[i + 1 :]:
                if da.sector == db.sector and _windows_overlap(
                    da.valid_from, da.valid_to, db.valid_from, db.valid_to
                ):
                    raise ValueError(f"discounts {da.name!r} and {db.name!r} overlap for {da.sector}")
        self.tariffs: tuple[Tariff, ...] = tuple(tariffs)
        self.discounts: tuple[Discount, ...] = tuple(discounts)

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

    def monthly_contribution(
        self,
        package: Package,
        declared_income_idr: int | None,
        month: date,
        sector: Sector,
        apply_discount: bool,
    ) -> int:
        """Contribution for one month. The discount amount itself is rounded half-up."""
        if package not in PACKAGES:
            raise ValueError(f"unknown package {package!r}")
        tariff = self.tariff_for(month)
        income = self.insured_income(declared_income_idr, month)
        jkk = _div_half_up(income * tariff.jkk_rate_permille, 1000)
        base = jkk + tariff.jkm_flat_idr
        if apply_discount:
            discount = self.discount_for(month, sector)
            if discount is not None:
                base -= _div_half_up(base * discount.percent, 100)
        if package == "JKK_JKM_JHT":
            base += _div_half_up(income * tariff.jht_rate_permille, 1000)
        return base

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
