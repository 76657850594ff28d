import dataclasses
import time
import unicodedata
from datetime import date

import pytest

from services.registry.domain import registration as domain
from services.registry.domain.registration import (
    AGE_ABOVE_MAXIMUM,
    AGE_BELOW_MINIMUM,
    BIRTH_DATE_FORMAT,
    DESA_INVALID,
    INCOME_INVALID,
    INVALID_TYPE,
    KECAMATAN_UNKNOWN,
    MISSING_FIELD,
    NAME_INVALID,
    NAME_TOO_LONG,
    NIK_AREA_UNKNOWN,
    NIK_BIRTH_DATE_MISMATCH,
    NIK_FORMAT,
    NIK_PROVINCE,
    NIK_SERIAL,
    NIK_SEX_MISMATCH,
    OCCUPATION_INVALID,
    PHONE_INVALID,
    SEX_INVALID,
    SOURCE_MISMATCH,
    Reason,
    Registration,
    age_on,
    normalise_nik,
    normalise_phone,
    source_from_intake,
    validate_registration,
)

TODAY = date(2026, 1, 15)
EXAMPLE_NIK = "1606015208900003"  # woman born 12 Aug 1990, first registered in Sekayu


def make_nik(birth: date, sex: str, *, area: str = "160601", serial: str = "0001") -> str:
    day = birth.day + (40 if sex == "P" else 0)
    return f"{area}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial}"


def valid_raw(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "submission_id": "sub-0001",
        "source": "web-form",
        "nik": EXAMPLE_NIK,
        "full_name": "Siti Aminah",
        "birth_date": "1990-08-12",
        "sex": "P",
        "phone": "081234567890",
        "kecamatan": "Sekayu",
        "desa": "Balai Agung",
        "occupation": "Penyadap karet",
        "declared_income_idr": 1_500_000,
    }
    raw.update(overrides)
    return raw


def without(*fields: str) -> dict[str, object]:
    raw = valid_raw()
    for field in fields:
        del raw[field]
    return raw


def validate(raw: dict[str, object], **kwargs: int) -> Registration | list[Reason]:
    return validate_registration(raw, today=TODAY, **kwargs)


def accepted(raw: dict[str, object], **kwargs: int) -> Registration:
    result = validate(raw, **kwargs)
    assert isinstance(result, Registration), result
    return result


def reasons(raw: dict[str, object], **kwargs: int) -> list[tuple[str, str]]:
    result = validate(raw, **kwargs)
    assert isinstance(result, list), result
    assert result, "a rejection must carry at least one reason"
    return [(reason.field, reason.code) for reason in result]


def reasons_on(raw: dict[str, object], today: date) -> list[tuple[str, str]]:
    result = validate_registration(raw, today=today)
    assert isinstance(result, list), result
    return [(reason.field, reason.code) for reason in result]


# --- the happy path -----------------------------------------------------------------------------


def test_example_nik_is_a_valid_registration() -> None:
    registration = accepted(valid_raw())
    assert registration == Registration(
        submission_id="sub-0001",
        source="web-form",
        nik=EXAMPLE_NIK,
        full_name="Siti Aminah",
        birth_date=date(1990, 8, 12),
        sex="P",
        phone="+6281234567890",
        kecamatan_code="01",
        kecamatan_name="Sekayu",
        desa="Balai Agung",
        occupation="Penyadap karet",
        declared_income_idr=1_500_000,
    )


def test_optional_fields_may_be_absent() -> None:
    registration = accepted(without("desa", "declared_income_idr"))
    assert registration.desa is None
    assert registration.declared_income_idr is None


def test_optional_fields_may_be_null_or_blank() -> None:
    registration = accepted(valid_raw(desa="   ", declared_income_idr=None))
    assert registration.desa is None
    assert registration.declared_income_idr is None
    assert accepted(valid_raw(desa=None)).desa is None
    assert accepted(valid_raw(desa="")).desa is None


def test_values_are_normalised() -> None:
    registration = accepted(
        valid_raw(
            submission_id="  sub-0001 ",
            nik=" 1606.0152.0890-0003 ",
            full_name="  Siti \t  Aminah\n",
            birth_date=" 1990-08-12 ",
            sex="p",
            phone="+62 812-3456-7890",
            kecamatan="  kec. SEKAYU ",
            desa="  Balai   Agung ",
            occupation="  Penyadap   karet  ",
        )
    )
    assert registration.submission_id == "sub-0001"
    assert registration.nik == EXAMPLE_NIK
    assert registration.full_name == "Siti Aminah"
    assert registration.birth_date == date(1990, 8, 12)
    assert registration.sex == "P"
    assert registration.phone == "+6281234567890"
    assert registration.kecamatan_code == "01"
    assert registration.kecamatan_name == "Sekayu"
    assert registration.desa == "Balai Agung"
    assert registration.occupation == "Penyadap karet"


def test_unknown_fields_are_ignored() -> None:
    registration = accepted(valid_raw(favourite_colour="hijau", extra={"a": 1}, nik_verified=True))
    assert registration.nik == EXAMPLE_NIK


