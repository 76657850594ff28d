"""A company's commitment: validating what it submits, and the budget it commits.

No I/O here. Money is integer Rupiah throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeGuard, TypeVar
from urllib.parse import urlsplit

from services.sponsorship.domain.tariffs import PACKAGES, Pricing
from shared.events.sponsorship import CommitmentExtensionRejected, Package
from shared.kecamatan import WHOLE_REGENCY, resolve_kecamatan
from shared.validation import (
    COMMITMENT_UNKNOWN,
    CONTACT_MISSING,
    EMAIL_INVALID,
    INVALID_CHARACTERS,
    INVALID_TYPE,
    KECAMATAN_EMPTY,
    KECAMATAN_MIXED,
    KECAMATAN_UNKNOWN,
    MAX_COMMITMENT_TEXT,
    MAX_MONTHS,
    MAX_PAYMENT_REFERENCE,
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
    rejection_reasons,
)

# The limits are the contract's (shared/validation.py, declared on CommitmentSubmitted too).

T = TypeVar("T")


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


# Each check below reads one field (or one group) and answers its value, or None, with the
# reasons it is refused; `validate_commitment` keeps them in field order.
_Checked = tuple[T | None, list[Reason]]


def _missing(name: str) -> Reason:
    return Reason(name, MISSING_FIELD, f"Kolom {name} wajib diisi.")


def _wrong_type(name: str, expected: str) -> Reason:
    return Reason(name, INVALID_TYPE, f"Kolom {name} harus berupa {expected}.")


def _unprintable(name: str, value: str) -> list[Reason]:
    """Text we can store and repeat (trimmed): no control characters (PostgreSQL's text holds
    no NUL)."""
    if has_control_characters(value):
        return [Reason(name, INVALID_CHARACTERS, f"Kolom {name} tidak boleh berisi karakter kontrol.")]
    return []


def _text(raw: Mapping[str, object], name: str, limit: int = MAX_COMMITMENT_TEXT) -> _Checked[str]:
    """A required text, trimmed, 1 to `limit` characters."""
    value = raw.get(name)
    if value is None:
        return None, [_missing(name)]
    if not isinstance(value, str):
        return None, [_wrong_type(name, "teks")]
    value = value.strip()
    if unprintable := _unprintable(name, value):
        return None, unprintable
    if not value:
        return None, [Reason(name, VALUE_EMPTY, f"Kolom {name} tidak boleh kosong.")]
    if len(value) > limit:
        return None, [Reason(name, VALUE_TOO_LONG, f"Kolom {name} paling banyak {limit} karakter.")]
    return value, []


def _bounded_int(raw: Mapping[str, object], name: str, low: int, high: int, code: str) -> _Checked[int]:
    value = raw.get(name)
    if value is None:
        return None, [_missing(name)]
    if not _is_int(value):
        return None, [_wrong_type(name, "bilangan bulat")]
    if not low <= value <= high:
        high_text = f"{high:,}".replace(",", ".")  # Indonesian thousands separator
        return None, [Reason(name, code, f"Kolom {name} harus antara {low} dan {high_text}.")]
    return value, []


def _kecamatan_entry(index: int, entry: object) -> _Checked[str]:
    """One entry of the list: WHOLE_REGENCY, a kecamatan code, or None with its reason."""
    name = f"kecamatan[{index}]"
    if not isinstance(entry, str):
        return None, [_wrong_type(name, "teks")]
    entry = entry.strip()
    if unprintable := _unprintable(name, entry):
        return None, unprintable
    if entry == WHOLE_REGENCY:
        return WHOLE_REGENCY, []
    code = resolve_kecamatan(entry)
    if code is None:
        return None, [
            Reason(
                name,
                KECAMATAN_UNKNOWN,
                f'Kecamatan "{entry[:100]}" tidak dikenal di Kabupaten Musi Banyuasin.',
            )
        ]
    return code, []


def _kecamatan(raw: Mapping[str, object]) -> _Checked[tuple[bool, frozenset[str]]]:
    """(whole regency, kecamatan codes): a non-empty list of names or codes, or just "*"."""
    entries = raw.get("kecamatan")
    if entries is None:
        return None, [_missing("kecamatan")]
    if not isinstance(entries, list | tuple):
        return None, [_wrong_type("kecamatan", "daftar nama atau kode kecamatan")]
    if not entries:
        return None, [Reason("kecamatan", KECAMATAN_EMPTY, 'Pilih minimal satu kecamatan, atau "*".')]
    reasons: list[Reason] = []
    codes: set[str] = set()
    has_star = False
    for i, entry in enumerate(entries):
        code, entry_reasons = _kecamatan_entry(i, entry)
        reasons += entry_reasons
        if code == WHOLE_REGENCY:
            has_star = True
        elif code is not None:
            codes.add(code)
    if has_star and len(entries) > 1:
        mixed = '"*" (seluruh kabupaten) tidak boleh digabung dengan kecamatan lain.'
        return None, [*reasons, Reason("kecamatan", KECAMATAN_MIXED, mixed)]
    if reasons:
        return None, reasons
    return (has_star, frozenset(codes)), []


def _package(raw: Mapping[str, object]) -> _Checked[Package]:
    value = raw.get("package")
    if value is None:
        return None, [_missing("package")]
    if not isinstance(value, str):
        return None, [_wrong_type("package", "teks")]
    candidate = value.strip().upper()
    if _is_package(candidate):
        return candidate, []
    return None, [
        Reason(
            "package",
            PACKAGE_UNKNOWN,
            f'Paket "{value[:100]}" tidak dikenal; pilih JKK_JKM atau JKK_JKM_JHT.',
        )
    ]


def _preferred_occupations(raw: Mapping[str, object]) -> tuple[tuple[str, ...], list[Reason]]:
    """Optional: normalised (normalise_occupation), blanks dropped, duplicates once, first order."""
    entries = raw.get("preferred_occupations")
    if entries is None:
        return (), []
    if not isinstance(entries, list | tuple):
        return (), [_wrong_type("preferred_occupations", "daftar pekerjaan")]
    reasons: list[Reason] = []
    seen: dict[str, None] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            reasons.append(_wrong_type(f"preferred_occupations[{i}]", "teks"))
            continue
        normalised = normalise_occupation(entry)
        if unprintable := _unprintable(f"preferred_occupations[{i}]", normalised):
            reasons += unprintable
            continue
        if normalised:
            seen.setdefault(normalised, None)
    return tuple(seen), reasons


def _optional_contact(raw: Mapping[str, object], name: str) -> tuple[bool, str | None, list[Reason]]:
    """(given, valid-looking text) — a wrong type counts as given, so it is not also CONTACT_MISSING."""
    value = raw.get(name)
    if value is None:
        return False, None, []
    if not isinstance(value, str):
        return True, None, [_wrong_type(name, "teks")]
    value = value.strip()
    if unprintable := _unprintable(name, value):
        return True, None, unprintable
    return bool(value), value or None, []


def _contact(raw: Mapping[str, object]) -> tuple[str | None, str | None, list[Reason]]:
    """(email, webhook_url): at least one given, each well formed; a blank one counts as absent."""
    email_given, email, reasons = _optional_contact(raw, "email")
    webhook_given, webhook_url, webhook_reasons = _optional_contact(raw, "webhook_url")
    reasons += webhook_reasons
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
    return email, webhook_url, reasons


class _Reasons(list[Reason]):
    """Every reason so far, in field order."""

    def keep(self, checked: _Checked[T]) -> T | None:
        value, reasons = checked
        self.extend(reasons)
        return value


def validate_commitment(raw: Mapping[str, object]) -> Commitment | list[Reason]:
    """Validate a company's commitment, collecting every reason it is refused.

    A field set to null counts as missing. Non-integer slots/months (including booleans) are
    INVALID_TYPE; integers out of range are SLOTS_INVALID / MONTHS_INVALID. Contact is the two
    top-level fields `email` and `webhook_url`; a blank or null one counts as absent.
    """
    reasons = _Reasons()
    commitment_id = reasons.keep(_text(raw, "commitment_id"))
    company_id = reasons.keep(_text(raw, "company_id"))
    company_name = reasons.keep(_text(raw, "company_name"))
    area = reasons.keep(_kecamatan(raw))
    slots = reasons.keep(_bounded_int(raw, "slots", 1, MAX_SLOTS, SLOTS_INVALID))
    months = reasons.keep(_bounded_int(raw, "months", 1, MAX_MONTHS, MONTHS_INVALID))
    package: Package | None = reasons.keep(_package(raw))
    preferred, preferred_reasons = _preferred_occupations(raw)
    reasons += preferred_reasons
    email, webhook_url, contact_reasons = _contact(raw)
    reasons += contact_reasons

    if reasons:
        return list(reasons)
    assert commitment_id is not None and company_id is not None and company_name is not None
    assert area is not None and slots is not None and months is not None
    assert package is not None
    whole_regency, kecamatan_codes = area
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


def budget_idr(pricing: Pricing, package: Package, slots: int, months: int) -> int:
    """What a company commits: every slot as a worker at the income floor in the sector "other"
    (never cheaper than transport under PP 50/2025), priced as reservations are (`Pricing.coverage`)."""
    return slots * pricing.coverage(package, months, None, "").total_contribution_idr


def commitment_budget(c: Commitment, pricing: Pricing) -> int:
    return budget_idr(pricing, c.package, c.slots, c.months)


# --- renewals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extension:
    """A company's renewal of a commitment: `months` more per worker, once per reference."""

    commitment_id: str
    company_id: str
    reference: str
    months: int


