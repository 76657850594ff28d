from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.sponsorship.domain import (
    Commitment,
    Coverage,
    Discount,
    IncomeBand,
    Offer,
    OpenCommitment,
    Pricing,
    Sector,
    Tariff,
    TariffTable,
    TariffTableError,
    WorkerToMatch,
    choose_commitment,
    commitment_budget,
    covers,
    occupation_sector,
    offers_for,
    prefers_occupation,
    table_document,
    table_from_document,
    validate_commitment,
)
from services.sponsorship.repository import default_tariff_table
from shared.events.sponsorship import Package
from shared.validation import Reason

TABLE = default_tariff_table()  # services/sponsorship/tariffs/bpu.json
TARIFF = TABLE.tariffs[0]
DISCOUNTS = TABLE.discounts
JUNE_2025 = date(2025, 6, 1)  # before PP 50/2025


def monthly(package: Package, income: int | None, month: date, sector: Sector, discount: bool) -> int:
    return TABLE.monthly_contribution(package, income, month, sector, discount)


# --- tariffs: the floor and the JKK income bands (PP 44/2015 Lampiran II as amended) ------------


def test_floor_figures() -> None:
    assert monthly("JKK_JKM", 1_000_000, JUNE_2025, "other", True) == 16_800  # JKK 10,000 + JKM 6,800
    assert monthly("JKK_JKM_JHT", 1_000_000, JUNE_2025, "other", True) == 36_800  # + JHT 2% = 20,000


def test_income_below_floor_or_unknown_uses_floor() -> None:
    assert monthly("JKK_JKM", 500_000, JUNE_2025, "other", False) == 16_800
    assert monthly("JKK_JKM", None, JUNE_2025, "other", False) == 16_800
    assert monthly("JKK_JKM_JHT", 0, JUNE_2025, "other", False) == 36_800


def test_jkk_is_the_bands_fixed_amount_not_one_percent_of_the_declared_income() -> None:
    # 1,250,000 falls in the band 1,000,001..1,500,000 (nominal 1,500,000): JKK 15,000, not 12,500
    assert TABLE.jkk(1_250_000, JUNE_2025) == 15_000
    assert monthly("JKK_JKM", 1_250_000, JUNE_2025, "other", False) == 15_000 + 6_800
    # JHT stays 2% of the declared income
    assert monthly("JKK_JKM_JHT", 1_250_000, JUNE_2025, "other", False) == 15_000 + 6_800 + 25_000
    assert TABLE.jkk(1_000_001, JUNE_2025) == 15_000 and TABLE.jkk(1_500_000, JUNE_2025) == 15_000
    assert TABLE.jkk(1_500_001, JUNE_2025) == 20_000


def test_top_band() -> None:
    assert TABLE.jkk(20_500_001, JUNE_2025) == 207_000
    assert TABLE.jkk(100_000_000, JUNE_2025) == 207_000
    assert TABLE.jkk(20_500_000, JUNE_2025) == 205_000  # the band below it
    assert TARIFF.jkk_bands[-1] == IncomeBand(20_500_001, None, 20_700_000, 207_000)
    assert monthly("JKK_JKM", 30_000_000, JUNE_2025, "other", False) == 207_000 + 6_800


def test_every_band_is_one_percent_of_its_nominal_income() -> None:
    assert TARIFF.jkk_bands[0] == IncomeBand(0, 1_000_000, 1_000_000, 10_000)
    assert all(b.jkk_idr * 100 == b.nominal_income_idr for b in TARIFF.jkk_bands)


def test_the_default_table_is_marked_uncertain() -> None:
    assert TABLE.info.uncertain is not None and "verify against Lampiran II" in TABLE.info.uncertain


def test_jht_rounds_half_up() -> None:
    # JHT 2% of 1,234,575 = 24,691.5 -> 24,692; JKK by band 15,000
    assert monthly("JKK_JKM_JHT", 1_234_575, JUNE_2025, "other", False) == 15_000 + 6_800 + 24_692


# --- PP 50/2025 ----------------------------------------------------------------------------------


def test_discount_halves_jkk_and_jkm_but_not_jht() -> None:
    assert monthly("JKK_JKM", None, date(2026, 5, 1), "other", True) == 8_400
    assert monthly("JKK_JKM_JHT", None, date(2026, 5, 1), "other", True) == 28_400
    # a band above the floor: JKK 15,000 -> 7,500, JKM 3,400, JHT 2% of 1,250,000 = 25,000 whole
    assert monthly("JKK_JKM_JHT", 1_250_000, date(2026, 5, 1), "other", True) == 7_500 + 3_400 + 25_000