def test_input_mapping_is_not_modified() -> None:
    raw = valid_raw(nik="1606 0152 0890 0003")
    snapshot = dict(raw)
    validate(raw)
    assert raw == snapshot


def test_work_kecamatan_may_differ_from_the_nik_kecamatan() -> None:
    registration = accepted(valid_raw(kecamatan="Bayung Lencir"))
    assert registration.nik[4:6] == "01"
    assert (registration.kecamatan_code, registration.kecamatan_name) == ("09", "Bayung Lencir")


def test_nik_from_outside_muba_and_outside_sumatera_selatan_is_fine() -> None:
    nik = make_nik(date(1990, 8, 12), "P", area="317401")
    assert accepted(valid_raw(nik=nik)).nik == nik


def test_male_registration() -> None:
    nik = make_nik(date(1985, 3, 7), "L", area="160607", serial="0012")
    assert nik == "1606070703850012"
    registration = accepted(valid_raw(nik=nik, sex="l", birth_date="1985-03-07", full_name="Budi Santoso"))
    assert registration.sex == "L"
    assert registration.birth_date == date(1985, 3, 7)


def test_registration_and_reason_are_frozen() -> None:
    registration = accepted(valid_raw())
    with pytest.raises(dataclasses.FrozenInstanceError):
        registration.nik = "x"  # type: ignore[misc]
    reason = Reason(field="nik", code=NIK_FORMAT, message="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        reason.code = "y"  # type: ignore[misc]


def test_reason_codes_are_their_own_names() -> None:
    names = [
        "MISSING_FIELD",
        "INVALID_TYPE",
        "NIK_FORMAT",
        "NIK_PROVINCE",
        "NIK_SERIAL",
        "BIRTH_DATE_FORMAT",
        "AGE_BELOW_MINIMUM",
        "AGE_ABOVE_MAXIMUM",
        "SEX_INVALID",
        "KECAMATAN_UNKNOWN",
        "PHONE_INVALID",
        "NAME_INVALID",
        "NAME_TOO_LONG",
        "OCCUPATION_INVALID",
        "INCOME_INVALID",
        "DESA_INVALID",
        "DUPLICATE_NIK",
        "SOURCE_MISMATCH",
    ]
    for name in names:
        assert getattr(domain, name) == name
    assert set(names) == domain.REASON_CODES
    # What the NIK's digits say but cannot decide is a warning, never a rejection.
    warnings = ["NIK_BIRTH_DATE_MISMATCH", "NIK_SEX_MISMATCH", "NIK_AREA_UNKNOWN"]
    for name in warnings:
        assert getattr(domain, name) == name
    assert set(warnings) == domain.WARNING_CODES
    assert not domain.WARNING_CODES & domain.REASON_CODES


# --- the source is the partner whose intake topic a registration came on ----------------------


@pytest.mark.parametrize("claimed", [None, "desa-online"])
def test_source_is_the_intake_partner_when_the_body_agrees_or_is_silent(claimed: object) -> None:
    raw = valid_raw(source=claimed) if claimed is not None else {**valid_raw(), "source": None}
    body, mismatch = source_from_intake(raw, "desa-online")
    assert mismatch is None
    assert body["source"] == "desa-online"
    assert isinstance(validate_registration(body, today=TODAY), Registration)


def test_source_absent_from_the_body_is_taken_from_the_intake() -> None:
    raw = valid_raw()
    del raw["source"]
    body, mismatch = source_from_intake(raw, "desa-online")
    assert mismatch is None and body["source"] == "desa-online"
    assert "source" not in raw  # the input is not modified


@pytest.mark.parametrize(
    "claimed", ["kud-sekayu", "Desa-Online", "desa-online ", "", 42, ["desa-online"], "s" * 1000]
)
def test_a_body_naming_another_source_is_a_source_mismatch(claimed: object) -> None:
    body, mismatch = source_from_intake(valid_raw(source=claimed), "desa-online")
    assert mismatch is not None
    assert (mismatch.field, mismatch.code) == ("source", SOURCE_MISMATCH)
    assert "desa-online" in mismatch.message
    assert len(mismatch.message) < 400  # a huge claimed value is not echoed
    # What is recorded is the partner the topic proves, never the claim.
    assert body["source"] == "desa-online"


# --- required fields and types --------------------------------------------------------------------

REQUIRED = [
    "submission_id",
    "source",
    "nik",
    "full_name",
    "birth_date",
    "sex",
    "phone",
    "kecamatan",
    "occupation",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field(field: str) -> None:
    assert reasons(without(field)) == [(field, MISSING_FIELD)]


@pytest.mark.parametrize("field", REQUIRED)
@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_null_or_empty_required_field_is_missing(field: str, value: object) -> None:
    assert reasons(valid_raw(**{field: value})) == [(field, MISSING_FIELD)]


@pytest.mark.parametrize("field", REQUIRED)
@pytest.mark.parametrize("value", [0, 1606015208900003, 12.5, True, False, [], ["P"], {"v": "x"}])
def test_wrong_json_type_is_invalid_type(field: str, value: object) -> None:
    assert reasons(valid_raw(**{field: value})) == [(field, INVALID_TYPE)]


def test_empty_submission_lists_every_required_field_in_form_order() -> None:
    assert reasons({}) == [
        ("submission_id", MISSING_FIELD),
        ("source", MISSING_FIELD),
        ("nik", MISSING_FIELD),
        ("full_name", MISSING_FIELD),
        ("birth_date", MISSING_FIELD),
        ("sex", MISSING_FIELD),
        ("phone", MISSING_FIELD),
        ("kecamatan", MISSING_FIELD),
        ("occupation", MISSING_FIELD),
    ]


@pytest.mark.parametrize("field", ["submission_id", "source"])
def test_submission_id_and_source_length(field: str) -> None:
    assert getattr(accepted(valid_raw(**{field: "x" * 100})), field) == "x" * 100
    assert reasons(valid_raw(**{field: "x" * 101})) == [(field, INVALID_TYPE)]


# --- NIK -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (EXAMPLE_NIK, EXAMPLE_NIK),
        ("1606.0152.0890-0003", EXAMPLE_NIK),
        ("1606 0152 0890 0003", EXAMPLE_NIK),
        (" 16-06-01-52-08-90-0003 ", EXAMPLE_NIK),
        ("16.06.01 520890 0003", EXAMPLE_NIK),
        ("1606 - 0152 . 0890 0003", EXAMPLE_NIK),
        ("-1606015208900003", "-1606015208900003"),  # not between digits: kept, so rejected
        ("1606015208900003.", "1606015208900003."),
        ("16O6015208900003", "16O6015208900003"),
    ],
)
def test_normalise_nik(value: str, expected: str) -> None:
    assert normalise_nik(value) == expected


