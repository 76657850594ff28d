"""The partner contracts (shared/events models, so the AsyncAPI documents) and the services'
validators agree, field by field, on generated values inside and outside each field's limits:

- every value the model refuses for a field, the validator refuses naming that field (the
  contract never refuses what the service takes);
- every value the validator refuses for a field with a code of the contract (not one of the
  domain rules each model's docstring lists), the model refuses too (the service gives no
  rejection the contract does not predict).

Rules over several fields or over reference data (the NIK against the birth date, the age, the
kecamatan list, a commitment's contact) are domain rules: documented on the models, not tested here.
"""

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from services.registry.domain import registration as registry
from services.sponsorship import domain as sponsorship
from services.sponsorship.domain import commitments, payments
from shared import validation
from shared.events.registry import RegistrationSubmitted
from shared.events.sponsorship import CommitmentExtensionSubmitted, CommitmentSubmitted, PaymentSubmitted

TODAY = date(2026, 1, 15)
PARTNER = "web-form"
ABSENT: Any = object()  # the field left out of the body

REGISTRATION: dict[str, object] = {
    "submission_id": "sub-0001",
    "source": PARTNER,
    "nik": "1606015208900003",
    "full_name": "Siti Aminah",
    "birth_date": "1990-08-12",
    "sex": "P",
    "phone": "081234567890",
    "kecamatan": "Sekayu",
    "desa": "Balai Agung",
    "occupation": "Penyadap karet",
    "declared_income_idr": 1_500_000,
}
COMMITMENT: dict[str, object] = {
    "commitment_id": "c-0001",
    "company_id": "pt-hindoli",
    "company_name": "PT Hindoli",
    "kecamatan": ["Sekayu"],
    "slots": 10,
    "months": 12,
    "package": "JKK_JKM",
    "preferred_occupations": ["penyadap karet"],
    "email": "csr@hindoli.example",
    "webhook_url": None,
}
PAYMENT: dict[str, object] = {
    "company_id": "pt-hindoli",
    "reference": "TRF-20260115-001",
    "amount_idr": 70_400,
    "paid_on": "2026-01-15",
}
EXTENSION: dict[str, object] = {
    "commitment_id": "c-0001",
    "company_id": "pt-hindoli",
    "reference": "SK-2027-001",
    "months": 12,
}

# Codes of domain rules the contract cannot express (see the models' docstrings).
DOMAIN_RULES: dict[str, frozenset[str]] = {
    # NIK_FORMAT also for 16 digits whose digits 7-12 are no date (DDMMYY, day + 40 for women); the
    # birth-date and sex mismatches are warnings, never reasons.
    "nik": frozenset({"NIK_PROVINCE", "NIK_FORMAT", "NIK_SERIAL"}),
    "birth_date": frozenset({"AGE_BELOW_MINIMUM", "AGE_ABOVE_MAXIMUM"}),
    "full_name": frozenset({"NAME_INVALID"}),  # letters only; control characters are in the contract
    "kecamatan": frozenset({"KECAMATAN_UNKNOWN", "KECAMATAN_MIXED"}),
    "source": frozenset({"SOURCE_MISMATCH"}),  # another partner's name is well-formed
    "webhook_url": frozenset({"WEBHOOK_INVALID"}),  # needs a host; the contract says http(s)://...
    "paid_on": frozenset({"PAID_ON_IN_FUTURE"}),  # after the day it arrives
}

# --- generated values ----------------------------------------------------------------------------

# Characters the rules care about: whitespace the services trim (tabs, line breaks, no-break
# spaces, the information separators str.strip also removes), control and format characters,
# separators of NIKs and phone numbers, letters and digits beyond ASCII.
SPECIAL = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2007\u3000\x00\x07\x7f\u200b\u200e\ufeff\u00ad.-()+/'\u2019*@_"
CHARS = st.one_of(
    st.sampled_from(SPECIAL),
    st.sampled_from("aZ09éİıßﬀ٣５"),
    st.characters(codec="utf-8", exclude_categories=["Cs"]),
)
WS = st.text(st.sampled_from(" \t\n\xa0\x1f\u3000"), max_size=3)
NOT_TEXT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
)