def test_december_2026_transport_and_other() -> None:
    dec = date(2026, 12, 1)
    assert monthly("JKK_JKM", None, dec, "transport", True) == 8_400
    assert monthly("JKK_JKM", None, dec, "other", True) == 8_400  # the last discounted month for "other"
    assert monthly("JKK_JKM", None, dec, "transport", False) == 16_800
    assert monthly("JKK_JKM", None, dec, "other", False) == 16_800
    assert monthly("JKK_JKM_JHT", 1_250_000, dec, "transport", True) == 7_500 + 3_400 + 25_000


def test_january_2027_only_transport() -> None:
    jan = date(2027, 1, 1)
    assert monthly("JKK_JKM", None, jan, "transport", True) == 8_400  # until March 2027
    assert monthly("JKK_JKM", None, jan, "other", True) == 16_800
    assert monthly("JKK_JKM", None, jan, "transport", False) == 16_800


def test_discount_rounding_leaves_the_payable_amount_rounded_up() -> None:
    # An odd amount an office table might bring: JKK 10,001 -> 5,000.5 to pay -> 5,001 (never short)
    odd = replace(TARIFF, jkk_bands=(IncomeBand(0, None, 1_000_100, 10_001),), jkm_idr=6_801)
    table = TariffTable([odd], DISCOUNTS)
    assert table.monthly_contribution("JKK_JKM", None, date(2026, 5, 1), "other", True) == 5_001 + 3_401


def test_discount_only_when_applied() -> None:
    assert monthly("JKK_JKM", None, date(2026, 5, 1), "other", False) == 16_800


def test_discount_windows_per_sector() -> None:
    jan_2026 = date(2026, 1, 15)
    assert monthly("JKK_JKM", None, jan_2026, "transport", True) == 8_400
    assert monthly("JKK_JKM", None, jan_2026, "other", True) == 16_800
    assert monthly("JKK_JKM", None, date(2026, 3, 1), "other", True) == 16_800
    assert monthly("JKK_JKM", None, date(2026, 4, 1), "other", True) == 8_400
    assert monthly("JKK_JKM", None, date(2027, 3, 31), "transport", True) == 8_400
    assert monthly("JKK_JKM", None, date(2027, 4, 1), "transport", True) == 16_800
    assert monthly("JKK_JKM", None, date(2025, 12, 22), "transport", True) == 16_800


def test_coverage_counts_calendar_months_from_start_month() -> None:
    assert TABLE.coverage_cost("JKK_JKM", None, date(2025, 1, 31), 12, "other", True) == 12 * 16_800


def test_coverage_spanning_end_of_discount() -> None:
    # Oct, Nov, Dec 2026 discounted; Jan, Feb, Mar 2027 full price
    cost = TABLE.coverage_cost("JKK_JKM", None, date(2026, 10, 10), 6, "other", True)
    assert cost == 3 * 8_400 + 3 * 16_800


def test_twelve_months_from_december_2026_transport() -> None:
    # Dec 2026 .. Mar 2027 discounted (4 months), Apr .. Nov 2027 full: the Rp33,600 of the issue
    discounted = TABLE.coverage_cost("JKK_JKM", None, date(2026, 12, 1), 12, "transport", True)
    full = TABLE.coverage_cost("JKK_JKM", None, date(2026, 12, 1), 12, "transport", False)
    assert discounted == 4 * 8_400 + 8 * 16_800 and full - discounted == 33_600


def test_coverage_spanning_start_of_discount() -> None:
    # Nov, Dec 2025 full; Jan 2026 discounted for transport
    cost = TABLE.coverage_cost("JKK_JKM_JHT", None, date(2025, 11, 1), 3, "transport", True)
    assert cost == 2 * 36_800 + 28_400


def test_no_tariff_raises() -> None:
    with pytest.raises(ValueError, match="no tariff covers the month 2015-06"):
        TABLE.monthly_contribution("JKK_JKM", None, date(2015, 6, 30), "other", False)


def test_later_tariff_row_applies_from_its_month() -> None:
    old = replace(TARIFF, valid_to=date(2026, 6, 30))
    new = Tariff(date(2026, 7, 1), None, 1_200_000, (IncomeBand(0, None, 1_200_000, 12_000),), 7_000, 20)
    table = TariffTable([old, new], [])
    assert table.coverage_cost("JKK_JKM", None, date(2026, 6, 1), 2, "other", False) == 16_800 + 19_000