def test_nik_with_separators_is_accepted() -> None:
    assert accepted(valid_raw(nik="1606.0152.0890-0003")).nik == EXAMPLE_NIK


@pytest.mark.parametrize(
    "value",
    [
        "160601520890000",  # 15 digits
        "16060152089000031",  # 17 digits
        "16060152089O0003",  # letter O
        "1606015208900003x",
        "-1606015208900003",
        "1606/0152/0890/0003",
        "\u0661\u0666\u0660\u0666\u0660\u0661\u0665\u0662\u0660\u0668\u0669\u0660\u0660\u0660\u0660\u0663",
        "１６０６０１５２０８９０００３",  # full-width digits
        "+1606015208900003",
        "NIK 1606015208900003",
    ],
)
def test_nik_format(value: str) -> None:
    assert reasons(valid_raw(nik=value)) == [("nik", NIK_FORMAT)]


@pytest.mark.parametrize(
    "province",
    ["11", "16", "19", "21", "31", "36", "51", "53", "61", "65", "71", "76", "81", "82", "91", "96"],
)
def test_nik_valid_provinces(province: str) -> None:
    nik = province + EXAMPLE_NIK[2:]
    assert accepted(valid_raw(nik=nik)).nik == nik


@pytest.mark.parametrize(
    "province",
    ["00", "10", "20", "22", "30", "37", "50", "54", "60", "66", "70", "77", "80", "83", "90", "97", "99"],
)
def test_nik_province(province: str) -> None:
    assert reasons(valid_raw(nik=province + EXAMPLE_NIK[2:])) == [("nik", NIK_PROVINCE)]


def warnings(raw: dict[str, object]) -> list[tuple[str, str]]:
    """The registration's warnings: it must be registered."""
    return [(w.field, w.code) for w in accepted(raw).warnings]


def test_example_nik_registers_without_warnings() -> None:
    assert warnings(valid_raw()) == []


def test_example_nik_with_sex_l_is_registered_with_a_sex_mismatch() -> None:
    # 1606015208900003: day 52 = 12 + 40, a woman's NIK; stated L. Dukcapil may have corrected
    # the sex behind a NIK that never changes (PP 40/2019 art. 30(2)): BPJS's check decides.
    registration = accepted(valid_raw(sex="L"))
    assert registration.sex == "L" and registration.nik == EXAMPLE_NIK
    assert [(w.field, w.code) for w in registration.warnings] == [("nik", NIK_SEX_MISMATCH)]


def test_male_nik_with_sex_p_is_registered_with_a_sex_mismatch() -> None:
    nik = make_nik(date(1990, 8, 12), "L")
    assert nik[6:8] == "12"
    assert warnings(valid_raw(nik=nik, sex="P")) == [("nik", NIK_SEX_MISMATCH)]


def test_sex_mismatch_is_not_reported_when_sex_itself_is_invalid() -> None:
    assert reasons(valid_raw(sex="X")) == [("sex", SEX_INVALID)]
    assert reasons(without("sex")) == [("sex", MISSING_FIELD)]


@pytest.mark.parametrize(
    "birth_date",
    [
        "1990-08-13",  # day differs
        "1990-09-12",  # month differs
        "1991-08-12",  # year differs
        "1980-08-12",
    ],
)
def test_nik_birth_date_mismatch_is_registered_with_a_warning(birth_date: str) -> None:
    registration = accepted(valid_raw(birth_date=birth_date))
    assert registration.birth_date == date.fromisoformat(birth_date)  # the stated date is kept
    assert [(w.field, w.code) for w in registration.warnings] == [("nik", NIK_BIRTH_DATE_MISMATCH)]


