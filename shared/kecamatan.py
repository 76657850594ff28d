"""Reference data for the kecamatan of Kabupaten Musi Banyuasin (Kepmendagri 300.2.2-2138/2025):
their codes and names, the spellings partners really send, and the closest names to suggest when
a name is none of them. (The national table of area codes that a NIK is checked against is
shared/wilayah.py.)"""

from __future__ import annotations

import difflib
import re
import unicodedata
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

# The spelling of Kepmendagri 300.2.2-2138/2025 where it differs from KECAMATAN's. For 16.06.13 the
# decree (and the lists loaded from it) say "Lawan Wetan"; the regency, its people and the
# programme's facts say "Lawang Wetan", which is what workers recognise in an SMS and the office in
# a report, so KECAMATAN keeps it and both spellings resolve to 13. A system that must print the
# decree's own name (a letter to Kemendagri) takes it from here.
KEPMENDAGRI_NAMES: Final[dict[str, str]] = {**KECAMATAN, "13": "Lawan Wetan"}

# Longer input cannot be a kecamatan; rejecting it early keeps the resolver cheap.
_MAX_INPUT_LENGTH: Final = 100
_MAX_SUGGESTIONS: Final = 3

_SEPARATORS = re.compile(r"[\s.\-]+")
_NON_LETTERS = re.compile(r"[^a-z]+")
# Leading words that only say "this is a kecamatan": "Kecamatan Lais", "Kec. Sekayu", "Kec: 07".
_PREFIX = re.compile(r"^(?:kecamatan|kec|kc)(?:[\s.:\-]+|$)", re.IGNORECASE)
# Trailing words that only name the regency: "Sekayu, Musi Banyuasin", "Lais (Muba)", "Lalan Kab. Muba".
_REGENCY_SUFFIX: Final = (
    ("kabupaten", "musi", "banyuasin"),
    ("kab", "musi", "banyuasin"),
    ("musi", "banyuasin"),
)
_REGENCY_SUFFIX_SHORT: Final = (("kabupaten", "muba"), ("kab", "muba"), ("muba",))

# Abbreviations seen in partners' lists and local documents ("Sei Lilin", "Sg. Lilin", "S. Keruh",
# "Btg Hari Leko", "Lw. Wetan"). Each stands for one word only, so no name becomes another's.
_TOKEN_ALIASES: Final[dict[str, str]] = {
    "sei": "sungai",
    "sg": "sungai",
    "sungei": "sungai",
    "s": "sungai",
    "btg": "batang",
    "lw": "lawang",
    "lwg": "lawang",
}

# Whole-name variants partners really send, keyed by the compact form (letters only, lower case):
# the decree's spelling of 13, older or local spellings, common slips of one letter.
_NAME_ALIASES: Final[dict[str, str]] = {
    "kluang": "08",
    "bayunglincir": "09",
    "plakattingi": "10",
    "plakatinggi": "10",
    "pelakattinggi": "10",
    "lawanwetan": "13",
}


def _compact(name: str) -> str:
    return _NON_LETTERS.sub("", name.casefold())


def _by_compact_name() -> dict[str, str]:
    """Every spelling's compact form -> its code; a spelling that named two kecamatan would be
    ambiguous, so building the table refuses one."""
    table: dict[str, str] = {}
    spellings = [*KECAMATAN.items(), *KEPMENDAGRI_NAMES.items(), *((c, n) for n, c in _NAME_ALIASES.items())]
    for code, name in spellings:
        key = _compact(name)
        if table.setdefault(key, code) != code:
            raise ValueError(f"kecamatan spelling {name!r} would name both {table[key]} and {code}")
    return table


_BY_COMPACT_NAME: Final[dict[str, str]] = _by_compact_name()


def _resolve_digits(digits: str) -> str | None:
    if len(digits) in (1, 2):
        code = digits.zfill(2)
    elif len(digits) == 6 and digits.startswith(REGENCY_CODE):
        code = digits[4:]
    else:
        return None
    return code if code in KECAMATAN else None


def _without_accents(text: str) -> str:
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


def _name_key(text: str) -> str:
    """A name's compact form after abbreviations and the regency's name are taken off."""
    tokens = [token for token in _NON_LETTERS.split(_without_accents(text).casefold()) if token]
    for suffix in (*_REGENCY_SUFFIX, *_REGENCY_SUFFIX_SHORT):
        if len(tokens) > len(suffix) and tuple(tokens[-len(suffix) :]) == suffix:
            tokens = tokens[: -len(suffix)]
            break
    tokens = [_TOKEN_ALIASES.get(token, token) for token in tokens]
    compact = "".join(tokens)
    if compact.startswith("sei"):  # "Seililin", "Seikeruh" written as one word
        compact = "sungai" + compact[3:]
    return compact


def _resolve_name(text: str) -> str | None:
    if any(char.isdigit() for char in text):  # "Sekayu 02" is ambiguous, not a name
        return None
    return _BY_COMPACT_NAME.get(_name_key(text))


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


def suggest_kecamatan(value: str) -> list[str]:
    """The official names closest to an unknown kecamatan (at most three, closest first), for the
    rejection message; empty when nothing is close. A kecamatan name is no personal data, but
    only our own names are ever returned, never the input."""
    if not isinstance(value, str) or len(value) > _MAX_INPUT_LENGTH:
        return []
    key = _name_key(_PREFIX.sub("", value.strip(), count=1))
    if not key:
        return []
    names: list[str] = []
    for match in difflib.get_close_matches(key, list(_BY_COMPACT_NAME), n=len(_BY_COMPACT_NAME), cutoff=0.6):
        name = KECAMATAN[_BY_COMPACT_NAME[match]]
        if name not in names:
            names.append(name)
    return names[:_MAX_SUGGESTIONS]