# --- the table's validation: each refusal names the row and why ------------------------------------


def problems_of(document: object) -> list[str]:
    with pytest.raises(TariffTableError) as refused:
        table_from_document(document)
    return [str(p) for p in refused.value.problems]


def document(**changes: object) -> dict[str, object]:
    doc = table_document(TABLE)
    doc.update(changes)
    return doc


def with_tariff(**changes: object) -> dict[str, object]:
    doc = table_document(TABLE)
    tariff = dict(doc["tariffs"][0])  # type: ignore[index]
    tariff.update(changes)
    doc["tariffs"] = [tariff]
    return doc


def test_the_document_reads_back_to_the_same_table() -> None:
    again = table_from_document(table_document(TABLE))
    assert again.tariffs == TABLE.tariffs and again.discounts == TABLE.discounts and again.info == TABLE.info


def test_overlapping_tariffs_refused() -> None:
    doc = table_document(TABLE)
    second = dict(doc["tariffs"][0]) | {"valid_from": "2020-01-01"}  # type: ignore[index]
    doc["tariffs"] = [doc["tariffs"][0], second]  # type: ignore[index]
    assert any(p.startswith("tariffs[1]: overlaps tariffs[0]") for p in problems_of(doc))


def test_a_gap_between_tariffs_refused() -> None:
    doc = table_document(TABLE)
    first = dict(doc["tariffs"][0]) | {"valid_to": "2019-12-31"}  # type: ignore[index]
    second = dict(doc["tariffs"][0]) | {"valid_from": "2020-02-01"}  # type: ignore[index]
    doc["tariffs"] = [first, second]
    assert any(p.startswith("tariffs[1]: a gap") for p in problems_of(doc))


def test_overlapping_discounts_same_sector_refused() -> None:
    doc = table_document(TABLE)
    extra = {
        "name": "extra",
        "sector": "other",
        "valid_from": "2026-06-01",
        "valid_to": "2026-07-31",
        "percent": 10,
    }
    doc["discounts"] = [*doc["discounts"], extra]  # type: ignore[misc]
    assert any(p.startswith("discounts[2]: overlaps discounts[1]") for p in problems_of(doc))


def test_negative_amounts_refused() -> None:
    assert "tariffs[0].jkm_idr: -1: negative amount" in problems_of(with_tariff(jkm_idr=-1))
    bands = [dict(b) for b in with_tariff()["tariffs"][0]["jkk_bands"]]  # type: ignore[index]
    bands[3]["jkk_idr"] = -5
    assert "tariffs[0].jkk_bands[3].jkk_idr: -5: negative amount" in problems_of(with_tariff(jkk_bands=bands))


def test_unsorted_bands_refused() -> None:
    bands = [dict(b) for b in with_tariff()["tariffs"][0]["jkk_bands"]]  # type: ignore[index]
    bands[2], bands[3] = bands[3], bands[2]
    found = problems_of(with_tariff(jkk_bands=bands))
    assert any(p.startswith("tariffs[0].jkk_bands[3]: not sorted") for p in found), found


def test_gapped_and_overlapping_bands_refused() -> None:
    bands = [dict(b) for b in with_tariff()["tariffs"][0]["jkk_bands"]]  # type: ignore[index]
    bands[5]["income_from_idr"] += 1_000  # type: ignore[operator]
    found = problems_of(with_tariff(jkk_bands=bands))
    assert any(p.startswith("tariffs[0].jkk_bands[5]: a gap") for p in found), found
    bands = [dict(b) for b in with_tariff()["tariffs"][0]["jkk_bands"]]  # type: ignore[index]
    bands[5]["income_from_idr"] -= 1_000  # type: ignore[operator]
    found = problems_of(with_tariff(jkk_bands=bands))
    assert any(p.startswith("tariffs[0].jkk_bands[5]: an overlap") for p in found), found


def test_the_last_band_must_be_open_and_the_floor_in_a_band() -> None:
    bands = [dict(b) for b in with_tariff()["tariffs"][0]["jkk_bands"]][:-1]  # type: ignore[index]
    assert any(
        "the last band must have no upper bound" in p for p in problems_of(with_tariff(jkk_bands=bands))
    )
    bands = [dict(b) for b in with_tariff()["tariffs"][0]["jkk_bands"]][1:]  # type: ignore[index]
    assert any("above the income floor" in p for p in problems_of(with_tariff(jkk_bands=bands)))


