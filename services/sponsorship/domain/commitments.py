"""A company's commitment: validating what it submits, and the budget it commits.

No I/O here. Money is integer Rupiah throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeGuard
from urllib.parse import urlsplit

from services.sponsorship.domain.tariffs import PACKAGES, TariffTable
from shared.events.sponsorship import Package
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