def test_both_mismatches_are_two_warnings() -> None:
    assert warnings(valid_raw(birth_date="1990-08-13", sex="L")) == [
        ("nik", NIK_BIRTH_DATE_MISMATCH),
        ("nik", NIK_SEX_MISMATCH),
    ]


def test_nik_birth_year_is_compared_modulo_100() -> None:
    # 1990 and 2090 share "90"; a birth date in 1890 would be too old, so check another century pair.
    nik = make_nik(date(2005, 6, 1), "L")
    assert accepted(valid_raw(nik=nik, sex="L", birth_date="2005-06-01")).warnings == ()
    assert warnings(valid_raw(nik=nik, sex="L", birth_date="1966-06-01")) == [
        ("nik", NIK_BIRTH_DATE_MISMATCH)
    ]


def test_warning_messages_are_polite_indonesian_and_echo_nothing() -> None:
    registration = accepted(valid_raw(nik="1699995208900003", birth_date="1990-08-13", sex="L"))
    assert [w.code for w in registration.warnings] == [
        NIK_BIRTH_DATE_MISMATCH,
        NIK_SEX_MISMATCH,
        NIK_AREA_UNKNOWN,
    ]
    for warning in registration.warnings:
        assert "Pendaftaran tetap diterima" in warning.message
        assert "Dukcapil" in warning.message
        assert len(warning.message) < 250
        for personal in ("1699995208900003", "169999", "520890", "1990", "13", "Siti"):
            assert personal not in warning.message


@pytest.mark.parametrize(
    "ddmmyy",
    [
        "000890",  # day 0
        "320890",  # day 32: neither a man's day nor a woman's
        "400890",  # day 40
        "720890",  # day 72
        "991390",  # nonsense
        "521390",  # month 13
        "520090",  # month 0
        "713190",  # month 31
        "700290",  # woman, 30 Feb
        "690290",  # woman, 29 Feb 1990: not a leap year
        "310490",  # man, 31 April
    ],
)
def test_nik_whose_date_digits_are_no_date_is_refused(ddmmyy: str) -> None:
    # Dukcapil keeps a corrected NIK's original digits, which were a real date: digits that are
    # no date in any century are a wrong NIK, so this stays a rejection (NIK_FORMAT).
    nik = "160601" + ddmmyy + "0003"
    assert reasons(valid_raw(nik=nik)) == [("nik", NIK_FORMAT)]
    result = validate(valid_raw(nik=nik))
    assert isinstance(result, list) and "tanggal lahir" in result[0].message


def test_impossible_nik_date_is_reported_even_without_a_usable_birth_date() -> None:
    assert reasons(valid_raw(nik="1606010008900003", birth_date="12-08-1990")) == [
        ("nik", NIK_FORMAT),
        ("birth_date", BIRTH_DATE_FORMAT),
    ]
    assert reasons(valid_raw(nik="1606012902010003", sex="L", birth_date="bad")) == [
        ("nik", NIK_FORMAT),
        ("birth_date", BIRTH_DATE_FORMAT),
    ]


def test_real_nik_date_without_a_usable_birth_date_reports_only_the_birth_date() -> None:
    assert reasons(valid_raw(birth_date="1990/08/12")) == [("birth_date", BIRTH_DATE_FORMAT)]
    assert reasons(without("birth_date")) == [("birth_date", MISSING_FIELD)]
    # 29 Feb "00" is real in 2000.
    assert reasons(valid_raw(nik="1606016902000003", birth_date="bad")) == [("birth_date", BIRTH_DATE_FORMAT)]


def test_a_woman_born_on_29_february_2000_registers() -> None:
    registration = accepted(valid_raw(nik="1606016902000003", birth_date="2000-02-29"))
    assert registration.warnings == ()


# --- the NIK's area digits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nik", "where"),
    [
        ("1606015208900003", "Sekayu, Musi Banyuasin"),
        ("1607015208900003", "Banyuasin (since 2002)"),
        ("1671015208900003", "Kota Palembang"),
        ("3171015208900003", "Gambir, Jakarta Pusat"),
        ("3578015208900003", "Kota Surabaya"),
        ("9601015208900003", "Sorong, Papua Barat Daya (since 2022)"),
        ("9201015208900003", "Sorong as it was numbered before 2022 (retired)"),
        ("9101015208900003", "Merauke as it was numbered before 2022 (retired regency)"),
        ("9301015208900003", "Merauke, Papua Selatan (since 2022)"),
    ],
)
def test_nik_from_a_known_area_has_no_area_warning(nik: str, where: str) -> None:
    assert warnings(valid_raw(nik=nik)) == [], where


@pytest.mark.parametrize(
    ("nik", "why"),
    [
        ("1699995208900003", "regency 99 of Sumatera Selatan does not exist"),
        ("1606995208900003", "Musi Banyuasin has no kecamatan 99"),
        ("1606165208900003", "Musi Banyuasin has fifteen kecamatan"),
        ("3171995208900003", "Jakarta Pusat has no kecamatan 99"),
        ("1100015208900003", "regency 00"),
    ],
)
def test_nik_from_an_unknown_area_is_registered_with_a_warning(nik: str, why: str) -> None:
    registration = accepted(valid_raw(nik=nik))
    assert registration.nik == nik, why
    assert [(w.field, w.code) for w in registration.warnings] == [("nik", NIK_AREA_UNKNOWN)], why


