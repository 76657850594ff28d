"""The validation vocabulary the services and their partners share: the reason a submission is
refused (field, code, message), the codes, the limits, and the text rules behind them.

The partner-facing contract models (shared/events) declare their limits from the constants and
patterns here, and the services' validators (services/*/domain.py) check the same ones, so the
AsyncAPI documents generated from the models say what the services accept. A field's
`x-rejection-codes` (in the JSON schema) names the code the service answers when a value breaks
one of the field's JSON Schema keywords.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

# A partner's name: lower-case letters, digits and '-' (its intake topic's last part, its
# Kafka principal `partner-<name>`, the `source` of its registrations).
PARTNER_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

if TYPE_CHECKING:
    from shared.events.registry import RejectionReason


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason a submission is refused: which field, a stable code, a message for people
    (Bahasa Indonesia, never echoing personal data)."""

    field: str
    code: str
    message: str


# --- codes ---------------------------------------------------------------------------------------
# Common to every submission.
MISSING_FIELD: Final = "MISSING_FIELD"
INVALID_TYPE: Final = "INVALID_TYPE"
VALUE_EMPTY: Final = "VALUE_EMPTY"
VALUE_TOO_LONG: Final = "VALUE_TOO_LONG"
INVALID_CHARACTERS: Final = "INVALID_CHARACTERS"
KECAMATAN_UNKNOWN: Final = "KECAMATAN_UNKNOWN"

# A worker's registration (registry.registration-submitted.v1).
NIK_FORMAT: Final = "NIK_FORMAT"
NIK_PROVINCE: Final = "NIK_PROVINCE"
NIK_BIRTH_DATE_MISMATCH: Final = "NIK_BIRTH_DATE_MISMATCH"
NIK_SEX_MISMATCH: Final = "NIK_SEX_MISMATCH"
NIK_SERIAL: Final = "NIK_SERIAL"
BIRTH_DATE_FORMAT: Final = "BIRTH_DATE_FORMAT"
AGE_BELOW_MINIMUM: Final = "AGE_BELOW_MINIMUM"
AGE_ABOVE_MAXIMUM: Final = "AGE_ABOVE_MAXIMUM"
SEX_INVALID: Final = "SEX_INVALID"
PHONE_INVALID: Final = "PHONE_INVALID"
NAME_INVALID: Final = "NAME_INVALID"
NAME_TOO_LONG: Final = "NAME_TOO_LONG"
OCCUPATION_INVALID: Final = "OCCUPATION_INVALID"
INCOME_INVALID: Final = "INCOME_INVALID"
DESA_INVALID: Final = "DESA_INVALID"
DUPLICATE_NIK: Final = "DUPLICATE_NIK"  # needs the register: the registry's handler, not a validator
SOURCE_MISMATCH: Final = "SOURCE_MISMATCH"  # the body names another partner than its intake topic's
# Already paid for by another funder (the regency's APBD list PAKE KELAMBU, another sponsor):
# the office's funder list, by NIK; never double-funded.
ALREADY_FUNDED: Final = "ALREADY_FUNDED"

# Warnings on a registration: it is registered, and the warning travels on its events so that
# BPJS's civil-registry (Dukcapil) check decides (a NIK never changes, even when Dukcapil
# corrects the birth date or sex: PP 40/2019 art. 30(2)). NIK_BIRTH_DATE_MISMATCH and
# NIK_SEX_MISMATCH above are warnings, not rejections.
NIK_AREA_UNKNOWN: Final = "NIK_AREA_UNKNOWN"  # the NIK's regency/kecamatan digits are in no table
NIK_WARNING_CODES: Final = frozenset({"NIK_BIRTH_DATE_MISMATCH", "NIK_SEX_MISMATCH", NIK_AREA_UNKNOWN})