def padded(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(WS, inner, WS).map("".join)


def text_around(limit: int) -> st.SearchStrategy[object]:
    """Texts shorter than, at and beyond `limit` (with whitespace inside and around), any text, not text."""
    near = st.tuples(
        st.integers(max(limit - 2, 0), limit + 2), st.sampled_from(["a", "é", "a b", "a  b", "a\tb"])
    )
    return st.one_of(
        padded(near.map(lambda n_unit: (n_unit[1] * n_unit[0])[: n_unit[0]])),
        padded(st.text(CHARS, max_size=limit + 5)),
        st.text(CHARS, max_size=12),
        NOT_TEXT,
        st.just(ABSENT),
    )


def separated(digits: st.SearchStrategy[str], separators: str) -> st.SearchStrategy[str]:
    """`digits` with runs of `separators` put between some of them, padded with whitespace."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        text = draw(digits)
        out = []
        for char in text:
            out.append(char)
            out.append(draw(st.text(st.sampled_from(separators), max_size=2)))
        return draw(WS) + "".join(out) + draw(WS)

    return build()


NIK_DIGITS = st.one_of(
    st.just("1606015208900003"),
    st.text(st.sampled_from("0123456789"), min_size=14, max_size=18),
    st.text(st.sampled_from("0123456789٣５"), min_size=16, max_size=16),
)
NIKS = st.one_of(separated(NIK_DIGITS, " .-\t\xa0/x_"), text_around(validation.MAX_REGISTRATION_TEXT))
PHONES = st.one_of(
    separated(
        st.tuples(
            st.sampled_from(["", "0", "62", "+62", "+", "6", "00", "620", "+0", "+620", "+62(0)", "+6200"]),
            # 8 then a mobile range's digit, or 80x / 84x (no mobile range), or not 8
            st.sampled_from(["8", "81", "85", "80", "84", "7", "9"]),
            st.text(st.sampled_from("0123456789"), min_size=6, max_size=13),
        ).map("".join),
        " -.()\t\xa0+/",
    ),
    padded(st.text(st.sampled_from("0123456789 -"), min_size=30, max_size=45)),
    text_around(20),
)
SEXES = st.one_of(padded(st.sampled_from(["L", "P", "l", "p", "LP", "x", "", "Ｌ", "M"])), text_around(2))
BIRTH_DATES = st.one_of(
    padded(st.dates(max_value=date(2025, 12, 31)).map(date.isoformat)),
    # Years before TODAY's: a date in the future is a domain rule (it depends on the day).
    padded(st.from_regex(r"(?:[01][0-9]{3}|20[01][0-9]|202[0-5])-[0-9]{1,2}-[0-9]{1,3}", fullmatch=True)),
    st.sampled_from(["1990-08-12T00:00:00", "12-08-1990", "1990/08/12", "19900812"]),
    text_around(10),
)
KECAMATAN_NAMES = st.one_of(
    padded(st.sampled_from(["Sekayu", "01", "Kec. Lais", "Palembang", "*"])), text_around(30)
)
INCOMES = st.one_of(
    st.integers(-2, 2),
    st.integers(validation.MAX_INCOME_IDR - 2, validation.MAX_INCOME_IDR + 2),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.sampled_from(["1500000", "Rp 1.500.000", ""]),
    st.none(),
    st.just(ABSENT),
)


def integers_around(low: int, high: int) -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(low - 2, low + 2),
        st.integers(high - 2, high + 2),
        st.integers(),
        st.sampled_from([True, False, 1.0, 12.5, "12", None]),
        st.just(ABSENT),
    )


PACKAGES = st.one_of(
    padded(
        st.sampled_from(["JKK_JKM", "JKK_JKM_JHT", "jkk_jkm", "Jkk_Jkm_Jht", "JKK-JKM", "JKN", "JKK_JKM_"])
    ),
    text_around(12),
)
EMAILS = st.one_of(
    padded(
        st.tuples(
            st.text(CHARS, min_size=0, max_size=6),
            st.sampled_from(["@", "", "@@"]),
            st.text(CHARS, min_size=0, max_size=6),
            st.sampled_from([".", "", ".."]),
            st.text(CHARS, min_size=0, max_size=4),
        ).map("".join)
    ),
    padded(st.integers(245, 260).map(lambda n: "a" * (n - 10) + "@b.example")),
    text_around(5),
)
WEBHOOKS = st.one_of(
    padded(
        st.tuples(
            st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", "http:/", "", "http://["]),
            st.text(CHARS, max_size=12),
        ).map("".join)
    ),
    padded(st.integers(1995, 2005).map(lambda n: "https://x.example/" + "a" * (n - 18))),
    text_around(5),
)


def lists_of(entries: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.lists(entries, max_size=3), text_around(3))


REGISTRATION_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "submission_id": text_around(validation.MAX_REGISTRATION_TEXT),
    "source": st.one_of(
        padded(st.sampled_from([PARTNER, "other-partner", "Web-Form", "-x"])), text_around(63)
    ),
    "nik": NIKS,
    "full_name": text_around(validation.MAX_REGISTRATION_TEXT),
    "birth_date": BIRTH_DATES,
    "sex": SEXES,
    "phone": PHONES,
    "kecamatan": KECAMATAN_NAMES,
    "desa": text_around(validation.MAX_REGISTRATION_TEXT),
    "occupation": text_around(validation.MAX_REGISTRATION_TEXT),
    "declared_income_idr": INCOMES,
}
COMMITMENT_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "commitment_id": text_around(validation.MAX_COMMITMENT_TEXT),
    "company_id": text_around(validation.MAX_COMMITMENT_TEXT),
    "company_name": text_around(validation.MAX_COMMITMENT_TEXT),
    "kecamatan": lists_of(KECAMATAN_NAMES),
    "slots": integers_around(1, validation.MAX_SLOTS),
    "months": integers_around(1, validation.MAX_MONTHS),
    "package": PACKAGES,
    "preferred_occupations": lists_of(text_around(20)),
    "email": EMAILS,
    "webhook_url": WEBHOOKS,
}
PAYMENT_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "company_id": text_around(validation.MAX_COMMITMENT_TEXT),
    "reference": text_around(validation.MAX_PAYMENT_REFERENCE),
    "amount_idr": integers_around(1, validation.MAX_PAYMENT_IDR),
    "paid_on": st.one_of(BIRTH_DATES, padded(st.dates(min_value=TODAY).map(date.isoformat))),
}
EXTENSION_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "commitment_id": text_around(validation.MAX_COMMITMENT_TEXT),
    "company_id": text_around(validation.MAX_COMMITMENT_TEXT),
    "reference": text_around(validation.MAX_PAYMENT_REFERENCE),
    "months": integers_around(1, validation.MAX_MONTHS),
}

# --- the check -----------------------------------------------------------------------------------


def _names(field: str, reason_field: str) -> bool:
    return reason_field == field or reason_field.startswith(field + "[")


def model_refuses(model: type[BaseModel], body: Mapping[str, object], field: str) -> bool:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return any(error["loc"] and error["loc"][0] == field for error in exc.errors())
    return False


def agree(
    model: type[BaseModel],
    validate: Callable[[Mapping[str, object]], object],
    base: Mapping[str, object],
    field: str,
    value: object,
) -> None:
    body = {k: v for k, v in base.items() if k != field}
    if value is not ABSENT:
        body[field] = value
    result = validate(body)
    reasons = [r for r in result if _names(field, r.field)] if isinstance(result, list) else []
    refused = model_refuses(model, body, field)
    if refused:
        assert reasons, f"the model refuses {field}={value!r}, the service accepts it"
    contract = [r for r in reasons if r.code not in DOMAIN_RULES.get(field, frozenset())]
    if contract:
        assert refused, f"the service refuses {field}={value!r} ({contract[0].code}), the model accepts it"


def validate_registration(body: Mapping[str, object]) -> object:
    return registry.validate_from_intake(body, PARTNER, today=TODAY)


AGREEMENT = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("field", REGISTRATION_FIELDS)
def test_the_registration_contract_says_what_the_registry_accepts(field: str) -> None:
    @AGREEMENT
    @given(REGISTRATION_FIELDS[field])
    def check(value: object) -> None:
        agree(RegistrationSubmitted, validate_registration, REGISTRATION, field, value)

    check()


@pytest.mark.parametrize("field", COMMITMENT_FIELDS)
def test_the_commitment_contract_says_what_sponsorship_accepts(field: str) -> None:
    @AGREEMENT
    @given(COMMITMENT_FIELDS[field])
    def check(value: object) -> None:
        agree(CommitmentSubmitted, sponsorship.validate_commitment, COMMITMENT, field, value)

    check()


def validate_payment(body: Mapping[str, object]) -> object:
    return payments.validate_payment(body, today=TODAY)


@pytest.mark.parametrize("field", PAYMENT_FIELDS)
def test_the_payment_contract_says_what_sponsorship_accepts(field: str) -> None:
    @AGREEMENT
    @given(PAYMENT_FIELDS[field])
    def check(value: object) -> None:
        agree(PaymentSubmitted, validate_payment, PAYMENT, field, value)

    check()


@pytest.mark.parametrize("field", EXTENSION_FIELDS)
def test_the_renewal_contract_says_what_sponsorship_accepts(field: str) -> None:
    @AGREEMENT
    @given(EXTENSION_FIELDS[field])
    def check(value: object) -> None:
        agree(CommitmentExtensionSubmitted, commitments.validate_extension, EXTENSION, field, value)

    check()


def test_every_field_of_the_contracts_is_generated() -> None:
    assert set(REGISTRATION_FIELDS) == set(RegistrationSubmitted.model_fields)
    assert set(COMMITMENT_FIELDS) == set(CommitmentSubmitted.model_fields)
    assert set(PAYMENT_FIELDS) == set(PaymentSubmitted.model_fields)
    assert set(EXTENSION_FIELDS) == set(CommitmentExtensionSubmitted.model_fields)


@pytest.mark.parametrize(
    ("model", "validate", "base", "field", "value"),
    [
        (CommitmentSubmitted, sponsorship.validate_commitment, COMMITMENT, "months", 61),
        (CommitmentSubmitted, sponsorship.validate_commitment, COMMITMENT, "slots", 100_001),
        (CommitmentSubmitted, sponsorship.validate_commitment, COMMITMENT, "company_name", "x" * 201),
        (RegistrationSubmitted, validate_registration, REGISTRATION, "sex", "l"),
        (RegistrationSubmitted, validate_registration, REGISTRATION, "nik", "1606 0152 0890 0003x"),
        (RegistrationSubmitted, validate_registration, REGISTRATION, "phone", "+62 0812-3456-7890"),
        (RegistrationSubmitted, validate_registration, REGISTRATION, "phone", "+62 (0)812 3456 7890"),
        (RegistrationSubmitted, validate_registration, REGISTRATION, "phone", "0800 1234 567"),
        (RegistrationSubmitted, validate_registration, REGISTRATION, "phone", "0809 1234 5678"),
        (RegistrationSubmitted, validate_registration, REGISTRATION, "phone", "0841 2345 6789"),
    ],
)
def test_the_disagreements_the_issue_names(
    model: type[BaseModel],
    validate: Callable[[Mapping[str, object]], object],
    base: Mapping[str, object],
    field: str,
    value: object,
) -> None:
    agree(model, validate, base, field, value)
