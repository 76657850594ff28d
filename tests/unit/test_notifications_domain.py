import json
from datetime import UTC, date, datetime

import pytest

from services.notifications.domain import (
    DEFAULT_ADVICE,
    REJECTION_ADVICE,
    SMS_MAX_CHARS,
    Notification,
    advice_for,
    dedupe_key,
    describe_package,
    enrollment_completed,
    enrollment_failed,
    is_usable_phone,
    registration_rejected,
    worker_waitlisted,
)
from services.registry.domain import registration as registry_domain
from shared.format import format_rupiah, format_tanggal, jakarta_date
from shared.masking import mask_kpj, mask_nik, mask_phone, mask_text

NIK = "1606015208900003"
MASKED_NIK = "160601********03"
PHONE = "+6281234567890"
KPJ = "12345678901"
OFFICE = "disnakertrans@mubakab.go.id"
LONG_NAME = (
    "Siti Nurhaliza Binti Abdul Rahman Wijayakusuma Pangestu Hadiningrat Sekar Kedaton Ayu Larasati Putri"
)
LONG_COMPANY = "PT Pertamina Hulu Energi Jambi Merang Regional Sumatera Zona Satu Wilayah Kerja Jambi Merang"

REGISTRATION_CODES = [
    "MISSING_FIELD",
    "INVALID_TYPE",
    "NIK_FORMAT",
    "NIK_PROVINCE",
    "NIK_BIRTH_DATE_MISMATCH",
    "NIK_SEX_MISMATCH",
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
    "ALREADY_FUNDED",
    "SOURCE_MISMATCH",
]
BPJS_CODES = ["NIK_NOT_FOUND", "ALREADY_MEMBER", "AGE_NOT_ELIGIBLE", "DATA_MISMATCH"]


def _confirmed(
    *,
    worker_name: str = "Siti Aminah",
    package: str = "JKK_JKM",
    company_name: str = "PT Hindoli",
    company_email: str | None = "csr@hindoli.co.id",
    company_webhook_url: str | None = "https://hooks.hindoli.co.id/bpjs",
    channel: str = "sms",
) -> list[Notification]:
    return enrollment_completed(
        worker_name=worker_name,
        worker_phone=PHONE,
        worker_channel=channel,  # type: ignore[arg-type]
        kpj_number=KPJ,
        coverage_start=date(2026, 12, 1),
        coverage_end=date(2027, 11, 30),
        package=package,
        company_name=company_name,
        company_email=company_email,
        company_webhook_url=company_webhook_url,
        nik=NIK,
        kecamatan_name="Sungai Lilin",
        office_email=OFFICE,
    )


def _by_audience(messages: list[Notification], audience: str) -> list[Notification]:
    return [m for m in messages if m.audience == audience]


# ------------------------------------------------------------------ formatting


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 12, 1), "1 Desember 2026"),
        (date(2026, 1, 31), "31 Januari 2026"),
        (date(2024, 2, 29), "29 Februari 2024"),
        (date(2025, 5, 15), "15 Mei 2025"),
        (date(2025, 8, 17), "17 Agustus 2025"),
    ],
)
def test_format_tanggal_uses_indonesian_month_names(d: date, expected: str) -> None:
    assert format_tanggal(d) == expected


def test_format_tanggal_converts_aware_datetime_to_jakarta_date() -> None:
    # 18:30 UTC on 30 November is 01:30 WIB on 1 December.
    moment = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    assert jakarta_date(moment) == date(2026, 12, 1)
    assert format_tanggal(moment) == "1 Desember 2026"


def test_format_tanggal_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError):
        format_tanggal(datetime(2026, 12, 1, 10, 0))


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (0, "Rp0"),
        (500, "Rp500"),
        (6_800, "Rp6.800"),
        (16_800, "Rp16.800"),
        (36_800, "Rp36.800"),
        (1_000_000, "Rp1.000.000"),
        (1_234_567, "Rp1.234.567"),
        (168_000_000, "Rp168.000.000"),
        (-16_800, "-Rp16.800"),
    ],
)
def test_format_rupiah(amount: int, expected: str) -> None:
    assert format_rupiah(amount) == expected