# A company's commitment (sponsorship.commitment-submitted.v1).
KECAMATAN_EMPTY: Final = "KECAMATAN_EMPTY"
KECAMATAN_MIXED: Final = "KECAMATAN_MIXED"
SLOTS_INVALID: Final = "SLOTS_INVALID"
MONTHS_INVALID: Final = "MONTHS_INVALID"
PACKAGE_UNKNOWN: Final = "PACKAGE_UNKNOWN"
CONTACT_MISSING: Final = "CONTACT_MISSING"
EMAIL_INVALID: Final = "EMAIL_INVALID"
WEBHOOK_INVALID: Final = "WEBHOOK_INVALID"

# A company's payment (sponsorship.payment-submitted.v1).
AMOUNT_INVALID: Final = "AMOUNT_INVALID"
PAID_ON_INVALID: Final = "PAID_ON_INVALID"
COMMITMENT_UNKNOWN: Final = "COMMITMENT_UNKNOWN"  # a renewal of no commitment of that company
PAID_ON_IN_FUTURE: Final = "PAID_ON_IN_FUTURE"  # needs today: a domain rule, not the contract's

# --- limits (each declared once; the models and the validators import them) --------------------
# A worker's texts and a partner's submission id, as the registry keeps them (trimmed).
MAX_REGISTRATION_TEXT: Final = 100
# A commitment's ids and the company's name (trimmed).
MAX_COMMITMENT_TEXT: Final = 200
MAX_NIK_LENGTH: Final = 64  # as typed, separators included
MAX_PHONE_LENGTH: Final = 40  # as typed, separators included
MAX_INCOME_IDR: Final = 1_000_000_000
MAX_SLOTS: Final = 100_000
MAX_MONTHS: Final = 60
MAX_EMAIL_LENGTH: Final = 254
MAX_WEBHOOK_URL_LENGTH: Final = 2_000
# A payment's reference (the bank transfer's, as the company's finance system names it, trimmed)
# and its amount (Rp100 miliar: far above a year of the whole programme, below any overflow).
MAX_PAYMENT_REFERENCE: Final = 100
MAX_PAYMENT_IDR: Final = 100_000_000_000

# --- text rules ----------------------------------------------------------------------------------
# Every text is trimmed first (Python's str.strip: the characters str.isspace() calls whitespace);
# names, occupations and villages have their whitespace runs collapsed to one space first.
# Control characters are Unicode's Cc and Cf (PostgreSQL's text holds no NUL; a zero-width or
# direction mark makes a name that looks like another).
_CODE_POINTS = range(sys.maxunicode + 1)
WHITESPACE: Final = frozenset(chr(c) for c in _CODE_POINTS if chr(c).isspace())
CONTROL_CHARACTERS: Final = frozenset(
    chr(c) for c in _CODE_POINTS if unicodedata.category(chr(c)) in ("Cc", "Cf")
)


def has_control_characters(value: str) -> bool:
    """Any control character, whitespace ones (tab, line break) included: for one-line texts."""
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in value)


def collapse_spaces(value: str) -> str:
    """Trimmed, every whitespace run one space: how names, occupations and villages are kept."""
    return " ".join(value.split())


def normalise_name(value: str) -> str:
    """A person's name as kept: spaces collapsed, then Unicode NFC."""
    return unicodedata.normalize("NFC", collapse_spaces(value))


def trimmed(value: object) -> object:
    """A contract model's text as the services read it (a pydantic BeforeValidator)."""
    return value.strip() if isinstance(value, str) else value


_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(value: object) -> object:
    """A contract model's date as the services read it: YYYY-MM-DD only, trimmed (pydantic alone
    would also take a date-time at midnight or a Unix time). A pydantic BeforeValidator."""
    if isinstance(value, str):
        if _ISO_DATE.fullmatch(value.strip()) is None:
            raise ValueError("a date is written YYYY-MM-DD")
        return value.strip()
    if isinstance(value, date) or value is None:
        return value
    raise ValueError("a date is written YYYY-MM-DD")


def collapsed(value: object) -> object:
    """A contract model's collapsed text as the services read it (a pydantic BeforeValidator)."""
    return collapse_spaces(value) if isinstance(value, str) else value


