"""Pure rules of the sponsorship service: tariffs, commitments and matching workers to sponsors.

No I/O here. Money is integer Rupiah throughout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Literal, TypeAlias, TypeGuard, get_args
from urllib.parse import urlsplit

from shared.kecamatan import WHOLE_REGENCY, resolve_kecamatan
from shared.validation import (
    CONTACT_MISSING,
    EMAIL_INVALID,
    INVALID_CHARACTERS,
    INVALID_TYPE,
    KECAMATAN_EMPTY,
    KECAMATAN_MIXED,
    KECAMATAN_UNKNOWN,
    MAX_COMMITMENT_TEXT,
    MAX_MONTHS,
    MAX_SLOTS,
    MAX_WEBHOOK_URL_LENGTH,
    MISSING_FIELD,
    MONTHS_INVALID,
    PACKAGE_UNKNOWN,
    SLOTS_INVALID,
    VALUE_EMPTY,
    VALUE_TOO_LONG,
    WEBHOOK_INVALID,
    Reason,
    collapse_spaces,
    has_control_characters,
    is_email,
)

Sector = Literal["transport", "other"]
Package = Literal["JKK_JKM", "JKK_JKM_JHT"]
PACKAGES: frozenset[str] = frozenset(get_args(Package))

# ---------------------------------------------------------------------------
# Tariffs
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Sector (for the PP 50/2025 discount)
# ---------------------------------------------------------------------------

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


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def occupation_sector(occupation: str) -> Sector:
    if any(word in TRANSPORT_WORDS for word in _words(occupation)):
        return "transport"
    return "other"


# ---------------------------------------------------------------------------
# Commitments
# ---------------------------------------------------------------------------

# The limits are the contract's (shared/validation.py, declared on CommitmentSubmitted too).
MAX_TEXT_LEN = MAX_COMMITMENT_TEXT


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    company_id: str
    company_name: str
    kecamatan_codes: frozenset[str]  # empty = whole regency
    whole_regency: bool
    slots: int
    months: int
    package: Package
    preferred_occupations: tuple[str, ...]  # normalised: lower-case, trimmed, single spaces
    email: str | None
    webhook_url: str | None


def normalise_occupation(text: str) -> str:
    return collapse_spaces(text.lower())


def _is_package(value: str) -> TypeGuard[Package]:
    return value in PACKAGES


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_valid_webhook(value: str) -> bool:
    if len(value) > MAX_WEBHOOK_URL_LENGTH or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host)


def validate_commitment(raw: Mapping[str, object]) -> Commitment | list[Reason]:
    """Validate a company's commitment, collecting every reason it is refused.

    A field set to null counts as missing. Non-integer slots/months (including booleans) are
    INVALID_TYPE; integers out of range are SLOTS_INVALID / MONTHS_INVALID. Contact is the two
    top-level fields `email` and `webhook_url`; a blank or null one counts as absent.
    """
    reasons: list[Reason] = []

    def missing(name: str) -> None:
        reasons.append(Reason(name, MISSING_FIELD, f"Kolom {name} wajib diisi."))

    def wrong_type(name: str, expected: str) -> None:
        reasons.append(Reason(name, INVALID_TYPE, f"Kolom {name} harus berupa {expected}."))

    def printable(name: str, value: str) -> bool:
        """Text we can store and repeat (trimmed): no control characters (PostgreSQL's text holds
        no NUL)."""
        if has_control_characters(value):
            reasons.append(
                Reason(name, INVALID_CHARACTERS, f"Kolom {name} tidak boleh berisi karakter kontrol.")
            )
            return False
        return True

    def text(name: str) -> str | None:
        value = raw.get(name)
        if value is None:
            missing(name)
            return None
        if not isinstance(value, str):
            wrong_type(name, "teks")
            return None
        value = value.strip()
        if not printable(name, value):
            return None
        if not value:
            reasons.append(Reason(name, VALUE_EMPTY, f"Kolom {name} tidak boleh kosong."))
            return None
        if len(value) > MAX_TEXT_LEN:
            reasons.append(
                Reason(name, VALUE_TOO_LONG, f"Kolom {name} paling banyak {MAX_TEXT_LEN} karakter.")
            )
            return None
        return value

    def bounded_int(name: str, low: int, high: int, code: str) -> int | None:
        value = raw.get(name)
        if value is None:
            missing(name)
            return None
        if not _is_int(value):
            wrong_type(name, "bilangan bulat")
            return None
        if not low <= value <= high:
            high_text = f"{high:,}".replace(",", ".")  # Indonesian thousands separator
            reasons.append(Reason(name, code, f"Kolom {name} harus antara {low} dan {high_text}."))
            return None
        return value

    def optional_contact(name: str) -> tuple[bool, str | None]:
        """(given, valid-looking text) — a wrong type counts as given, so it is not also CONTACT_MISSING."""
        value = raw.get(name)
        if value is None:
            return False, None
        if not isinstance(value, str):
            wrong_type(name, "teks")
            return True, None
        value = value.strip()
        if not printable(name, value):
            return True, None
        return bool(value), value or None

    commitment_id = text("commitment_id")
    company_id = text("company_id")
    company_name = text("company_name")

    kecamatan_codes: frozenset[str] | None = None
    whole_regency = False
    kecamatan_raw = raw.get("kecamatan")
    if kecamatan_raw is None:
        missing("kecamatan")
    elif not isinstance(kecamatan_raw, list | tuple):
        wrong_type("kecamatan", "daftar nama atau kode kecamatan")
    elif not kecamatan_raw:
        reasons.append(Reason("kecamatan", KECAMATAN_EMPTY, 'Pilih minimal satu kecamatan, atau "*".'))
    else:
        codes: set[str] = set()
        entries_ok = True
        has_star = False
        for i, entry in enumerate(kecamatan_raw):
            if not isinstance(entry, str):
                wrong_type(f"kecamatan[{i}]", "teks")
                entries_ok = False
                continue
            entry = entry.strip()
            if not printable(f"kecamatan[{i}]", entry):
                entries_ok = False
                continue
            if entry == WHOLE_REGENCY:
                has_star = True
                continue
            code = resolve_kecamatan(entry)
            if code is None:
                reasons.append(
                    Reason(
                        f"kecamatan[{i}]",
                        KECAMATAN_UNKNOWN,
                        f'Kecamatan "{entry[:100]}" tidak dikenal di Kabupaten Musi Banyuasin.',
                    )
                )
                entries_ok = False
            else:
                codes.add(code)
        if has_star and len(kecamatan_raw) > 1:
            reasons.append(
                Reason(
                    "kecamatan",
                    KECAMATAN_MIXED,
                    '"*" (seluruh kabupaten) tidak boleh digabung dengan kecamatan lain.',
                )
            )
        elif entries_ok:
            whole_regency = has_star
            kecamatan_codes = frozenset(codes)

    slots = bounded_int("slots", 1, MAX_SLOTS, SLOTS_INVALID)
    months = bounded_int("months", 1, MAX_MONTHS, MONTHS_INVALID)

    package: Package | None = None
    package_raw = raw.get("package")
    if package_raw is None:
        missing("package")
    elif not isinstance(package_raw, str):
        wrong_type("package", "teks")
    else:
        candidate = package_raw.strip().upper()
        if _is_package(candidate):
            package = candidate
        else:
            reasons.append(
                Reason(
                    "package",
                    PACKAGE_UNKNOWN,
                    f'Paket "{package_raw[:100]}" tidak dikenal; pilih JKK_JKM atau JKK_JKM_JHT.',
                )
            )

    preferred: tuple[str, ...] = ()
    preferred_raw = raw.get("preferred_occupations")
    if preferred_raw is not None:
        if not isinstance(preferred_raw, list | tuple):
            wrong_type("preferred_occupations", "daftar pekerjaan")
        else:
            seen: dict[str, None] = {}
            for i, entry in enumerate(preferred_raw):
                if not isinstance(entry, str):
                    wrong_type(f"preferred_occupations[{i}]", "teks")
                    continue
                if not printable(f"preferred_occupations[{i}]", normalise_occupation(entry)):
                    continue
                normalised = normalise_occupation(entry)
                if normalised:
                    seen.setdefault(normalised, None)
            preferred = tuple(seen)

    email_given, email = optional_contact("email")
    webhook_given, webhook_url = optional_contact("webhook_url")
    if email is not None and not is_email(email):
        reasons.append(Reason("email", EMAIL_INVALID, f'Alamat e-mail "{email[:100]}" tidak valid.'))
    if webhook_url is not None and not _is_valid_webhook(webhook_url):
        reasons.append(
            Reason(
                "webhook_url", WEBHOOK_INVALID, "Webhook harus berupa URL http:// atau https:// yang valid."
            )
        )
    if not email_given and not webhook_given:
        reasons.append(
            Reason("contact", CONTACT_MISSING, "Isi minimal satu kontak: e-mail atau URL webhook.")
        )

    if reasons:
        return reasons
    assert commitment_id is not None and company_id is not None and company_name is not None
    assert kecamatan_codes is not None and slots is not None and months is not None
    assert package is not None
    return Commitment(
        commitment_id=commitment_id,
        company_id=company_id,
        company_name=company_name,
        kecamatan_codes=kecamatan_codes,
        whole_regency=whole_regency,
        slots=slots,
        months=months,
        package=package,
        preferred_occupations=preferred,
        email=email,
        webhook_url=webhook_url,
    )


def budget_idr(
    tariffs: TariffTable, package: Package, slots: int, months: int, start: date, apply_discount: bool
) -> int:
    """What a company commits: every slot at the income floor, sector "other", for `months` months
    from start's month."""
    return slots * tariffs.coverage_cost(package, None, start, months, "other", apply_discount)