def test_wrong_types_dates_and_unknown_fields_refused() -> None:
    found = problems_of(with_tariff(valid_from="1 Juli 2015", income_floor_idr="1000000", valid_until="x"))
    assert "tariffs[0].valid_from: '1 Juli 2015': a date YYYY-MM-DD expected" in found
    assert "tariffs[0].income_floor_idr: '1000000': a whole number expected" in found
    assert any(p.startswith("tariffs[0].valid_until: unknown field") for p in found)
    assert any(p.startswith("format:") for p in problems_of(document(format="v0")))
    assert problems_of([]) == ["(document): an object expected"]


def test_discount_percent_and_sector_checked() -> None:
    doc = table_document(TABLE)
    doc["discounts"] = [dict(doc["discounts"][0]) | {"sector": "mining"}]  # type: ignore[index]
    assert any(p.startswith("discounts[0].sector: 'mining'") for p in problems_of(doc))
    doc["discounts"] = [dict(doc["discounts"][0]) | {"sector": "other", "percent": 150}]  # type: ignore[index]
    assert "discounts[0].percent: 150: between 0 and 100" in problems_of(doc)


def test_the_constructor_refuses_what_the_document_would() -> None:
    with pytest.raises(TariffTableError, match="overlap"):
        TariffTable([TARIFF, replace(TARIFF, valid_from=date(2020, 1, 1))], [])
    extra = Discount(date(2026, 6, 1), date(2026, 7, 31), "other", 10, "extra")
    with pytest.raises(TariffTableError, match="overlap"):
        TariffTable([TARIFF], [*DISCOUNTS, extra])


def test_coverage_needs_at_least_one_month() -> None:
    with pytest.raises(ValueError):
        TABLE.coverage_cost("JKK_JKM", None, date(2025, 1, 1), 0, "other", False)


# --- sector ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "occupation",
    ["Ojek", "ojol", "Driver Gojek", "sopir truk", "SUPIR angkot", "kurir paket", "Courier", "tukang becak"],
)
def test_transport_occupations(occupation: str) -> None:
    assert occupation_sector(occupation) == "transport"


@pytest.mark.parametrize(
    "occupation", ["penyadap karet", "nelayan", "pedagang kaki lima", "buruh sawit", "driverless", ""]
)
def test_other_occupations(occupation: str) -> None:
    assert occupation_sector(occupation) == "other"


# --- commitment validation ---------------------------------------------------------------------


def valid_raw(**changes: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "commitment_id": "cmt-1",
        "company_id": "medco",
        "company_name": "Medco E&P Grissik",
        "kecamatan": ["Batang Hari Leko", "09"],
        "slots": 500,
        "months": 12,
        "package": "JKK_JKM",
        "preferred_occupations": ["  Penyadap  KARET ", "nelayan", "penyadap karet"],
        "email": "csr@medco.example",
    }
    raw.update(changes)
    return raw


def reasons_of(raw: dict[str, object]) -> list[Reason]:
    result = validate_commitment(raw)
    assert isinstance(result, list), result
    return result


def codes(raw: dict[str, object]) -> set[tuple[str, str]]:
    return {(r.field, r.code) for r in reasons_of(raw)}


def test_valid_commitment() -> None:
    result = validate_commitment(valid_raw())
    assert result == Commitment(
        commitment_id="cmt-1",
        company_id="medco",
        company_name="Medco E&P Grissik",
        kecamatan_codes=frozenset({"04", "09"}),
        whole_regency=False,
        slots=500,
        months=12,
        package="JKK_JKM",
        preferred_occupations=("penyadap karet", "nelayan"),
        email="csr@medco.example",
        webhook_url=None,
    )


def test_whole_regency_commitment() -> None:
    result = validate_commitment(
        valid_raw(kecamatan=["*"], email=None, webhook_url="https://hindoli.example/h")
    )
    assert isinstance(result, Commitment)
    assert result.whole_regency
    assert result.kecamatan_codes == frozenset()
    assert result.webhook_url == "https://hindoli.example/h"
    assert result.email is None


def test_optional_preferred_occupations() -> None:
    raw = valid_raw()
    del raw["preferred_occupations"]
    result = validate_commitment(raw)
    assert isinstance(result, Commitment)
    assert result.preferred_occupations == ()


