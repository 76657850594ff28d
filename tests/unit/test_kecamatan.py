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


# --- the spellings partners really send (issue 12) --------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # 16.06.13: the decree's spelling (Kepmendagri 300.2.2-2138/2025), ours, and abbreviations.
        ("Lawan Wetan", "13"),
        ("LAWAN WETAN", "13"),
        ("lawanwetan", "13"),
        ("Kec. Lawan Wetan", "13"),
        ("Lawang Wetan", "13"),
        ("Lawangwetan", "13"),
        ("Lw. Wetan", "13"),
        ("Lw Wetan", "13"),
        ("Lwg. Wetan", "13"),
        ("160613", "13"),
        ("Batanghari Leko", "04"),
        ("Btg. Hari Leko", "04"),
        ("BATANGHARI LEKO", "04"),
        ("Sangadesa", "05"),
        ("Sanga  Desa", "05"),
        ("Babat Toman", "06"),
        ("Babattoman", "06"),
        ("Babat-Toman", "06"),
        ("Sei Lilin", "07"),
        ("S. Lilin", "07"),
        ("Sei.Lilin", "07"),
        ("Bayung Lincir", "09"),
        ("Bayunglincir", "09"),
        ("Plakat Tinggi", "10"),
        ("Pelakat Tinggi", "10"),
        ("Tungkaljaya", "12"),
        ("Tungkal jaya", "12"),
        ("Jirakjaya", "15"),
        ("Babatsupat", "14"),
        ("S. Keruh", "03"),
        # The regency named after the kecamatan, accents, stray dots.
        ("Sekayu, Musi Banyuasin", "01"),
        ("Sekayu Kab. Musi Banyuasin", "01"),
        ("Lais (Muba)", "02"),
        ("Lalan - Kabupaten Muba", "11"),
        ("Sékayu", "01"),
        ("Keluang.", "08"),
    ],
)
def test_resolves_the_spellings_partners_send(value: str, expected: str) -> None:
    assert resolve_kecamatan(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Lawan",
        "Wetan",
        "Lw",
        "Muba",
        "Musi Banyuasin",
        "Kabupaten Musi Banyuasin",
        "Banyuasin III",  # a kecamatan of Banyuasin, not of Muba
        "Talang Kelapa",
        "Babat",  # Babat Toman or Babat Supat: ambiguous, so unknown
        "Sungai",
        "S.",
        "Jaya",
        "Lawang Wetan 2",
    ],
)
def test_ambiguous_or_foreign_names_stay_unknown(value: str) -> None:
    assert resolve_kecamatan(value) is None


def test_no_spelling_names_two_kecamatan() -> None:
    from shared import kecamatan

    codes_by_key: dict[str, set[str]] = {}
    spellings = [*KECAMATAN.items(), *kecamatan.KEPMENDAGRI_NAMES.items()]
    spellings += [(code, key) for key, code in kecamatan._NAME_ALIASES.items()]
    for code, name in spellings:
        codes_by_key.setdefault(kecamatan._name_key(name), set()).add(code)
    assert all(len(codes) == 1 for codes in codes_by_key.values()), codes_by_key
    assert set(kecamatan._BY_COMPACT_NAME.values()) == set(KECAMATAN)


def test_the_decree_spelling_of_13_is_kept_beside_the_display_name() -> None:
    from shared.kecamatan import KEPMENDAGRI_NAMES

    assert kecamatan_name("13") == "Lawang Wetan"  # what workers and the office read
    assert KEPMENDAGRI_NAMES["13"] == "Lawan Wetan"  # Kepmendagri 300.2.2-2138/2025
    assert {code: name for code, name in KEPMENDAGRI_NAMES.items() if name != KECAMATAN[code]} == {
        "13": "Lawan Wetan"
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sekayuu", ["Sekayu"]),
        ("Sekaju", ["Sekayu"]),
        ("Sungai Lilim", ["Sungai Lilin"]),
        ("Lawan Weta", ["Lawang Wetan"]),
        ("Bayung Lencer", ["Bayung Lencir"]),
        ("Babat", ["Babat Toman", "Babat Supat"]),
        ("Kec. Tungkal", ["Tungkal Jaya"]),
        ("Palembang", []),
        ("Jambi", []),
        ("", []),
        ("x" * 101, []),
    ],
)
def test_suggests_the_closest_official_names(value: str, expected: list[str]) -> None:
    from shared.kecamatan import suggest_kecamatan

    assert suggest_kecamatan(value) == expected


def test_suggestions_are_at_most_three_official_names() -> None:
    from shared.kecamatan import suggest_kecamatan

    suggestions = suggest_kecamatan("Sungai")
    assert len(suggestions) in range(1, 4)
    assert set(suggestions) <= set(KECAMATAN.values())
    assert all(len(suggest_kecamatan(v)) <= 3 for v in ["Sungai Jaya", "Babat Jaya", "Lalan Jaya", "S"])