def test_unknown_province_stays_a_rejection_not_an_area_warning() -> None:
    assert reasons(valid_raw(nik="9999995208900003")) == [("nik", NIK_PROVINCE)]


def test_nik_serial_0000() -> None:
    assert reasons(valid_raw(nik=EXAMPLE_NIK[:12] + "0000")) == [("nik", NIK_SERIAL)]
    assert accepted(valid_raw(nik=EXAMPLE_NIK[:12] + "0001")).nik.endswith("0001")
    assert accepted(valid_raw(nik=EXAMPLE_NIK[:12] + "9999")).nik.endswith("9999")


def test_every_nik_rule_at_once() -> None:
    # Province 99, day 72 (no date), serial 0000; sex mismatch is not claimed for an impossible day.
    assert reasons(valid_raw(nik="9906017208900000")) == [
        ("nik", NIK_PROVINCE),
        ("nik", NIK_FORMAT),
        ("nik", NIK_SERIAL),
    ]
    # Province 00, man's day with a woman's sex, wrong year, serial 0000: the mismatches are
    # warnings, which a refused registration does not carry.
    assert reasons(valid_raw(nik="0006011208910000")) == [
        ("nik", NIK_PROVINCE),
        ("nik", NIK_SERIAL),
    ]


def test_nik_format_error_skips_the_other_nik_rules() -> None:
    assert reasons(valid_raw(nik="0000000000000", sex="L")) == [("nik", NIK_FORMAT)]


# --- birth date and age ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "12-08-1990",
        "1990/08/12",
        "19900812",
        "1990-8-12",
        "1990-08-12T00:00:00",
        "1990-W32-7",
        "90-08-12",
        "1990-02-30",
        "1990-13-01",
        "1990-00-10",
        "abcd-ef-gh",
        "١٩٩٠-٠٨-١٢",
    ],
)
def test_birth_date_format(value: str) -> None:
    assert reasons(valid_raw(birth_date=value)) == [("birth_date", BIRTH_DATE_FORMAT)]


def test_birth_date_in_the_future() -> None:
    tomorrow = date(2026, 1, 16)
    nik = make_nik(tomorrow, "P")
    assert reasons(valid_raw(nik=nik, birth_date="2026-01-16")) == [("birth_date", BIRTH_DATE_FORMAT)]


def test_born_today_is_below_minimum_age() -> None:
    nik = make_nik(TODAY, "P")
    assert reasons(valid_raw(nik=nik, birth_date=TODAY.isoformat())) == [("birth_date", AGE_BELOW_MINIMUM)]


@pytest.mark.parametrize(
    ("birth", "outcome"),
    [
        (date(2011, 1, 15), None),  # exactly 15 today
        (date(2011, 1, 16), AGE_BELOW_MINIMUM),  # 15 tomorrow
        (date(2011, 1, 14), None),
        (date(1966, 1, 15), None),  # exactly 60 today
        (date(1965, 1, 16), None),  # 60 and 364 days
        (date(1965, 1, 15), AGE_ABOVE_MAXIMUM),  # 61 today
        (date(1930, 5, 1), AGE_ABOVE_MAXIMUM),
    ],
)
def test_age_boundaries(birth: date, outcome: str | None) -> None:
    raw = valid_raw(nik=make_nik(birth, "L"), sex="L", birth_date=birth.isoformat())
    if outcome is None:
        assert accepted(raw).birth_date == birth
    else:
        assert reasons(raw) == [("birth_date", outcome)]


def test_age_limits_are_configurable() -> None:
    birth = date(2009, 6, 1)  # 16 on TODAY
    raw = valid_raw(nik=make_nik(birth, "P"), birth_date=birth.isoformat())
    assert accepted(raw).birth_date == birth
    assert reasons(raw, min_age=18) == [("birth_date", AGE_BELOW_MINIMUM)]
    assert reasons(valid_raw(), max_age=30) == [("birth_date", AGE_ABOVE_MAXIMUM)]
    assert accepted(valid_raw(), min_age=35, max_age=35).nik == EXAMPLE_NIK


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(1990, 8, 12), date(2026, 1, 15), 35),
        (date(1990, 8, 12), date(2025, 8, 12), 35),
        (date(1990, 8, 12), date(2025, 8, 11), 34),
        (date(2008, 2, 29), date(2023, 2, 28), 14),
        (date(2008, 2, 29), date(2023, 3, 1), 15),
        (date(2008, 2, 29), date(2024, 2, 28), 15),
        (date(2008, 2, 29), date(2024, 2, 29), 16),
        (date(2000, 1, 1), date(2000, 1, 1), 0),
    ],
)
def test_age_on(birth: date, today: date, age: int) -> None:
    assert age_on(birth, today) == age