@pytest.mark.parametrize("field", ["commitment_id", "company_id", "company_name"])
def test_required_text_fields(field: str) -> None:
    raw = valid_raw()
    del raw[field]
    assert codes(raw) == {(field, "MISSING_FIELD")}
    assert codes(valid_raw(**{field: 7})) == {(field, "INVALID_TYPE")}
    assert codes(valid_raw(**{field: "   "})) == {(field, "VALUE_EMPTY")}
    assert codes(valid_raw(**{field: "x" * 201})) == {(field, "VALUE_TOO_LONG")}
    assert isinstance(validate_commitment(valid_raw(**{field: "x" * 200})), Commitment)


def test_null_counts_as_missing() -> None:
    assert codes(valid_raw(company_name=None)) == {("company_name", "MISSING_FIELD")}


def test_kecamatan_missing_wrong_type_empty() -> None:
    raw = valid_raw()
    del raw["kecamatan"]
    assert codes(raw) == {("kecamatan", "MISSING_FIELD")}
    assert codes(valid_raw(kecamatan="Sekayu")) == {("kecamatan", "INVALID_TYPE")}
    assert codes(valid_raw(kecamatan=[])) == {("kecamatan", "KECAMATAN_EMPTY")}
    assert codes(valid_raw(kecamatan=["Sekayu", 3])) == {("kecamatan[1]", "INVALID_TYPE")}


def test_each_unknown_kecamatan_is_named() -> None:
    reasons = reasons_of(valid_raw(kecamatan=["Sekayu", "Palembang", "99"]))
    assert [(r.field, r.code) for r in reasons] == [
        ("kecamatan[1]", "KECAMATAN_UNKNOWN"),
        ("kecamatan[2]", "KECAMATAN_UNKNOWN"),
    ]
    assert "Palembang" in reasons[0].message
    assert "99" in reasons[1].message


def test_whole_regency_cannot_be_mixed() -> None:
    assert codes(valid_raw(kecamatan=["*", "Sekayu"])) == {("kecamatan", "KECAMATAN_MIXED")}


@pytest.mark.parametrize("slots", [0, -1, 100_001])
def test_slots_out_of_range(slots: int) -> None:
    assert codes(valid_raw(slots=slots)) == {("slots", "SLOTS_INVALID")}


@pytest.mark.parametrize("slots", [True, 5.0, "5"])
def test_slots_wrong_type(slots: object) -> None:
    assert codes(valid_raw(slots=slots)) == {("slots", "INVALID_TYPE")}


def test_slots_bounds_accepted() -> None:
    assert isinstance(validate_commitment(valid_raw(slots=1)), Commitment)
    assert isinstance(validate_commitment(valid_raw(slots=100_000)), Commitment)


@pytest.mark.parametrize("months", [0, 61])
def test_months_out_of_range(months: int) -> None:
    assert codes(valid_raw(months=months)) == {("months", "MONTHS_INVALID")}


def test_months_wrong_type_and_bounds() -> None:
    assert codes(valid_raw(months=False)) == {("months", "INVALID_TYPE")}
    assert isinstance(validate_commitment(valid_raw(months=1)), Commitment)
    assert isinstance(validate_commitment(valid_raw(months=60)), Commitment)


def test_package_rules() -> None:
    assert codes(valid_raw(package="JHT")) == {("package", "PACKAGE_UNKNOWN")}
    assert codes(valid_raw(package=1)) == {("package", "INVALID_TYPE")}
    raw = valid_raw()
    del raw["package"]
    assert codes(raw) == {("package", "MISSING_FIELD")}
    result = validate_commitment(valid_raw(package=" jkk_jkm_jht "))
    assert isinstance(result, Commitment)
    assert result.package == "JKK_JKM_JHT"


def test_preferred_occupations_types() -> None:
    assert codes(valid_raw(preferred_occupations="nelayan")) == {("preferred_occupations", "INVALID_TYPE")}
    assert codes(valid_raw(preferred_occupations=["nelayan", 1])) == {
        ("preferred_occupations[1]", "INVALID_TYPE")
    }


def test_contact_missing() -> None:
    raw = valid_raw()
    del raw["email"]
    assert codes(raw) == {("contact", "CONTACT_MISSING")}
    assert codes(valid_raw(email="  ", webhook_url=None)) == {("contact", "CONTACT_MISSING")}