def commitment_budget(c: Commitment, tariffs: TariffTable, start: date, apply_discount: bool) -> int:
    return budget_idr(tariffs, c.package, c.slots, c.months, start, apply_discount)


# ---------------------------------------------------------------------------
# Matching workers to commitments
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCommitment:
    commitment_id: str
    kecamatan_codes: frozenset[str]
    whole_regency: bool
    slots: int
    slots_used: int
    budget_idr: int
    budget_used_idr: int
    preferred_occupations: tuple[str, ...]
    created_seq: int  # lower = older
    package: Package
    months: int


@dataclass(frozen=True)
class WorkerToMatch:
    """A worker looking for a sponsor: what matching and the worker's coverage cost depend on."""

    worker_id: str
    kecamatan_code: str
    occupation: str
    declared_income_idr: int | None = None


@dataclass(frozen=True)
class Offer:
    """A commitment that could sponsor a worker, and what the worker's coverage would cost it."""

    commitment: OpenCommitment
    coverage: Coverage

    @property
    def cost_idr(self) -> int:
        return self.coverage.total_contribution_idr


def offers_for(worker: WorkerToMatch, commitments: Iterable[OpenCommitment], pricing: Pricing) -> list[Offer]:
    """The commitments covering the worker's kecamatan, each with the worker's coverage priced
    under its package and months."""
    return [
        Offer(c, pricing.coverage(c.package, c.months, worker.declared_income_idr, worker.occupation))
        for c in commitments
        if covers(c, worker.kecamatan_code)
    ]