def test_feb_29_birthday_turns_15_on_1_march_in_a_common_year() -> None:
    nik = make_nik(date(2008, 2, 29), "L")
    assert nik == "1606012902080001"
    raw = valid_raw(nik=nik, sex="L", birth_date="2008-02-29")
    assert reasons_on(raw, date(2023, 2, 28)) == [("birth_date", AGE_BELOW_MINIMUM)]
    registration = validate_registration(raw, today=date(2023, 3, 1))
    assert isinstance(registration, Registration)
    assert registration.birth_date == date(2008, 2, 29)


def test_feb_29_woman_born_in_2000() -> None:
    nik = make_nik(date(2000, 2, 29), "P")
    assert nik == "1606016902000001"
    assert accepted(valid_raw(nik=nik, birth_date="2000-02-29")).birth_date == date(2000, 2, 29)


def test_feb_29_in_a_common_year_is_not_a_date() -> None:
    assert reasons(valid_raw(birth_date="1990-02-29")) == [("birth_date", BIRTH_DATE_FORMAT)]


# --- sex -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["X", "M", "F", "W", "LP", "Laki-laki", "Perempuan", "l.", "0"])
def test_sex_invalid(value: str) -> None:
    assert reasons(valid_raw(sex=value)) == [("sex", SEX_INVALID)]


@pytest.mark.parametrize("value", ["P", "p", " p "])
def test_sex_accepts_lower_case(value: str) -> None:
    assert accepted(valid_raw(sex=value)).sex == "P"


# --- kecamatan -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code", "name"),
    [
        ("01", "01", "Sekayu"),
        ("7", "07", "Sungai Lilin"),
        ("160607", "07", "Sungai Lilin"),
        ("16.06.09", "09", "Bayung Lencir"),
        ("SUNGAI LILIN", "07", "Sungai Lilin"),
        ("Sei Lilin", "07", "Sungai Lilin"),
        ("Sei. Keruh", "03", "Sungai Keruh"),
        ("Batanghari Leko", "04", "Batang Hari Leko"),
        ("Kecamatan Lais", "02", "Lais"),
        ("Kluang", "08", "Keluang"),
        ("plakattinggi", "10", "Plakat Tinggi"),
    ],
)
def test_kecamatan_variants(value: str, code: str, name: str) -> None:
    registration = accepted(valid_raw(kecamatan=value))
    assert (registration.kecamatan_code, registration.kecamatan_name) == (code, name)


@pytest.mark.parametrize("value", ["Palembang", "16", "160707", "Muba", "*", "Kecamatan"])
def test_kecamatan_unknown(value: str) -> None:
    assert reasons(valid_raw(kecamatan=value)) == [("kecamatan", KECAMATAN_UNKNOWN)]


@pytest.mark.parametrize(
    ("value", "code", "name"),
    [
        ("Lawan Wetan", "13", "Lawang Wetan"),  # Kepmendagri 300.2.2-2138/2025's spelling
        ("Lw. Wetan", "13", "Lawang Wetan"),
        ("Sangadesa", "05", "Sanga Desa"),
        ("Babattoman", "06", "Babat Toman"),
        ("Bayung Lincir", "09", "Bayung Lencir"),
        ("Tungkaljaya", "12", "Tungkal Jaya"),
        ("Jirakjaya", "15", "Jirak Jaya"),
        ("Babatsupat", "14", "Babat Supat"),
    ],
)
def test_partner_spellings_register_under_the_official_name(value: str, code: str, name: str) -> None:
    registration = accepted(valid_raw(kecamatan=value))
    assert (registration.kecamatan_code, registration.kecamatan_name) == (code, name)


def kecamatan_message(value: str) -> str:
    result = validate(valid_raw(kecamatan=value))
    assert isinstance(result, list)
    (reason,) = result
    assert (reason.field, reason.code) == ("kecamatan", KECAMATAN_UNKNOWN)
    return reason.message


def test_unknown_kecamatan_message_names_the_closest_known_names() -> None:
    message = kecamatan_message("Sungai Lilim")
    assert message.endswith("Mungkin maksud Anda: Sungai Lilin?")
    assert "Lilim" not in message  # the input is never repeated
    assert kecamatan_message("Babat").endswith("Mungkin maksud Anda: Babat Toman, Babat Supat?")


def test_unknown_kecamatan_far_from_every_name_gets_no_suggestion() -> None:
    message = kecamatan_message("Palembang")
    assert "Mungkin" not in message and "Palembang" not in message
    assert "Sekayu atau 01" in message


# --- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("081234567890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("+6281234567890", "+6281234567890"),
        ("81234567890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"),
        ("0812 3456 7890", "+6281234567890"),
        ("(0812) 3456.7890", "+6281234567890"),
        ("+62 (812) 3456-7890", "+6281234567890"),
        ("0812.3456.7890", "+6281234567890"),
        ("0812345678", "+62812345678"),  # 9 digits after +62
        ("0812345678901", "+62812345678901"),  # 12 digits after +62
        ("+62812345678", "+62812345678"),
        ("+62 0812 3456 7890", "+6281234567890"),  # the trunk 0 after +62 (test_phone_numbers.py)
    ],
)
def test_normalise_phone_accepts(value: str, expected: str) -> None:
    assert normalise_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "08123456",  # 7 digits after 0 -> 8 after +62
        "+6281234567",  # 8 after +62
        "08123456789012",  # 13 after +62
        "+628123456789012",  # 13 after +62
        "0711 123456",  # landline (Palembang)
        "021-5551234",
        "+18123456789",
        "+65 8123 4567",
        "0812-3456-789a",
        "0812_3456_7890",
        "++6281234567890",
        "62+81234567890",
        "008123456789",
        "0800 1234 567",  # toll-free: not a mobile number (more in test_phone_numbers.py)
        "０８１２３４５６７８９０",  # full-width digits
        "0" * 1_000,
    ],
)
def test_normalise_phone_rejects(value: str) -> None:
    assert normalise_phone(value) is None