@pytest.mark.parametrize("bad", [16.8, "16800", True])
def test_format_rupiah_accepts_only_integers(bad: object) -> None:
    with pytest.raises(TypeError):
        format_rupiah(bad)  # type: ignore[arg-type]


def test_mask_nik_keeps_first_six_and_last_two() -> None:
    assert mask_nik(NIK) == MASKED_NIK
    assert mask_nik(" 1606015208900003 ") == MASKED_NIK
    assert mask_nik("12345") == "****"


def test_mask_phone_keeps_first_six_and_last_four() -> None:
    assert mask_phone(PHONE) == "+62812****7890"
    assert mask_phone("+628123456789") == "+62812****789"  # at least 4 digits hidden
    assert mask_phone("0812") == "****"


def test_free_text_masks_nik_like_digit_runs_and_kpj() -> None:
    text = f"NIK {NIK} salah ketik 160601520890000, KPJ {KPJ}"
    redacted = mask_text(text)
    assert NIK not in redacted
    assert "160601520890000" not in redacted
    assert MASKED_NIK in redacted
    assert KPJ not in redacted and mask_kpj(KPJ) in redacted


@pytest.mark.parametrize(
    ("phone", "usable"),
    [(PHONE, True), ("+628123456789", True), ("081234567890", False), ("+62211234567", False), (None, False)],
)
def test_is_usable_phone(phone: str | None, usable: bool) -> None:
    assert is_usable_phone(phone) is usable


def test_describe_package() -> None:
    assert describe_package("JKK_JKM") == "JKK dan JKM"
    assert describe_package("jkk_jkm_jht") == "JKK, JKM dan JHT"


# ------------------------------------------------------------------ enrollment_completed


def test_enrollment_completed_recipients_and_channels() -> None:
    messages = _confirmed()
    assert [(m.audience, m.channel, m.recipient) for m in messages] == [
        ("worker", "sms", PHONE),
        ("company", "email", "csr@hindoli.co.id"),
        ("company", "webhook", "https://hooks.hindoli.co.id/bpjs"),
    ]
    assert {m.template for m in messages} == {"enrollment_confirmed"}
    assert _by_audience(messages, "office") == []


def test_enrollment_completed_worker_message_has_kpj_dates_payer_and_card() -> None:
    (worker,) = _by_audience(_confirmed(), "worker")
    assert worker.subject is None
    assert KPJ in worker.body
    assert "1 Desember 2026" in worker.body
    assert "30 November 2027" in worker.body
    assert "PT Hindoli" in worker.body
    assert "JKK dan JKM" in worker.body
    assert "Pekerja Rentan" in worker.body
    assert "7 hari" in worker.body
    assert NIK not in worker.body


def test_enrollment_completed_package_with_jht() -> None:
    (worker,) = _by_audience(_confirmed(package="JKK_JKM_JHT"), "worker")
    assert "JKK, JKM dan JHT" in worker.body


def test_enrollment_completed_whatsapp_channel() -> None:
    (worker,) = _by_audience(_confirmed(channel="whatsapp"), "worker")
    assert worker.channel == "whatsapp"
    assert worker.recipient == PHONE


def test_enrollment_completed_company_gets_masked_nik_never_full() -> None:
    company = _by_audience(_confirmed(), "company")
    assert len(company) == 2
    for message in company:
        assert MASKED_NIK in message.body
        assert NIK not in message.body
        assert NIK not in (message.subject or "")
        assert "Siti Aminah" in message.body
        assert KPJ in message.body
        assert "Sungai Lilin" in message.body
    email = next(m for m in company if m.channel == "email")
    assert email.subject is not None and KPJ in email.subject
    assert "1 Desember 2026 s.d. 30 November 2027" in email.body