class _Renewed(Protocol):
    @property
    def company_id(self) -> str: ...

    @property
    def months(self) -> int: ...


def validate_extension(raw: Mapping[str, object]) -> Extension | list[Reason]:
    """A submitted renewal, or every reason it is refused (in field order)."""
    commitment_id, reasons = _text(raw, "commitment_id")
    company_id, found = _text(raw, "company_id")
    reasons += found
    reference, found = _text(raw, "reference", MAX_PAYMENT_REFERENCE)
    reasons += found
    months, found = _bounded_int(raw, "months", 1, MAX_MONTHS, MONTHS_INVALID)
    reasons += found
    if reasons:
        return reasons
    assert (
        commitment_id is not None and company_id is not None and reference is not None and months is not None
    )
    return Extension(commitment_id, company_id, reference, months)


def extension_problems(extension: Extension, commitment: _Renewed | None) -> list[Reason]:
    """What the stored commitment refuses of a well-formed renewal: it must exist and be the
    company's (one answer for both: a company learns nothing of another's commitments), and
    keep its months within MAX_MONTHS."""
    if commitment is None or commitment.company_id != extension.company_id:
        return [
            Reason(
                "commitment_id",
                COMMITMENT_UNKNOWN,
                "Komitmen ini tidak ditemukan untuk perusahaan tersebut.",
            )
        ]
    if commitment.months + extension.months > MAX_MONTHS:
        room = MAX_MONTHS - commitment.months
        return [
            Reason(
                "months",
                MONTHS_INVALID,
                f"Komitmen paling lama {MAX_MONTHS} bulan: paling banyak {room} bulan lagi.",
            )
        ]
    return []


def extension_rejected(
    raw: Mapping[str, object], reasons: list[Reason], rejected_at: datetime
) -> CommitmentExtensionRejected:
    def text(name: str) -> str | None:
        value = raw.get(name)
        return value[:MAX_COMMITMENT_TEXT] if isinstance(value, str) else None

    return CommitmentExtensionRejected(
        commitment_id=text("commitment_id"),
        company_id=text("company_id"),
        reference=text("reference"),
        reasons=rejection_reasons(reasons),
        rejected_at=rejected_at,
    )