def test_phone_invalid_in_registration() -> None:
    assert reasons(valid_raw(phone="0711 123456")) == [("phone", PHONE_INVALID)]
    assert accepted(valid_raw(phone="0812 345 678")).phone == "+62812345678"


# --- full name -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Siti Aminah", "Siti Aminah"),
        ("O'Brien", "O'Brien"),
        ("Muh. Yusuf", "Muh. Yusuf"),
        ("Nur-Aini", "Nur-Aini"),
        ("Ma’ruf Amin", "Ma’ruf Amin"),
        ("Ni Luh Putu Ayu", "Ni Luh Putu Ayu"),
        ("Renée Sitompul", "Renée Sitompul"),
        ("Đặng Thị Hương", "Đặng Thị Hương"),
        ("李小龍", "李小龍"),
        ("ꦱꦶꦠꦶ", "ꦱꦶꦠꦶ"),  # Javanese script with vowel signs (combining marks)
        ("  Budi \t\n Santoso  ", "Budi Santoso"),
        ("A", "A"),
    ],
)
def test_full_name_accepts_letters_and_name_punctuation(value: str, expected: str) -> None:
    assert accepted(valid_raw(full_name=value)).full_name == expected


def test_full_name_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "José Ramírez")
    assert decomposed != "José Ramírez"
    assert accepted(valid_raw(full_name=decomposed)).full_name == "José Ramírez"


@pytest.mark.parametrize(
    "value",
    ["Budi 2", "Budi@Santoso", "Siti_Aminah", "R2D2", "...", "- ' .", "Budi 😀", "Siti, Aminah", "Budi\x00"],
)
def test_name_invalid(value: str) -> None:
    assert reasons(valid_raw(full_name=value)) == [("full_name", NAME_INVALID)]


def test_name_length_boundary() -> None:
    assert accepted(valid_raw(full_name="a" * 100)).full_name == "a" * 100
    assert reasons(valid_raw(full_name="a" * 101)) == [("full_name", NAME_TOO_LONG)]
    assert reasons(valid_raw(full_name="Siti " * 20 + "A")) == [("full_name", NAME_TOO_LONG)]


def test_name_length_is_measured_after_trimming_and_collapsing() -> None:
    assert accepted(valid_raw(full_name="  " + "a" * 100 + "  ")).full_name == "a" * 100
    name = "a" * 50 + "      " + "b" * 49
    assert accepted(valid_raw(full_name=name)).full_name == "a" * 50 + " " + "b" * 49


# --- occupation, desa, income --------------------------------------------------------------------


def test_occupation_length() -> None:
    assert accepted(valid_raw(occupation="x")).occupation == "x"
    assert accepted(valid_raw(occupation="x" * 100)).occupation == "x" * 100
    assert reasons(valid_raw(occupation="x" * 101)) == [("occupation", OCCUPATION_INVALID)]


def test_occupation_rejects_control_characters() -> None:
    assert reasons(valid_raw(occupation="petani\x00karet")) == [("occupation", OCCUPATION_INVALID)]


def test_desa() -> None:
    assert accepted(valid_raw(desa="d" * 100)).desa == "d" * 100
    assert reasons(valid_raw(desa="d" * 101)) == [("desa", DESA_INVALID)]
    assert reasons(valid_raw(desa=12)) == [("desa", DESA_INVALID)]
    assert reasons(valid_raw(desa=["Balai Agung"])) == [("desa", DESA_INVALID)]
    assert reasons(valid_raw(desa=True)) == [("desa", DESA_INVALID)]
    assert reasons(valid_raw(desa="Balai\x07Agung")) == [("desa", DESA_INVALID)]


@pytest.mark.parametrize("value", [0, 1, 1_000_000, 1_000_000_000])
def test_income_accepted(value: int) -> None:
    assert accepted(valid_raw(declared_income_idr=value)).declared_income_idr == value


@pytest.mark.parametrize("value", [-1, 1_000_000_001, 10**30, True, False, 1_000_000.0, 1.5, "1000000", [1]])
def test_income_invalid(value: object) -> None:
    assert reasons(valid_raw(declared_income_idr=value)) == [("declared_income_idr", INCOME_INVALID)]


# --- several reasons at once ---------------------------------------------------------------------


