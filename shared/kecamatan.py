"""Reference data for the kecamatan of Kabupaten Musi Banyuasin (Kepmendagri 300.2.2-2138/2025)."""

from __future__ import annotations

import re
from typing import Final

PROVINCE_CODE: Final = "16"
REGENCY_CODE: Final = "1606"

# Marks a sponsorship (or any scope) that covers every kecamatan of the regency.
# It is not a kecamatan: resolve_kecamatan("*") returns None.
WHOLE_REGENCY: Final = "*"
WHOLE_REGENCY_NAME: Final = "Seluruh Kabupaten Musi Banyuasin"

KECAMATAN: Final[dict[str, str]] = {
    "01": "Sekayu",
    "02": "Lais",
    "03": "Sungai Keruh",
    "04": "Batang Hari Leko",
    "05": "Sanga Desa",
    "06": "Babat Toman",
    "07": "Sungai Lilin",
    "08": "Keluang",
    "09": "Bayung Lencir",
    "10": "Plakat Tinggi",
    "11": "Lalan",
    "12": "Tungkal Jaya",
    "13": "Lawang Wetan",
    "14": "Babat Supat",
    "15": "Jirak Jaya",
}

# Longer input cannot be a kecamatan; rejecting it early keeps the resolver cheap.
_MAX_INPUT_LENGTH: Final = 100

_SEPARATORS = re.compile(r"[\s.\-]+")
_NON_LETTERS = re.compile(r"[^a-z]+")
# Leading words that only say "this is a kecamatan": "Kecamatan Lais", "Kec. Sekayu", "Kec: 07".
_PREFIX = re.compile(r"^(?:kecamatan|kec|kc)(?:[\s.:\-]+|$)", re.IGNORECASE)

# Abbreviations of "sungai" seen in local documents ("Sei Lilin", "Sei. Keruh", "Sg. Lilin").
_TOKEN_ALIASES: Final[dict[str, str]] = {
    "sei": "sungai",
    "sg": "sungai",
    "sungei": "sungai",
}

# Whole-name variants, keyed by the compact form (letters only, lower case).
_NAME_ALIASES: Final[dict[str, str]] = {
    "kluang": "08",
    "bayunglincir": "09",
    "plakattingi": "10",
    "plakatinggi": "10",
}


def _compact(name: str) -> str:
    return _NON_LETTERS.sub("", name.casefold())


_BY_COMPACT_NAME: Final[dict[str, str]] = {
    **{_compact(name): code for code, name in KECAMATAN.items()},
    **_NAME_ALIASES,
}


def _resolve_digits(digits: str) -> str | None:
    if len(digits) in (1, 2):
        code = digits.zfill(2)
    elif len(digits) == 6 and digits.startswith(REGENCY_CODE):
        code = digits[4:]
    else:
        return None
    return code if code in KECAMATAN else None


def _resolve_name(text: str) -> str | None:
    if any(char.isdigit() for char in text):  # "Sekayu 02" is ambiguous, not a name
        return None
    tokens = [token for token in _NON_LETTERS.split(text.casefold()) if token]
    tokens = [_TOKEN_ALIASES.get(token, token) for token in tokens]
    compact = "".join(tokens)
    if compact.startswith("sei"):  # "Seililin", "Seikeruh" written as one word
        compact = "sungai" + compact[3:]
    return _BY_COMPACT_NAME.get(compact)


def resolve_kecamatan(value: str) -> str | None:
    """Return the 2-digit kecamatan code for a code, a 6-digit area code or a (variant) name."""
    if not isinstance(value, str) or len(value) > _MAX_INPUT_LENGTH:
        return None
    text = _PREFIX.sub("", value.strip(), count=1).strip()
    if not text:
        return None
    digits = _SEPARATORS.sub("", text)
    if digits.isascii() and digits.isdigit():
        return _resolve_digits(digits)
    return _resolve_name(text)


def kecamatan_name(code: str) -> str:
    """Official name for a 2-digit code (or WHOLE_REGENCY); raises KeyError for an unknown code."""
    if code == WHOLE_REGENCY:
        return WHOLE_REGENCY_NAME
    try:
        return KECAMATAN[code]
    except KeyError:
        raise KeyError(f"unknown kecamatan code {code!r} in regency {REGENCY_CODE}") from None
