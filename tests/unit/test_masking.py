"""One masking module: what it masks (NIKs however typed, mobile numbers, KPJ numbers, other long
digit runs) and what it never touches (UUIDs, digests, short numbers, ISO times, Rupiah amounts),
on generated inputs; and one result per input wherever a masker is called."""

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.format import format_rupiah
from shared.logging import JsonFormatter
from shared.masking import (
    mask_email,
    mask_kpj,
    mask_name,
    mask_nik,
    mask_phone,
    mask_recipient,
    mask_text,
    mask_text_quoting,
)

SEPARATORS = st.sampled_from(["", " ", ".", "-"])
# Surrounding text without digits or hex letters: whatever mask_text does to it, it cannot hide
# or lengthen a number it is glued to.
WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="abcdefABCDEF"),
    max_size=20,
)
ANY_TEXT = st.text(max_size=30)
# Every masker that was ever written outside shared.masking (and those it has now).
MASKERS = frozenset(
    {
        "mask_nik",
        "mask_phone",
        "mask_kpj",
        "mask_email",
        "mask_name",
        "mask_recipient",
        "mask_text",
        "redact_niks",
    }
)


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def typed(number: str, separators: list[str]) -> str:
    """`number` with separators[k] written after its k-th digit."""
    return "".join(d + s for d, s in zip(number, [*separators, ""], strict=False))


# --- UUIDs and digests are never changed ----------------------------------------------------------


@given(st.uuids(), st.booleans(), ANY_TEXT, ANY_TEXT)
# A UUID whose digit groups add up to 16 digits with dashes: the old NIK pattern masked it.
@example(uuid.UUID("7a1c9e3b-1234-5678-9012-3456abcdef01"), False, "event ", "")
def test_a_uuid_is_never_changed_whatever_surrounds_it(
    u: uuid.UUID, upper: bool, before: str, after: str
) -> None:
    text = str(u).upper() if upper else str(u)
    assert text in mask_text(before + text + after)


@given(
    st.lists(st.uuids(), min_size=1, max_size=5), st.sampled_from(["", " ", "-", ",", "/", "\n", "=", "id:"])
)
def test_text_made_of_uuids_is_left_exactly_as_it_is(uuids: list[uuid.UUID], separator: str) -> None:
    text = separator.join(str(u) for u in uuids)
    assert mask_text(text) == text
    assert mask_text(text.upper()) == text.upper()


def test_one_uuid_in_five_hundred_was_altered_by_the_old_pattern_and_none_is_now() -> None:
    uuids = [str(uuid.uuid4()) for _ in range(20_000)]
    assert [u for u in uuids if mask_text(f"event {u} done") != f"event {u} done"] == []


@given(st.uuids().filter(lambda u: re.search("[a-f]", u.hex) is not None), ANY_TEXT)
def test_a_digest_or_a_dashless_uuid_is_never_changed(u: uuid.UUID, before: str) -> None:
    assert u.hex in mask_text(f"{before} key={u.hex} sha={u.hex}{u.hex}.")


# --- NIKs ---------------------------------------------------------------------------------------


@given(
    st.text(alphabet="0123456789", min_size=16, max_size=16),
    st.lists(SEPARATORS, min_size=15, max_size=15),
    WORDS,
    WORDS,
)
def test_a_nik_is_masked_however_it_is_typed(
    nik: str, separators: list[str], before: str, after: str
) -> None:
    written = typed(nik, separators)
    masked = mask_text(before + written + after)
    assert mask_nik(nik) in masked and written not in masked
    assert digits(masked) == nik[:6] + nik[-2:]  # nothing else of it is left


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 1606015208900003 kali", "5 160601********03 kali"),
        ("reg-1606015208900003", "reg-160601********03"),
        ("nik1606015208900003", "nik160601********03"),
        (
            "1606015208900003-1e638ca2-140d-4cc0-9a3d-39fb050ff198",
            "160601********03-1e638ca2-140d-4cc0-9a3d-39fb050ff198",
        ),
        ("salah ketik 160601520890000", "salah ketik 160601*******00"),  # a digit missing
        ("2026-11-28 1606 0152 0890 0003", "2026-11-28 160601********03"),
        ("1606-0152-0890-0003-7", "160601********03-7"),
        ("16.06.01 520890 0003", "160601********03"),  # mixed separators, 16 digits in all
        ("hp 5 0812-3456-7890", "hp 5 0812****7890"),
    ],
)
def test_a_nik_next_to_other_numbers_or_words_is_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