def test_every_reason_is_collected_in_form_order() -> None:
    raw: dict[str, object] = {
        "submission_id": 17,
        "source": "",
        "nik": "1606.0152.0890-0000",
        "full_name": "Budi 2",
        "birth_date": "1990-08-13",
        "sex": "L",
        "phone": "0711 123456",
        "kecamatan": "Palembang",
        "desa": 5,
        "occupation": "x" * 101,
        "declared_income_idr": -5,
    }
    assert reasons(raw) == [
        ("submission_id", INVALID_TYPE),
        ("source", MISSING_FIELD),
        ("nik", NIK_SERIAL),
        ("full_name", NAME_INVALID),
        ("phone", PHONE_INVALID),
        ("kecamatan", KECAMATAN_UNKNOWN),
        ("desa", DESA_INVALID),
        ("occupation", OCCUPATION_INVALID),
        ("declared_income_idr", INCOME_INVALID),
    ]


def test_age_and_nik_reasons_together() -> None:
    # A 12-year-old whose NIK says 1990 and female, registered as male with a bad phone: the NIK's
    # disagreements are warnings, the age and the phone are what refuse it.
    assert reasons(valid_raw(birth_date="2013-08-12", sex="L", phone="12345")) == [
        ("birth_date", AGE_BELOW_MINIMUM),
        ("phone", PHONE_INVALID),
    ]


def test_missing_and_invalid_fields_together() -> None:
    raw = without("phone", "kecamatan")
    raw["sex"] = 1
    raw["full_name"] = "x" * 101
    assert reasons(raw) == [
        ("full_name", NAME_TOO_LONG),
        ("sex", INVALID_TYPE),
        ("phone", MISSING_FIELD),
        ("kecamatan", MISSING_FIELD),
    ]


# --- messages ------------------------------------------------------------------------------------


def test_messages_are_indonesian_and_do_not_echo_the_nik_or_phone() -> None:
    nik = "1606.0152.0890-0000"
    phone = "0711 7654321"
    result = validate(valid_raw(nik=nik, sex="L", phone=phone, full_name="R2D2"))
    assert isinstance(result, list)
    assert {reason.code for reason in result} == {NIK_SERIAL, PHONE_INVALID, NAME_INVALID}
    for reason in result:
        assert reason.message
        assert len(reason.message) < 200
        assert "16060152" not in reason.message
        assert "7654321" not in reason.message
        assert "R2D2" not in reason.message
    by_code = {reason.code: reason.message for reason in result}
    assert "NIK" in by_code[NIK_SERIAL]
    assert "Nomor HP" in by_code[PHONE_INVALID]


def test_every_rejection_has_a_message_for_each_reason() -> None:
    result = validate({})
    assert isinstance(result, list)
    assert all(reason.message.endswith("wajib diisi.") for reason in result)


# --- huge input ----------------------------------------------------------------------------------

MEGABYTE = 1_000_000


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("submission_id", "s" * MEGABYTE, [("submission_id", INVALID_TYPE)]),
        ("source", "s" * MEGABYTE, [("source", INVALID_TYPE)]),
        ("nik", "1" * MEGABYTE, [("nik", NIK_FORMAT)]),
        ("nik", "1606-" * (MEGABYTE // 5), [("nik", NIK_FORMAT)]),
        ("full_name", "a" * MEGABYTE, [("full_name", NAME_TOO_LONG)]),
        ("full_name", "a " * (MEGABYTE // 2), [("full_name", NAME_TOO_LONG)]),
        ("birth_date", "1" * MEGABYTE, [("birth_date", BIRTH_DATE_FORMAT)]),
        ("sex", "P" * MEGABYTE, [("sex", SEX_INVALID)]),
        ("phone", "0812" * (MEGABYTE // 4), [("phone", PHONE_INVALID)]),
        ("kecamatan", "Sekayu" * (MEGABYTE // 6), [("kecamatan", KECAMATAN_UNKNOWN)]),
        ("occupation", "x" * MEGABYTE, [("occupation", OCCUPATION_INVALID)]),
        ("desa", "d " * (MEGABYTE // 2), [("desa", DESA_INVALID)]),
    ],
)
def test_megabyte_string_is_rejected_fast(field: str, value: str, expected: list[tuple[str, str]]) -> None:
    started = time.perf_counter()
    result = validate(valid_raw(**{field: value}))
    elapsed = time.perf_counter() - started
    assert isinstance(result, list)
    assert [(reason.field, reason.code) for reason in result] == expected
    assert all(len(reason.message) < 200 for reason in result)
    assert elapsed < 0.25


def test_megabyte_strings_everywhere_are_rejected_fast() -> None:
    huge = "9" * MEGABYTE
    raw: dict[str, object] = {field: huge for field in [*REQUIRED, "desa"]}
    started = time.perf_counter()
    result = reasons(raw)
    assert time.perf_counter() - started < 0.5
    assert result == [
        ("submission_id", INVALID_TYPE),
        ("source", INVALID_TYPE),
        ("nik", NIK_FORMAT),
        ("full_name", NAME_TOO_LONG),
        ("birth_date", BIRTH_DATE_FORMAT),
        ("sex", SEX_INVALID),
        ("phone", PHONE_INVALID),
        ("kecamatan", KECAMATAN_UNKNOWN),
        ("desa", DESA_INVALID),
        ("occupation", OCCUPATION_INVALID),
    ]