def test_enrollment_completed_webhook_body_is_json() -> None:
    webhook = next(m for m in _confirmed() if m.channel == "webhook")
    payload = json.loads(webhook.body)
    assert payload["event"] == "enrollment_confirmed"
    assert payload["nik_masked"] == MASKED_NIK
    assert payload["kpj_number"] == KPJ
    assert payload["coverage_start"] == "2026-12-01"
    assert payload["coverage_end"] == "2027-11-30"
    assert payload["kecamatan"] == "Sungai Lilin"
    assert NIK not in webhook.body


def test_enrollment_completed_company_channels_are_optional() -> None:
    only_email = _confirmed(company_webhook_url=None)
    assert [(m.audience, m.channel) for m in only_email] == [("worker", "sms"), ("company", "email")]
    only_webhook = _confirmed(company_email="  ")
    assert [(m.audience, m.channel) for m in only_webhook] == [("worker", "sms"), ("company", "webhook")]
    neither = _confirmed(company_email=None, company_webhook_url=None)
    assert [m.audience for m in neither] == ["worker"]


@pytest.mark.parametrize("package", ["JKK_JKM", "JKK_JKM_JHT"])
def test_enrollment_completed_sms_fits_with_long_names(package: str) -> None:
    assert len(LONG_NAME) >= 100
    (worker,) = _by_audience(
        _confirmed(worker_name=LONG_NAME, company_name=LONG_COMPANY, package=package), "worker"
    )
    assert len(worker.body) <= SMS_MAX_CHARS
    # The facts the worker needs survive the shortening.
    assert KPJ in worker.body
    assert "1 Desember 2026" in worker.body
    assert "30 November 2027" in worker.body
    assert worker.body.endswith("7 hari.")


def test_enrollment_completed_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        _confirmed(channel="email")
    with pytest.raises(ValueError):
        enrollment_completed(
            worker_name="Siti",
            worker_phone=PHONE,
            worker_channel="sms",
            kpj_number=KPJ,
            coverage_start=date(2026, 12, 1),
            coverage_end=date(2026, 11, 30),
            package="JKK_JKM",
            company_name="PT Hindoli",
            company_email=None,
            company_webhook_url=None,
            nik=NIK,
            kecamatan_name="Sungai Lilin",
            office_email=OFFICE,
        )


# ------------------------------------------------------------------ worker_waitlisted


def test_worker_waitlisted_message() -> None:
    (message,) = worker_waitlisted(
        worker_name="Budi Santoso", worker_phone=PHONE, worker_channel="whatsapp", kecamatan_name="Keluang"
    )
    assert (message.template, message.audience, message.channel, message.recipient) == (
        "worker_waitlisted",
        "worker",
        "whatsapp",
        PHONE,
    )
    assert "Budi Santoso" in message.body
    assert "daftar tunggu" in message.body
    assert "Kecamatan Keluang" in message.body
    assert "perusahaan" in message.body


def test_worker_waitlisted_does_not_double_kecamatan_prefix() -> None:
    (message,) = worker_waitlisted(
        worker_name="Budi", worker_phone=PHONE, worker_channel="sms", kecamatan_name="Kecamatan Keluang"
    )
    assert "Kecamatan Kecamatan" not in message.body
    assert "Kecamatan Keluang" in message.body


def test_worker_waitlisted_sms_fits_with_long_name() -> None:
    (message,) = worker_waitlisted(
        worker_name=LONG_NAME, worker_phone=PHONE, worker_channel="sms", kecamatan_name="Batang Hari Leko"
    )
    assert len(message.body) <= SMS_MAX_CHARS
    assert "daftar tunggu" in message.body
    assert "Batang Hari Leko" in message.body


# ------------------------------------------------------------------ registration_rejected

REASONS = [
    ("nik", "NIK_BIRTH_DATE_MISMATCH", f"birth date 1990-08-13 does not match NIK {NIK}"),
    ("occupation", "MISSING_FIELD", "occupation is required"),
]