# --- KPJ numbers and other long digit runs ------------------------------------------------------


@given(
    st.text(alphabet="0123456789", min_size=11, max_size=11).filter(
        lambda k: not k.startswith(("08", "628"))
    ),  # those are phone numbers
    WORDS,
    WORDS,
)
@example("12345678901", "kpj ", "")
def test_an_11_digit_kpj_is_masked(kpj: str, before: str, after: str) -> None:
    masked = mask_text(before + kpj + after)
    assert kpj not in masked and mask_kpj(kpj) in masked
    assert digits(masked) == kpj[:2] + kpj[-2:]


@given(st.text(alphabet="0123456789", min_size=12, max_size=40), WORDS)
def test_every_run_of_twelve_or_more_digits_is_masked(run: str, before: str) -> None:
    masked = mask_text(before + run)
    assert run not in masked and len(digits(masked)) <= 8


# --- mobile numbers -----------------------------------------------------------------------------


@st.composite
def mobile_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(as typed, its digits): 0812..., +62812..., 62 812-..., with or without separators."""
    national = "8" + draw(st.text(alphabet="0123456789", min_size=8, max_size=11))
    prefix = draw(st.sampled_from(["0", "62", "+62", "62 ", "+62 ", "62-", "+62-"]))
    cuts = draw(st.lists(st.integers(3, len(national) - 1), max_size=3, unique=True))
    separator = draw(st.sampled_from([" ", "-", "."]))
    parts, at = [], 0
    for cut in sorted(cuts):
        parts.append(national[at:cut])
        at = cut
    parts.append(national[at:])
    return prefix + separator.join(parts), digits(prefix) + national


@given(mobile_numbers(), WORDS, WORDS)
@example(("0812-3456-7890", "081234567890"), "hp ", "")
@example(("+6281234567890", "6281234567890"), "", "")
@example(("62 812-3456-7890", "6281234567890"), "hp: ", ".")
def test_a_mobile_number_is_masked_however_it_is_typed(
    phone: tuple[str, str], before: str, after: str
) -> None:
    written, number = phone
    masked = mask_text(before + written + after)
    assert masked == before + mask_phone(written) + after
    assert written not in masked and len(digits(masked)) <= len(number) - 4


def test_field_and_text_masks_of_a_phone_agree() -> None:
    assert mask_phone("+6281234567890") == mask_text("+6281234567890") == "+62812****7890"
    assert mask_phone("0812-3456-7890") == mask_text("0812-3456-7890") == "0812****7890"
    assert mask_phone("62 812 3456 7890") == mask_text("62 812 3456 7890") == "62812****7890"


# --- what stays readable ------------------------------------------------------------------------


@given(st.integers(0, 9_999_999_999).filter(lambda n: not str(n).startswith("628")), WORDS)
def test_numbers_of_up_to_ten_digits_that_are_not_mobile_numbers_stay(number: int, before: str) -> None:
    assert mask_text(f"{before}{number} ") == f"{before}{number} "


@given(
    st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
    st.sampled_from(["T", " "]),
)
def test_iso_timestamps_stay(moment: datetime, offset_minutes: int, sep: str) -> None:
    text = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).isoformat(sep=sep)
    assert mask_text(f"at {text} ok") == f"at {text} ok"


@given(st.integers(-(10**13), 10**13))
def test_rupiah_amounts_stay(amount: int) -> None:
    shown = format_rupiah(amount)
    assert mask_text(f"iuran {shown} per bulan") == f"iuran {shown} per bulan"


@pytest.mark.parametrize(
    "text",
    [
        "partition 3 offset 12345 count 0",
        "127.0.0.1:9092",
        "v1.2.3",
        "08-12-2026 10:00",  # a date, not a phone number
        "Rp168.000.000 168000000 Rp91.080.000.000 Rp62.800.000.000",
        "already 160601********03, +62812****7890, 12*******01",
        # named: an id made of the moment differs between pytest-xdist workers, which then refuse
        # to run (each worker collects the suite and they must agree)
        pytest.param(datetime.now(UTC).isoformat(), id="an instant now, ISO 8601"),
    ],
)
def test_what_is_not_personal_data_stays(text: str) -> None:
    assert mask_text(text) == text


# --- field maskers ------------------------------------------------------------------------------


def test_field_maskers() -> None:
    assert mask_nik("1606015208900003") == mask_nik(" 1606-0152-0890-0003 ") == "160601********03"
    assert mask_nik("12345") == mask_nik("' OR 1=1--") == "****"
    assert mask_phone("+6281234567890") == "+62812****7890"
    assert mask_phone("+628123456789") == "+62812****789"  # at least 4 digits hidden
    assert mask_phone("0812") == "****"
    assert mask_kpj("12345678901") == "12*******01"
    assert mask_email("siti.aminah@hindoli.co.id") == "s***@hindoli.co.id"
    assert mask_name("Siti  Aminah") == "S*** A***"
    assert mask_recipient("sms", " +6281234567890 ") == "+62812****7890"
    assert mask_recipient("email", "not-an-email") == "***"
    assert (
        mask_recipient("webhook", "https://hooks.hindoli.co.id/bpjs?token=s3cret")
        == "https://hooks.hindoli.co.id"
    )
    assert mask_recipient("webhook", "not a url") == "***"
    assert mask_recipient("fax", "021 123") == "***"
    quoted = mask_text_quoting(
        "to siti.aminah@hindoli.co.id: 0812-3456-7891", "email", "siti.aminah@hindoli.co.id"
    )
    assert quoted == "to s***@hindoli.co.id: 0812****7891"


@given(st.text(max_size=40))
def test_an_already_masked_value_is_kept_as_it_is(value: str) -> None:
    for mask in (mask_nik, mask_phone, mask_kpj, mask_email, mask_name):
        once = mask(value)
        assert mask(once) == once
    assert mask_text(mask_nik(value)) == mask_nik(value)
    assert mask_text(mask_phone(value)) == mask_phone(value)


# --- one result wherever it is called -----------------------------------------------------------


def test_no_module_keeps_a_masker_of_its_own() -> None:
    import shared.dlq
    import shared.http_access
    import shared.logging
    import shared.masking
    import shared.outbox
    from services.notifications import api, delivery, domain, handlers
    from services.registry import api as registry_api
    from services.sponsorship import handlers as sponsorship_handlers

    for module in (
        shared.logging,
        shared.dlq,
        shared.http_access,
        shared.outbox,
        domain,
        delivery,
        api,
        handlers,
        registry_api,
        sponsorship_handlers,
    ):
        own = {
            name
            for name, value in vars(module).items()
            if name in MASKERS and value is not getattr(shared.masking, name, None)
        }
        assert own == set(), f"{module.__name__} has its own {sorted(own)}"


def test_logs_notifications_and_delivery_mask_alike() -> None:
    from services.notifications import domain
    from services.notifications.delivery import masked_error
    from services.notifications.repository import StoredNotification

    nik, phone, kpj = "1606015208900003", "+6281234567890", "12345678901"
    text = f"worker {nik} hp {phone} kpj {kpj}"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (text,), None)
    logged = json.loads(JsonFormatter("notifications").format(record))["message"]
    stored = StoredNotification(1, None, "t", "worker", "sms", phone, None, "", 1, str(uuid.uuid4()))
    assert logged == masked_error(text, stored) == mask_text(text)
    assert logged == f"worker {mask_nik(nik)} hp {mask_phone(phone)} kpj {mask_kpj(kpj)}"
    assert mask_nik("1606-0152-0890-0003") == domain.mask_nik("1606-0152-0890-0003")
