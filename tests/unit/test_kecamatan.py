import time

import pytest

from shared.kecamatan import (
    KECAMATAN,
    REGENCY_CODE,
    WHOLE_REGENCY,
    kecamatan_name,
    resolve_kecamatan,
)


def test_table_has_the_fifteen_official_kecamatan() -> None:
    assert KECAMATAN == {
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


def test_regency_constants() -> None:
    assert REGENCY_CODE == "1606"
    assert WHOLE_REGENCY == "*"


@pytest.mark.parametrize("code", sorted(KECAMATAN))
def test_every_code_resolves_to_itself(code: str) -> None:
    assert resolve_kecamatan(code) == code


@pytest.mark.parametrize(("code", "name"), sorted(KECAMATAN.items()))
def test_every_official_name_resolves_in_any_form(code: str, name: str) -> None:
    assert resolve_kecamatan(name) == code
    assert resolve_kecamatan(name.upper()) == code
    assert resolve_kecamatan(name.lower()) == code
    assert resolve_kecamatan(name.replace(" ", "")) == code
    assert resolve_kecamatan(name.replace(" ", "-")) == code
    assert resolve_kecamatan(f"  {name}  ") == code
    assert resolve_kecamatan(f"Kecamatan {name}") == code
    assert resolve_kecamatan(f"Kec. {name}") == code
    assert resolve_kecamatan(f"{REGENCY_CODE}{code}") == code
    assert resolve_kecamatan(f"16.06.{code}") == code


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01", "01"),
        ("1", "01"),
        (" 07 ", "07"),
        ("9", "09"),
        ("15", "15"),
        ("160607", "07"),
        ("16.06.07", "07"),
        ("16 06 07", "07"),
        ("1606.15", "15"),
        ("SEKAYU", "01"),
        ("sungai lilin", "07"),
        ("Sungai-Lilin", "07"),
        ("sungaililin", "07"),
        ("Sungai   Lilin", "07"),
        ("Sei Lilin", "07"),
        ("Sei. Lilin", "07"),
        ("Seililin", "07"),
        ("Sg. Lilin", "07"),
        ("Sei. Keruh", "03"),
        ("SEI KERUH", "03"),
        ("Batanghari Leko", "04"),
        ("Batang Hari Leko", "04"),
        ("Bayunglencir", "09"),
        ("Babattoman", "06"),
        ("Plakat Tinggi", "10"),
        ("Plakattinggi", "10"),
        ("Kec. Sekayu", "01"),
        ("Kec.Sekayu", "01"),
        ("kec sekayu", "01"),
        ("Kecamatan Lais", "02"),
        ("KECAMATAN SUNGAI LILIN", "07"),
        ("Kecamatan-Lalan", "11"),
        ("Kec: 07", "07"),
        ("Keluang", "08"),
        ("Kluang", "08"),
        ("lais.", "02"),
        ("Jirak Jaya", "15"),
        ("Babat Supat", "14"),
    ],
)
def test_resolves_codes_and_variants(value: str, expected: str) -> None:
    assert resolve_kecamatan(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "0",
        "00",
        "16",
        "99",
        "001",
        "160600",
        "160616",
        "160707",  # regency 07 is not Muba
        "1606",
        "1606077",
        "*",
        "Kecamatan",
        "Kec.",
        "Palembang",
        "Banyuasin",
        "Sekayu 02",
        "Kecil",
        "Sungai",
        "Lilin",
        "Sekayuu",
        "S3kayu",
    ],
)
def test_unknown_values_resolve_to_none(value: str) -> None:
    assert resolve_kecamatan(value) is None


def test_non_string_resolves_to_none() -> None:
    assert resolve_kecamatan(7) is None  # type: ignore[arg-type]
    assert resolve_kecamatan(None) is None  # type: ignore[arg-type]


def test_huge_input_is_rejected_fast() -> None:
    huge = "Sekayu " * 150_000
    started = time.perf_counter()
    assert resolve_kecamatan(huge) is None
    assert resolve_kecamatan("1" * 1_000_000) is None
    assert time.perf_counter() - started < 0.1


def test_kecamatan_name() -> None:
    assert kecamatan_name("01") == "Sekayu"
    assert kecamatan_name("07") == "Sungai Lilin"
    assert kecamatan_name("15") == "Jirak Jaya"
    assert kecamatan_name(WHOLE_REGENCY) == "Seluruh Kabupaten Musi Banyuasin"


@pytest.mark.parametrize("code", ["", "7", "16", "00", "Sekayu"])
def test_kecamatan_name_rejects_unknown_codes(code: str) -> None:
    with pytest.raises(KeyError):
        kecamatan_name(code)