def test_registration_rejected_with_phone_sends_sms_and_office_email() -> None:
    messages = registration_rejected(
        full_name="Siti Aminah", phone=PHONE, reasons=REASONS, source="kud-sekayu", office_email=OFFICE
    )
    assert [(m.audience, m.channel, m.recipient) for m in messages] == [
        ("worker", "sms", PHONE),
        ("office", "email", OFFICE),
    ]
    assert {m.template for m in messages} == {"registration_rejected"}
    worker = messages[0]
    assert "tanggal lahir tidak cocok dengan NIK" in worker.body
    assert "pekerjaan belum diisi" in worker.body
    assert "Disnakertrans Muba" in worker.body
    assert "mitra/operator" in worker.body


def test_registration_rejected_without_phone_only_office() -> None:
    for phone in (None, "", "081234567890"):
        messages = registration_rejected(
            full_name="Siti Aminah", phone=phone, reasons=REASONS, source="desa-online", office_email=OFFICE
        )
        assert [(m.audience, m.channel) for m in messages] == [("office", "email")]


def test_registration_rejected_invalid_phone_reason_sends_no_sms() -> None:
    messages = registration_rejected(
        full_name="Siti",
        phone=PHONE,
        reasons=[("phone", "PHONE_INVALID", "not a mobile number")],
        source="desa-online",
        office_email=OFFICE,
    )
    assert [m.audience for m in messages] == ["office"]


def test_registration_rejected_office_email_lists_reasons_without_full_nik() -> None:
    messages = registration_rejected(
        full_name="Siti Aminah", phone=PHONE, reasons=REASONS, source="kud-sekayu", office_email=OFFICE
    )
    office = messages[-1]
    assert office.subject is not None and "kud-sekayu" in office.subject
    assert "NIK_BIRTH_DATE_MISMATCH" in office.body
    assert "MISSING_FIELD" in office.body
    assert REJECTION_ADVICE["NIK_BIRTH_DATE_MISMATCH"] in office.body
    assert "+62812****7890" in office.body
    assert PHONE not in office.body
    for message in messages:
        assert NIK not in message.body
    assert MASKED_NIK in office.body


def test_registration_rejected_sms_includes_advice_for_single_reason() -> None:
    (worker, _office) = registration_rejected(
        full_name="Siti",
        phone=PHONE,
        reasons=[("nik", "NIK_FORMAT", "must be 16 digits")],
        source="desa-online",
        office_email=OFFICE,
    )
    assert "NIK harus 16 angka" in worker.body
    assert REJECTION_ADVICE["NIK_FORMAT"] in worker.body


def test_registration_rejected_without_name_uses_polite_greeting() -> None:
    (worker, _office) = registration_rejected(
        full_name=None, phone=PHONE, reasons=REASONS, source="desa-online", office_email=OFFICE
    )
    assert worker.body.startswith("Yth. Bapak/Ibu,")


def test_registration_rejected_sms_fits_with_long_name_and_many_reasons() -> None:
    reasons = [
        ("field_" + code.lower(), code, "x" * 200) for code in REGISTRATION_CODES if code != "PHONE_INVALID"
    ]
    (worker, office) = registration_rejected(
        full_name=LONG_NAME, phone=PHONE, reasons=reasons, source="desa-online", office_email=OFFICE
    )
    assert len(worker.body) <= SMS_MAX_CHARS
    assert "Disnakertrans Muba" in worker.body
    assert office.body.count("Saran:") == len(reasons)


# ------------------------------------------------------------------ enrollment_failed


def _enrollment_failed(
    code: str, message: str = "rejected by BPJS", name: str = "Budi"
) -> list[Notification]:
    return enrollment_failed(
        worker_name=name,
        worker_phone=PHONE,
        worker_channel="sms",
        reason_code=code,
        reason_message=message,
        office_email=OFFICE,
    )


def test_enrollment_failed_worker_and_office() -> None:
    messages = _enrollment_failed("NIK_NOT_FOUND", "NIK not found in Dukcapil")
    assert [(m.template, m.audience, m.channel, m.recipient) for m in messages] == [
        ("enrollment_rejected", "worker", "sms", PHONE),
        ("enrollment_rejected", "office", "email", OFFICE),
    ]
    worker, office = messages
    assert "tidak ditemukan" in worker.body
    assert "Disdukcapil" in worker.body
    assert "NIK_NOT_FOUND" in office.body
    assert "NIK not found in Dukcapil" in office.body
    assert PHONE not in office.body


