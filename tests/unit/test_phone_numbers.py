"""Workers' phone numbers as partners really send them: the registry's check (our rules, then the
`phonenumbers` library's MOBILE type) and the contract's pattern, on one table.

Each row: what was typed, the E.164 number the registry keeps (None: refused) and, when refused,
which reason the worker's operator reads (letters / not Indonesian / not mobile / length / form).
"""

import re
from datetime import date

import pytest

from services.registry.domain import registration as registry
from services.registry.domain.registration import (
    PHONE_HAS_LETTERS,
    PHONE_MALFORMED,
    PHONE_NOT_INDONESIAN,
    PHONE_NOT_MOBILE,
    PHONE_WRONG_LENGTH,
    check_phone,
    normalise_phone,
)
from shared import validation

OK = None  # no problem: accepted
E = "+6281234567890"

# (typed, kept as, why refused)
TABLE: list[tuple[str, str | None, str | None]] = [
    # --- the usual forms
    ("081234567890", E, OK),
    ("0812-3456-7890", E, OK),
    ("0812 3456 7890", E, OK),
    ("0812.3456.7890", E, OK),
    ("(0812) 3456-7890", E, OK),
    ("6281234567890", E, OK),
    ("62 812 3456 7890", E, OK),
    ("+6281234567890", E, OK),
    ("+62 812-3456-7890", E, OK),
    ("+62 (812) 3456-7890", E, OK),
    ("81234567890", E, OK),  # the subscriber number alone
    ("\u00a00812\u00a03456\u00a07890\u00a0", E, OK),  # no-break spaces from a spreadsheet
    # --- the trunk 0 people write after +62
    ("+62 0812-3456-7890", E, OK),
    ("+62 (0)812 3456 7890", E, OK),
    ("+62(0)81234567890", E, OK),
    ("+62081234567890", E, OK),
    # --- every mobile range, shortest and longest
    ("0811 1234 567", "+628111234567", OK),  # Telkomsel Halo
    ("0813-7700-1122", "+6281377001122", OK),
    ("0821 7788 9900", "+6282177889900", OK),  # Telkomsel
    ("0852 6612 3344", "+6285266123344", OK),
    ("0855 1709 2405", "+6285517092405", OK),  # Indosat
    ("0857 8899 0011", "+6285788990011", OK),
    ("0878 1234 5678", "+6287812345678", OK),  # XL
    ("0831 2345 6789", "+6283123456789", OK),  # Axis
    ("0895 1234 5678", "+6289512345678", OK),  # Tri
    ("0881 2345 6789", "+6288123456789", OK),  # Smartfren
    ("0812345678", "+62812345678", OK),  # 9 digits after +62
    ("0812345678901", "+62812345678901", OK),  # 12 digits after +62
    # --- not a mobile number
    ("0800 1234 567", None, PHONE_NOT_MOBILE),  # toll-free
    ("0800-1-500-500", None, PHONE_NOT_MOBILE),
    ("0809 1234 5678", None, PHONE_NOT_MOBILE),  # premium rate
    ("0809 123 4567", None, PHONE_NOT_MOBILE),
    ("0804 1234 567", None, PHONE_NOT_MOBILE),  # shared cost
    ("0841 2345 6789", None, PHONE_NOT_MOBILE),  # no 084x mobile range
    ("0848 1234 5678", None, PHONE_NOT_MOBILE),
    ("021 1234 5678", None, PHONE_NOT_MOBILE),  # Jakarta fixed line
    ("0711 123456", None, PHONE_NOT_MOBILE),  # Palembang fixed line
    ("(0714) 321 456", None, PHONE_NOT_MOBILE),  # Sekayu fixed line
    ("+62 21 1234 5678", None, PHONE_NOT_MOBILE),
    # --- letters: never read as digits
    ("085517O92405", None, PHONE_HAS_LETTERS),  # the library would take 0855 1792 405
    ("0812-3456-789a", None, PHONE_HAS_LETTERS),
    ("08l2 3456 7890", None, PHONE_HAS_LETTERS),
    ("HP 081234567890", None, PHONE_HAS_LETTERS),
    ("0812 3456 7890 (WA)", None, PHONE_HAS_LETTERS),
    # --- not Indonesian
    ("+65 8123 4567", None, PHONE_NOT_INDONESIAN),  # Singapore
    ("+60 12-345 6789", None, PHONE_NOT_INDONESIAN),  # Malaysia
    ("+1 812 345 6789", None, PHONE_NOT_INDONESIAN),
    # --- too short, too long
    ("08123456", None, PHONE_WRONG_LENGTH),  # 7 digits after 0
    ("+6281234567", None, PHONE_WRONG_LENGTH),  # 8 after +62
    ("08123456789012", None, PHONE_WRONG_LENGTH),  # 13 after +62
    ("+628123456789012", None, PHONE_WRONG_LENGTH),
    ("12345", None, PHONE_WRONG_LENGTH),
    ("0" + "8" * 30, None, PHONE_WRONG_LENGTH),
    ("0" * 1_000, None, PHONE_WRONG_LENGTH),
    # --- other forms we do not guess at
    ("", None, PHONE_MALFORMED),
    ("0812_3456_7890", None, PHONE_MALFORMED),
    ("0812/3456/7890", None, PHONE_MALFORMED),
    ("++6281234567890", None, PHONE_MALFORMED),
    ("62+81234567890", None, PHONE_MALFORMED),
    ("008123456789", None, PHONE_MALFORMED),
    ("0062 812 3456 7890", None, PHONE_MALFORMED),
    ("+62 00812 3456 7890", None, PHONE_MALFORMED),
    ("62 0812 3456 7890", None, PHONE_MALFORMED),  # the trunk 0 only after +62
    ("０８１２３４５６７８９０", None, PHONE_MALFORMED),  # full-width digits
]