@pytest.mark.parametrize("email", ["csr", "csr@medco", "a b@medco.example", "csr@@medco.example"])
def test_email_invalid(email: str) -> None:
    assert codes(valid_raw(email=email)) == {("email", "EMAIL_INVALID")}


@pytest.mark.parametrize(
    "url", ["ftp://medco.example/h", "medco.example/h", "https://", "https://a b.example"]
)
def test_webhook_invalid(url: str) -> None:
    assert codes(valid_raw(email=None, webhook_url=url)) == {("webhook_url", "WEBHOOK_INVALID")}


def test_contact_wrong_type_is_not_also_missing() -> None:
    assert codes(valid_raw(email=42)) == {("email", "INVALID_TYPE")}


def test_both_contacts_kept_when_valid() -> None:
    result = validate_commitment(valid_raw(webhook_url="http://medco.example:8080/csr"))
    assert isinstance(result, Commitment)
    assert result.email == "csr@medco.example"
    assert result.webhook_url == "http://medco.example:8080/csr"


def test_every_reason_collected() -> None:
    raw: dict[str, object] = {
        "company_id": "",
        "company_name": "PT Hindoli",
        "kecamatan": ["Sungai Lilin", "Atlantis"],
        "slots": 0,
        "months": 100,
        "package": "GOLD",
        "webhook_url": "gopher://x",
    }
    assert codes(raw) == {
        ("commitment_id", "MISSING_FIELD"),
        ("company_id", "VALUE_EMPTY"),
        ("kecamatan[1]", "KECAMATAN_UNKNOWN"),
        ("slots", "SLOTS_INVALID"),
        ("months", "MONTHS_INVALID"),
        ("package", "PACKAGE_UNKNOWN"),
        ("webhook_url", "WEBHOOK_INVALID"),
    }
    assert all(r.message for r in reasons_of(raw))


def test_empty_input_lists_all_required() -> None:
    assert codes({}) == {
        ("commitment_id", "MISSING_FIELD"),
        ("company_id", "MISSING_FIELD"),
        ("company_name", "MISSING_FIELD"),
        ("kecamatan", "MISSING_FIELD"),
        ("slots", "MISSING_FIELD"),
        ("months", "MISSING_FIELD"),
        ("package", "MISSING_FIELD"),
        ("contact", "CONTACT_MISSING"),
    }


def test_messages_are_indonesian() -> None:
    (reason,) = reasons_of(valid_raw(slots=0))
    assert reason.message == "Kolom slots harus antara 1 dan 100.000."


# --- budget ------------------------------------------------------------------------------------


def commitment(**changes: object) -> Commitment:
    result = validate_commitment(valid_raw(**changes))
    assert isinstance(result, Commitment)
    return result


def test_budget_at_floor() -> None:
    c = commitment(slots=10, months=12, package="JKK_JKM")
    assert commitment_budget(c, Pricing(TABLE, date(2025, 1, 1), apply_discount=True)) == 10 * 12 * 16_800


def test_budget_with_jht() -> None:
    c = commitment(slots=3, months=6, package="JKK_JKM_JHT")
    assert commitment_budget(c, Pricing(TABLE, date(2025, 1, 1), apply_discount=False)) == 3 * 6 * 36_800


def test_budget_uses_other_sector_discount_window() -> None:
    # Mar 2026 full price; Apr, May 2026 discounted for "other" (transport would discount all three)
    c = commitment(slots=2, months=3, package="JKK_JKM")
    march = date(2026, 3, 1)
    assert commitment_budget(c, Pricing(TABLE, march, apply_discount=True)) == 2 * (16_800 + 2 * 8_400)
    assert commitment_budget(c, Pricing(TABLE, march, apply_discount=False)) == 2 * 3 * 16_800


def test_budget_over_months_spanning_the_discounts_end() -> None:
    # From November 2026, 6 months: Nov, Dec 2026 discounted for "other", Jan..Apr 2027 full price
    c = commitment(slots=5, months=6, package="JKK_JKM_JHT")
    nov = date(2026, 11, 20)
    assert commitment_budget(c, Pricing(TABLE, nov, apply_discount=True)) == 5 * (2 * 28_400 + 4 * 36_800)
    assert commitment_budget(c, Pricing(TABLE, nov, apply_discount=False)) == 5 * 6 * 36_800
    # the budget is what the same months cost a worker at the floor, as a reservation prices it
    per_worker = Pricing(TABLE, nov, apply_discount=True).coverage("JKK_JKM_JHT", 6, None, "petani")
    assert (
        commitment_budget(c, Pricing(TABLE, nov, apply_discount=True))
        == 5 * per_worker.total_contribution_idr
    )