def test_enrollment_failed_already_member_needs_no_action() -> None:
    worker, _office = _enrollment_failed("ALREADY_MEMBER")
    assert "sudah terdaftar" in worker.body
    assert "Tidak perlu tindakan" in worker.body


def test_enrollment_failed_masks_nik_in_bpjs_message() -> None:
    messages = _enrollment_failed("WHATEVER", f"nik {NIK} blocked")
    for message in messages:
        assert NIK not in message.body
    assert MASKED_NIK in messages[1].body


@pytest.mark.parametrize("code", [*BPJS_CODES, "SOMETHING_NEW"])
def test_enrollment_failed_sms_fits_with_long_name(code: str) -> None:
    worker, _office = _enrollment_failed(code, "y " * 300, name=LONG_NAME)
    assert len(worker.body) <= SMS_MAX_CHARS


# ------------------------------------------------------------------ advice


def test_every_known_code_has_specific_advice() -> None:
    # every code the registry refuses with (and the NIK mismatches it refused with before issue 12)
    assert set(REGISTRATION_CODES) >= registry_domain.REASON_CODES
    for code in [*REGISTRATION_CODES, *BPJS_CODES]:
        assert code in REJECTION_ADVICE
        assert REJECTION_ADVICE[code] != DEFAULT_ADVICE
        assert advice_for(code) == REJECTION_ADVICE[code]


def test_advice_content_per_code() -> None:
    assert "Disdukcapil" in REJECTION_ADVICE["NIK_NOT_FOUND"]
    assert "tidak perlu" in REJECTION_ADVICE["ALREADY_MEMBER"].lower()
    assert "16 angka" in REJECTION_ADVICE["NIK_FORMAT"]
    assert "tidak perlu mendaftar lagi" in REJECTION_ADVICE["DUPLICATE_NIK"]


def test_unknown_code_gets_default_advice() -> None:
    assert REJECTION_ADVICE["NO_SUCH_CODE"] == DEFAULT_ADVICE
    assert "NO_SUCH_CODE" not in REJECTION_ADVICE
    assert advice_for("NO_SUCH_CODE") == DEFAULT_ADVICE
    assert "Disnakertrans Muba" in DEFAULT_ADVICE


# ------------------------------------------------------------------ dedupe


def test_dedupe_key_stable_and_ignores_body() -> None:
    worker = _by_audience(_confirmed(), "worker")[0]
    again = _by_audience(_confirmed(worker_name="Siti Aminah Berubah"), "worker")[0]
    assert worker.body != again.body
    assert dedupe_key("evt-1", worker) == dedupe_key("evt-1", worker)
    assert dedupe_key("evt-1", worker) == dedupe_key("evt-1", again)


def test_dedupe_key_distinct_per_event_and_message() -> None:
    messages = _confirmed()
    keys = {dedupe_key("evt-1", m) for m in messages}
    assert len(keys) == len(messages)
    assert dedupe_key("evt-1", messages[0]) != dedupe_key("evt-2", messages[0])
    other_template = Notification(
        template="worker_waitlisted",
        audience=messages[0].audience,
        channel=messages[0].channel,
        recipient=messages[0].recipient,
        subject=None,
        body=messages[0].body,
    )
    assert dedupe_key("evt-1", other_template) != dedupe_key("evt-1", messages[0])


def test_dedupe_key_has_no_separator_collisions() -> None:
    a = Notification("t", "worker", "sms", "b|c", None, "x")
    b = Notification("t", "worker", "sms", "c", None, "x")
    assert dedupe_key("a|b", b) != dedupe_key("a", a)


def test_dedupe_key_requires_event_id() -> None:
    with pytest.raises(ValueError):
        dedupe_key(" ", _confirmed()[0])