WaitlistPosition: TypeAlias = tuple[int, datetime, int]


def waitlist_position(registration_seq: int | None, registered_at: datetime, seq: int) -> WaitlistPosition:
    """Where a waiting worker stands in the waitlist: lower is served first. Total and deterministic.

    1. The registry's `registration_seq` (its database's order of registration, whichever
       instance registered the worker). A worker announced without one (by a registry from before
       the number existed, e.g. an old event replayed) counts as 0: registered before every
       numbered worker.
    2. `registered_at`, a host's clock: it only decides among workers without a number.
    3. `seq`, the order the worker's announcement arrived here (unique), so no two workers tie.

    This is the waitlist's only order: the store hands out the waitlist in pages sorted by it
    (`SponsorshipStore.waitlisted_covered_by`, the index `worker_waitlist`), and nothing re-sorts
    a page.
    """
    return (registration_seq or 0, registered_at, seq)


def covers(c: OpenCommitment, kecamatan_code: str) -> bool:
    return c.whole_regency or kecamatan_code in c.kecamatan_codes


def prefers_occupation(c: OpenCommitment, occupation: str) -> bool:
    """True when a preferred entry equals the occupation or is a whole-word phrase inside it.

    So "karet" prefers "penyadap karet", but "penyadap karet" does not prefer a plain "karet"
    (a narrow preference is not widened to general occupations), and "tani" does not match "petani".
    """
    words = _words(occupation)
    for preferred in c.preferred_occupations:
        wanted = _words(preferred)
        if not wanted:
            continue
        n = len(wanted)
        if any(words[i : i + n] == wanted for i in range(len(words) - n + 1)):
            return True
    return False


def has_room(c: OpenCommitment, cost_idr: int) -> bool:
    return c.slots_used < c.slots and c.budget_idr - c.budget_used_idr >= cost_idr


def choose_commitment(worker: WorkerToMatch, offers: Sequence[Offer]) -> Offer | None:
    """Pick the offer that sponsors `worker`, or None when none fits.

    Eligible: covers the worker's kecamatan, has a free slot and enough budget left for the
    offer's cost (`offers_for`). Among those, in order: preferred occupation first; naming the
    kecamatan before whole-regency; lowest share of slots used (exact fractions); oldest
    (created_seq); finally commitment_id, so the choice is deterministic.
    """
    eligible = [
        o
        for o in offers
        if covers(o.commitment, worker.kecamatan_code) and has_room(o.commitment, o.cost_idr)
    ]
    if not eligible:
        return None

    def rank(offer: Offer) -> tuple[bool, bool, Fraction, int, str]:
        c = offer.commitment
        return (
            not prefers_occupation(c, worker.occupation),
            worker.kecamatan_code not in c.kecamatan_codes,
            Fraction(c.slots_used, c.slots),
            c.created_seq,
            c.commitment_id,
        )

    return min(eligible, key=rank)