# --- matching ----------------------------------------------------------------------------------


def open_c(
    cid: str,
    *,
    kecamatan_codes: frozenset[str] = frozenset({"07"}),
    whole_regency: bool = False,
    slots: int = 10,
    slots_used: int = 0,
    budget_idr: int = 10 * 201_600,
    budget_used_idr: int = 0,
    preferred_occupations: tuple[str, ...] = (),
    created_seq: int = 1,
    package: Package = "JKK_JKM",
    months: int = 12,
) -> OpenCommitment:
    return OpenCommitment(
        commitment_id=cid,
        kecamatan_codes=kecamatan_codes,
        whole_regency=whole_regency,
        slots=slots,
        slots_used=slots_used,
        budget_idr=budget_idr,
        budget_used_idr=budget_used_idr,
        preferred_occupations=preferred_occupations,
        created_seq=created_seq,
        package=package,
        months=months,
    )


WORKER = WorkerToMatch(worker_id="w-1", kecamatan_code="07", occupation="Penyadap Karet")


def costing(c: OpenCommitment, cost_idr: int = 201_600) -> Offer:
    return Offer(c, Coverage(1_000_000, cost_idr // c.months, cost_idr))


def choose_id(candidates: list[OpenCommitment], worker: WorkerToMatch = WORKER) -> str | None:
    chosen = choose_commitment(worker, [costing(c) for c in candidates])
    return None if chosen is None else chosen.commitment.commitment_id


def test_covers() -> None:
    assert covers(open_c("a"), "07")
    assert not covers(open_c("a"), "08")
    assert covers(open_c("b", kecamatan_codes=frozenset(), whole_regency=True), "08")


def test_no_fit_returns_none() -> None:
    assert choose_id([]) is None
    assert choose_id([open_c("elsewhere", kecamatan_codes=frozenset({"01"}))]) is None


def test_full_commitment_skipped() -> None:
    assert choose_id([open_c("full", slots_used=10, created_seq=0), open_c("free", slots_used=9)]) == "free"
    assert choose_id([open_c("full", slots_used=10)]) is None


def test_budget_too_small_skipped() -> None:
    short = open_c("short", budget_idr=1_000_000, budget_used_idr=900_000, created_seq=0)
    exact = open_c("exact", budget_idr=1_000_000, budget_used_idr=1_000_000 - 201_600)
    assert choose_id([short, exact]) == "exact"
    assert choose_id([short]) is None


def test_cost_is_per_commitment() -> None:
    cheap = open_c("cheap", budget_idr=100_000, created_seq=2)
    dear = open_c("dear", budget_idr=100_000, created_seq=1)
    chosen = choose_commitment(WORKER, [costing(dear, 100_001), costing(cheap, 100_000)])
    assert chosen is not None and chosen.commitment.commitment_id == "cheap"


def test_offers_are_priced_by_each_commitments_package_and_months() -> None:
    pricing = Pricing(TABLE, date(2025, 6, 1), apply_discount=False)
    worker = WorkerToMatch("w-1", "07", "petani", declared_income_idr=2_500_000)
    offers = offers_for(
        worker,
        [
            open_c("short", package="JKK_JKM", months=2),
            open_c("jht", package="JKK_JKM_JHT", months=3),
            open_c("elsewhere", kecamatan_codes=frozenset({"01"})),
        ],
        pricing,
    )
    # JKK_JKM at 2.5M: 31_800 a month; with JHT 81_800; a commitment not covering "07" is not priced
    assert [(o.commitment.commitment_id, o.cost_idr) for o in offers] == [
        ("short", 2 * 31_800),
        ("jht", 3 * 81_800),
    ]
    assert offers[1].coverage == Coverage(2_500_000, 81_800, 3 * 81_800)


def test_many_sponsors_of_one_package_and_months_are_priced_once_each_way() -> None:
    """Pricing is the dear part of matching: with many commitments (at scale, many sponsors) a
    worker's coverage is priced once per package and months, and every offer carries it."""
    calls: list[tuple[str, int]] = []

    class Counting(Pricing):
        def coverage(
            self, package: Package, months: int, declared_income_idr: int | None, occupation: str
        ) -> Coverage:
            calls.append((package, months))
            return super().coverage(package, months, declared_income_idr, occupation)

    pricing = Counting(TABLE, date(2025, 6, 1), apply_discount=False)
    worker = WorkerToMatch("w-1", "07", "petani", declared_income_idr=2_500_000)
    sponsors = [open_c(f"s{i}", months=2) for i in range(10)] + [
        open_c("jht", package="JKK_JKM_JHT", months=3),
        open_c("jht-2", package="JKK_JKM_JHT", months=3),
    ]
    offers = offers_for(worker, sponsors, pricing)
    assert sorted(calls) == [("JKK_JKM", 2), ("JKK_JKM_JHT", 3)]
    assert [(o.commitment.commitment_id, o.cost_idr) for o in offers] == [
        *((f"s{i}", 2 * 31_800) for i in range(10)),
        ("jht", 3 * 81_800),
        ("jht-2", 3 * 81_800),
    ]


def test_coverage_tells_bpjs_the_income_floor_when_the_declared_income_is_below_it() -> None:
    pricing = Pricing(TABLE, date(2025, 6, 1), apply_discount=False)
    for declared in (None, 0, 500_000):
        assert pricing.coverage("JKK_JKM", 12, declared, "petani") == Coverage(1_000_000, 16_800, 12 * 16_800)
    assert pricing.coverage("JKK_JKM", 1, 1_500_000, "petani").declared_income_idr == 1_500_000


def test_coverage_discount_follows_the_workers_sector() -> None:
    pricing = Pricing(TABLE, date(2026, 1, 15), apply_discount=True)
    assert pricing.coverage("JKK_JKM", 1, None, "tukang ojek").total_contribution_idr == 8_400
    assert pricing.coverage("JKK_JKM", 1, None, "petani").total_contribution_idr == 16_800


def test_preferred_occupation_decides_first() -> None:
    # the preferring one loses every later tie-breaker
    preferring = open_c(
        "preferring",
        kecamatan_codes=frozenset(),
        whole_regency=True,
        slots_used=9,
        created_seq=9,
        preferred_occupations=("penyadap karet",),
    )
    other = open_c("other", preferred_occupations=("nelayan",))
    assert choose_id([other, preferring]) == "preferring"


def test_preference_word_inside_occupation_counts() -> None:
    assert prefers_occupation(open_c("a", preferred_occupations=("karet",)), "Penyadap  KARET")
    assert prefers_occupation(open_c("a", preferred_occupations=("penyadap karet",)), " penyadap karet ")
    assert not prefers_occupation(open_c("a", preferred_occupations=("penyadap karet",)), "karet")
    assert not prefers_occupation(open_c("a", preferred_occupations=("tani",)), "petani")
    assert not prefers_occupation(open_c("a"), "petani")
    word_pref = open_c("word", preferred_occupations=("karet",), created_seq=5)
    assert choose_id([open_c("plain"), word_pref]) == "word"


def test_named_kecamatan_beats_whole_regency() -> None:
    regency = open_c("regency", kecamatan_codes=frozenset(), whole_regency=True, created_seq=0)
    named = open_c("named", slots_used=5, created_seq=9)
    assert choose_id([regency, named]) == "named"


def test_lowest_slot_share_beats_age() -> None:
    # 2/10 = 0.2 vs 1/3 ≈ 0.33: share decides, although "third" is older and has fewer used slots
    tenth = open_c("tenth", slots=10, slots_used=2, created_seq=5)
    third = open_c("third", slots=3, slots_used=1, created_seq=1)
    assert choose_id([third, tenth]) == "tenth"


def test_slot_share_compared_exactly() -> None:
    # 1/3 vs 333_333/1_000_000: a very close call still goes to the smaller share
    third = open_c("third", slots=3, slots_used=1, created_seq=0)
    nearly = open_c("nearly", slots=1_000_000, slots_used=333_333, created_seq=1, budget_idr=10**12)
    assert choose_id([third, nearly]) == "nearly"


def test_equal_share_falls_back_to_oldest() -> None:
    # ids sort the other way, so only created_seq can pick "z-old"
    young = open_c("a-young", slots=4, slots_used=2, created_seq=7)
    old = open_c("z-old", slots=10, slots_used=5, created_seq=3)
    assert choose_id([young, old]) == "z-old"


def test_full_tie_is_deterministic() -> None:
    assert choose_id([open_c("b"), open_c("a")]) == "a"