def collapsed_name(value: object) -> object:
    """A person's name as the registry reads it (a pydantic BeforeValidator)."""
    return normalise_name(value) if isinstance(value, str) else value


def _char_class(chars: Iterable[str]) -> str:
    """A regex character class body for `chars`, as ranges, in escapes that Python, Rust (pydantic)
    and ECMAScript regexes read alike (\\uXXXX; code points beyond the BMP as themselves)."""
    points = sorted(ord(c) for c in chars)
    ranges: list[tuple[int, int]] = []
    for p in points:
        if ranges and ranges[-1][1] == p - 1:
            ranges[-1] = (ranges[-1][0], p)
        else:
            ranges.append((p, p))

    def one(p: int) -> str:
        return f"\\u{p:04X}" if p <= 0xFFFF else chr(p)

    return "".join(one(a) if a == b else f"{one(a)}-{one(b)}" for a, b in ranges)


_WS: Final = _char_class(WHITESPACE)
_CTRL: Final = _char_class(CONTROL_CHARACTERS)

# Patterns of the contract models (applied to the text as the service reads it).
ONE_LINE_TEXT: Final = f"^[^{_CTRL}]*$"
"""No control characters (after trimming, or collapsing where the service collapses spaces)."""
NIK: Final = r"^[0-9](?:[" + _WS + r".\-]*[0-9]){15}$"
"""16 digits; spaces, dots and dashes between them are ignored (1606.0152.0890-0003)."""
_PHONE_SEP: Final = "[" + _WS + r"\-.()]*"
PHONE: Final = (
    f"^{_PHONE_SEP}(?:\\+{_PHONE_SEP}6{_PHONE_SEP}2(?:{_PHONE_SEP}0)?|6{_PHONE_SEP}2|0)?{_PHONE_SEP}"
    f"8{_PHONE_SEP}[1-35-9](?:{_PHONE_SEP}[0-9]){{7,10}}{_PHONE_SEP}$"
)
"""An Indonesian mobile number, 08..., 628..., +628... or +62 08... / +62 (0)8... (spaces, dashes,
dots, brackets ignored): the mobile ranges of the `phonenumbers` metadata the registry checks
with, 8[1-35-9] and 9 to 12 digits after +62, so not 080x (0800 toll-free, 0804 shared-cost,
0809 premium) nor 084x (no mobile range); no letters."""
PACKAGE: Final = "^[Jj][Kk][Kk]_[Jj][Kk][Mm](?:_[Jj][Hh][Tt])?$"
"""JKK_JKM or JKK_JKM_JHT, in any case."""
_EMAIL_PART: Final = f"[^@{_WS}{_CTRL}]"
EMAIL: Final = f"^(?:{_EMAIL_PART}+@{_EMAIL_PART}+\\.[^@.{_WS}{_CTRL}]+)?$"
"""An e-mail address (or nothing: a blank contact counts as absent)."""
WEBHOOK_URL: Final = f"^(?:[Hh][Tt][Tt][Pp][Ss]?://[^{_WS}{_CTRL}]+)?$"
"""An http(s) URL without whitespace (or nothing)."""

_EMAIL_RE: Final = re.compile(EMAIL)
_NIK_SEPARATORS: Final = re.compile(r"(?<=[0-9])[\s.\-]+(?=[0-9])")


def normalise_nik(value: str) -> str:
    """Trim and drop spaces, dots and dashes between digits ("1606.0152.0890-0003")."""
    return _NIK_SEPARATORS.sub("", value.strip())


def is_email(value: str) -> bool:
    """A trimmed, non-empty e-mail address as the contract's EMAIL pattern describes it."""
    return bool(value) and len(value) <= MAX_EMAIL_LENGTH and _EMAIL_RE.fullmatch(value) is not None