CONTRACT = re.compile(validation.PHONE)


def test_the_table_is_large_and_covers_the_named_cases() -> None:
    assert len(TABLE) >= 40
    typed = {row[0] for row in TABLE}
    for case in [
        "+62 0812-3456-7890",
        "+62 (0)812 3456 7890",
        "0800 1234 567",
        "0809 1234 5678",
        "0841 2345 6789",
        "021 1234 5678",
        "085517O92405",
        "6281234567890",
        "+6281234567890",
    ]:
        assert case in typed


@pytest.mark.parametrize(("typed", "kept", "why"), TABLE)
def test_the_registry_keeps_mobile_numbers_and_says_why_it_refuses_the_rest(
    typed: str, kept: str | None, why: str | None
) -> None:
    assert check_phone(typed) == (kept, why)
    assert normalise_phone(typed) == kept


@pytest.mark.parametrize(("typed", "kept", "why"), TABLE)
def test_the_contract_pattern_accepts_exactly_what_the_registry_keeps(
    typed: str, kept: str | None, why: str | None
) -> None:
    within = len(typed.strip()) <= validation.MAX_PHONE_LENGTH
    assert (within and CONTRACT.fullmatch(typed.strip()) is not None) == (kept is not None)


def test_the_reasons_are_indonesian_and_distinct() -> None:
    reasons = [PHONE_HAS_LETTERS, PHONE_NOT_INDONESIAN, PHONE_NOT_MOBILE, PHONE_WRONG_LENGTH, PHONE_MALFORMED]
    assert len(set(reasons)) == len(reasons)
    assert "huruf" in PHONE_HAS_LETTERS
    assert "bukan nomor seluler" in PHONE_NOT_MOBILE
    assert "Indonesia" in PHONE_NOT_INDONESIAN
    assert "kurang atau kelebihan angka" in PHONE_WRONG_LENGTH
    assert all(reason.startswith("Nomor HP") for reason in reasons)


def test_a_registration_with_a_toll_free_number_is_refused_saying_why() -> None:
    result = registry.validate_registration(
        {
            "submission_id": "s-1",
            "source": "web-form",
            "nik": "1606015208900003",
            "full_name": "Siti Aminah",
            "birth_date": "1990-08-12",
            "sex": "P",
            "phone": "0800 1234 567",
            "kecamatan": "Sekayu",
            "occupation": "Penyadap karet",
        },
        today=date(2026, 1, 15),
    )
    assert isinstance(result, list)
    assert [(r.field, r.code, r.message) for r in result] == [
        ("phone", validation.PHONE_INVALID, PHONE_NOT_MOBILE)
    ]


@pytest.mark.parametrize("second", "0123456789")
@pytest.mark.parametrize("digits_after_62", range(7, 15))
def test_contract_and_library_agree_on_every_8x_range_and_length(second: str, digits_after_62: int) -> None:
    """The pattern mirrors the library's mobile metadata: if a `phonenumbers` upgrade moves a
    range or a length, this fails and shared/validation.PHONE must follow."""
    for fill in "0159":
        national = ("8" + second + fill * 12)[:digits_after_62]
        for typed in ("0" + national, "+62" + national, "+62 0" + national):
            kept, _why = check_phone(typed)
            assert (CONTRACT.fullmatch(typed) is not None) == (kept is not None), typed