def one_line_text_or_none(value: object, max_length: int) -> str | None:
    """An id as it may be stored and repeated (trimmed, non-empty, one line, not too long), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > max_length or has_control_characters(text):
        return None
    return text


# --- contract models ------------------------------------------------------------------------------


def rejection_codes(**codes: str) -> dict[str, Any]:
    """A field's `json_schema_extra`: the code the service answers for each JSON Schema keyword
    a value breaks, e.g. rejection_codes(maxLength=NAME_TOO_LONG, pattern=NAME_INVALID)."""
    return {"x-rejection-codes": dict(codes)}


# Pydantic's error types, as the JSON Schema keyword the value broke.
_KEYWORD_OF_ERROR: Final = {
    "missing": "required",
    "string_too_long": "maxLength",
    "string_too_short": "minLength",
    "string_pattern_mismatch": "pattern",
    "too_short": "minItems",  # or minLength: a text constrained after a BeforeValidator
    "too_long": "maxItems",
    "greater_than_equal": "minimum",
    "greater_than": "minimum",
    "less_than_equal": "maximum",
    "less_than": "maximum",
    "literal_error": "enum",
}
_DEFAULT_CODES: Final = {
    "required": MISSING_FIELD,
    "type": INVALID_TYPE,
    "maxLength": VALUE_TOO_LONG,
    "minLength": VALUE_EMPTY,
    "pattern": INVALID_CHARACTERS,
}
_WHAT: Final = {"string": "teks", "int": "bilangan bulat", "list": "daftar", "date": "tanggal"}


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0])
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _reason(model: type[BaseModel], error: ErrorDetails) -> Reason:
    ctx = error.get("ctx") or {}
    if "field" in ctx and "code" in ctx:  # a rule of several fields (PydanticCustomError)
        return Reason(str(ctx["field"]), str(ctx["code"]), error["msg"])
    loc = error["loc"]
    name = _field_name(loc) if loc else "body"
    info = model.model_fields.get(str(loc[0])) if loc else None
    extra = info.json_schema_extra if info is not None and isinstance(info.json_schema_extra, dict) else {}
    declared = extra.get("x-rejection-codes")
    codes: Mapping[str, object] = declared if isinstance(declared, dict) else {}
    keyword = _KEYWORD_OF_ERROR.get(error["type"], "type")
    if isinstance(error.get("input"), str) and keyword in ("minItems", "maxItems"):
        keyword = "minLength" if keyword == "minItems" else "maxLength"
    code = str(codes.get(keyword) or _DEFAULT_CODES.get(keyword) or codes.get("type") or INVALID_TYPE)
    if keyword == "required":
        message = f"Kolom {name} wajib diisi."
    elif keyword in ("minLength", "minItems"):
        message = f"Kolom {name} tidak boleh kosong."
    elif keyword == "maxLength":
        message = f"Kolom {name} paling banyak {ctx.get('max_length')} karakter."
    elif keyword == "minimum":
        message = f"Kolom {name} paling kecil {ctx.get('ge', ctx.get('gt'))}."
    elif keyword == "maximum":
        message = f"Kolom {name} paling besar {ctx.get('le', ctx.get('lt'))}."
    elif keyword in ("pattern", "enum"):
        description = info.description if info is not None and info.description else "lihat kontrak"
        message = f"Isi kolom {name} tidak sesuai kontrak ({description})."
    else:
        expected = _WHAT.get(error["type"].split("_")[0], "nilai yang benar")
        message = f"Kolom {name} harus berupa {expected}."
    return Reason(name, code, message)


def contract_reasons(model: type[BaseModel], raw: Mapping[str, object]) -> list[Reason]:
    """Every way `raw` breaks the contract `model` declares (limits, formats), as Reasons with
    the codes the service would answer; empty when it keeps the contract. Rules the contract
    cannot express (each model's docstring names them) are the service's to check."""
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        return [_reason(model, error) for error in exc.errors(include_url=False)]
    return []


def rejection_reasons(reasons: Iterable[Reason]) -> list[RejectionReason]:
    """The reasons as they travel in a rejection event."""
    from shared.events.registry import RejectionReason  # the events import this module

    return [RejectionReason(field=r.field, code=r.code, message=r.message) for r in reasons]
