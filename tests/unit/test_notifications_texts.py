"""What the worker's SMS really costs and says: the GSM-7 alphabet, segment counting, every worker
template within its segment budget for the longest names, the greetings, the duplicate-NIK
message, and the texts of the new cases (DATA_MISMATCH, ALREADY_FUNDED, an existing member's
membership continued or resumed)."""

import json
from collections.abc import Iterator
from datetime import date

import pytest

from services.notifications.domain import (
    BRING_DOCUMENTS,
    SMS_MAX_CHARS,
    SMS_SEGMENT_BUDGET,
    TEMPLATE_COVERAGE_ENDED,
    TEMPLATE_COVERAGE_ENDING,
    TEMPLATE_COVERAGE_EXTENDED,
    TEMPLATE_ENROLLMENT_COMPLETED,
    TEMPLATE_ENROLLMENT_FAILED,
    TEMPLATE_REGISTRATION_REJECTED,
    TEMPLATE_WORKER_WAITLISTED,
    Notification,
    coverage_ended,
    coverage_ending,
    coverage_extended,
    enrollment_completed,
    enrollment_failed,
    funder_named_in,
    is_gsm7,
    registration_rejected,
    sms_segments,
    to_gsm7,
    worker_waitlisted,
)
from services.registry.domain import registration as registry_domain
from shared.kecamatan import KECAMATAN
from shared.validation import MAX_COMMITMENT_TEXT, MAX_REGISTRATION_TEXT

PHONE = "+6281234567890"
OFFICE = "disnakertrans@mubakab.go.id"
KPJ = "12345678901"
FUNDER = "PAKE KELAMBU (APBD Kabupaten Musi Banyuasin)"

# The longest inputs the contracts allow: a 100-character name of letters and apostrophes (curly
# ones too, as phones type them), the longest kecamatan, a 200-character company name, the
# longest Indonesian month name in both dates.
LONGEST_NAMES = [
    ("Ma’ruf Nur’aini D’Silva O’Neil " * 4)[:MAX_REGISTRATION_TEXT],
    ("Ma'ruf Nur'aini " * 7)[:MAX_REGISTRATION_TEXT],
    "A" * MAX_REGISTRATION_TEXT,
]
LONGEST_KECAMATAN = max(KECAMATAN.values(), key=len)
LONGEST_COMPANY = ("PT Perkebunan Kelapa Sawit Musi Banyuasin Lestari Sejahtera " * 4)[:MAX_COMMITMENT_TEXT]
START, END = date(2026, 9, 30), date(2027, 9, 29)  # "30 September 2026 s.d. 29 September 2027"


def _completed(name: str, membership: str, package: str = "JKK_JKM_JHT", **changes: object) -> Notification:
    args: dict[str, object] = {
        "worker_name": name,
        "worker_phone": PHONE,
        "worker_channel": "sms",
        "kpj_number": KPJ,
        "coverage_start": START,
        "coverage_end": END,
        "package": package,
        "company_name": LONGEST_COMPANY,
        "company_email": "csr@example.co.id",
        "company_webhook_url": "https://hooks.example.co.id/bpjs",
        "nik": "1606015208900003",
        "kecamatan_name": LONGEST_KECAMATAN,
        "office_email": OFFICE,
        "membership": membership,
        **changes,
    }
    return enrollment_completed(**args)[0]  # type: ignore[arg-type]


def _failed(name: str, code: str, message: str = "y " * 300) -> list[Notification]:
    return enrollment_failed(
        worker_name=name,
        worker_phone=PHONE,
        worker_channel="sms",
        reason_code=code,
        reason_message=message,
        office_email=OFFICE,
    )


def _rejected(name: str | None, reasons: list[tuple[str, str, str]]) -> list[Notification]:
    return registration_rejected(
        full_name=name, phone=PHONE, reasons=reasons, source="desa-online", office_email=OFFICE
    )


# ------------------------------------------------------------------ the alphabet


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("Ma’ruf", "Ma'ruf"),
        ("Ma‘ruf", "Ma'ruf"),
        ("“Sekayu”", '"Sekayu"'),
        ("„Lais“", '"Lais"'),
        ("1–2 — 3", "1-2 - 3"),
        ("tunggu…", "tunggu..."),
        ("Siti\u00a0Aminah", "Siti Aminah"),
        ("Siti\u202fAminah", "Siti Aminah"),
        ("Nur\u00adaini", "Nuraini"),  # a soft hyphen
        ("Françoise", "Francoise"),  # GSM-7 has Ç, not ç
        ("Ça", "Ça"),
        ("Âisyah Ōkubo Şahin", "Aisyah Okubo Sahin"),
        ("İlham Yıldız", "Ilham Yildiz"),
        ("Łukasz Đorđe", "Lukasz Dorde"),
        ("é ü ñ à ä ö å ø æ ß É Ñ Ü Ö Ä Å Ø Æ è ù ì ò", "é ü ñ à ä ö å ø æ ß É Ñ Ü Ö Ä Å Ø Æ è ù ì ò"),
        ("e\u0301", "é"),  # a decomposed é is the é GSM-7 has
        ("50€ [x] {y} ~ | ^ \\", "50€ [x] {y} ~ | ^ \\"),
        ("محمد", "محمد"),  # no plain equivalent: stays (the SMS goes out in UCS-2)
    ],
)
def test_to_gsm7_writes_plain_equivalents_and_keeps_what_gsm7_has(written: str, sent: str) -> None:
    assert to_gsm7(written) == sent


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("€" * 80, 1),  # extension characters take two septets
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets, but the ESC pair is not split
        ("é" * 160, 1),  # é is in GSM-7
        ("ç" * 70, 1),  # ç is not: UCS-2
        ("ç" * 71, 2),
        ("ç" * 134, 2),
        ("ç" * 135, 3),
        ("a" * 66 + "😀" + "a" * 66, 3),  # 134 code units, a surrogate pair is not split
        ("’" + "a" * 159, 3),  # one curly apostrophe: UCS-2, 160 / 67
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_a_curly_apostrophe_in_a_name_keeps_a_three_segment_sms_at_three() -> None:
    curly = _completed("Ma’ruf Amin", "new", company_name="PT Hindoli").body
    straight = _completed("Ma'ruf Amin", "new", company_name="PT Hindoli").body
    assert curly == straight
    assert is_gsm7(curly)
    assert sms_segments(curly) == 3
    assert sms_segments(curly.replace("Ma'ruf", "Ma’ruf")) == 6  # what it would cost in UCS-2


def test_whatsapp_keeps_the_name_as_written() -> None:
    (worker, *_) = enrollment_completed(
        worker_name="Ma’ruf Amin",
        worker_phone=PHONE,
        worker_channel="whatsapp",
        kpj_number=KPJ,
        coverage_start=START,
        coverage_end=END,
        package="JKK_JKM",
        company_name="PT Hindoli",
        company_email=None,
        company_webhook_url=None,
        nik="1606015208900003",
        kecamatan_name="Sekayu",
        office_email=OFFICE,
    )
    assert "Ma’ruf Amin" in worker.body


# ------------------------------------------------------------------ every template within its budget


def _every_worker_sms() -> Iterator[tuple[str, str, Notification, list[str]]]:
    """(template, case, the worker's SMS, facts it must keep) for every worker template and case,
    rendered with the longest inputs."""
    for name in LONGEST_NAMES:
        for membership in ("new", "continued", "resumed"):
            for package in ("JKK_JKM", "JKK_JKM_JHT"):
                yield (
                    TEMPLATE_ENROLLMENT_COMPLETED,
                    f"{membership} {package}",
                    _completed(name, membership, package),
                    [KPJ, "30 September 2026", "29 September 2027", "tidak perlu membayar"],
                )
        (waitlisted,) = worker_waitlisted(
            worker_name=name, worker_phone=PHONE, worker_channel="sms", kecamatan_name=LONGEST_KECAMATAN
        )
        yield TEMPLATE_WORKER_WAITLISTED, "waitlisted", waitlisted, ["daftar tunggu", LONGEST_KECAMATAN]
        every_reason = [
            (f"field_{code.lower()}", code, "x" * 200)
            for code in sorted(registry_domain.REASON_CODES - {"PHONE_INVALID", "DUPLICATE_NIK"})
        ]
        for case, reasons, facts in [
            ("every reason", every_reason, ["Disnakertrans Muba"]),
            *[(code, [(field, code, "x" * 200)], ["Disnakertrans Muba"]) for field, code, _ in every_reason],
            ("duplicate", [("nik", "DUPLICATE_NIK", "NIK sudah terdaftar")], ["tidak perlu mendaftar lagi"]),
            ("funded", [("nik", "ALREADY_FUNDED", FUNDER)], [FUNDER, "tidak perlu melakukan apa pun"]),
            ("funded, long", [("nik", "ALREADY_FUNDED", "F" * 200)], ["tidak perlu melakukan apa pun"]),
        ]:
            yield TEMPLATE_REGISTRATION_REJECTED, case, _rejected(name, reasons)[0], facts
        for code in ["NIK_NOT_FOUND", "AGE_NOT_ELIGIBLE", "DATA_MISMATCH", "ALREADY_MEMBER", "SOMETHING_NEW"]:
            yield TEMPLATE_ENROLLMENT_FAILED, code, _failed(name, code)[0], []
        yield TEMPLATE_ENROLLMENT_FAILED, "funded", _failed(name, "ALREADY_FUNDED", FUNDER)[0], [FUNDER]
        yield from _lifecycle_sms(name)


def _lifecycle_sms(name: str) -> Iterator[tuple[str, str, Notification, list[str]]]:
    """Coverage ending, extended and ended (both reasons, both next steps), longest inputs."""
    who = {"worker_name": name, "worker_phone": PHONE, "worker_channel": "sms"}
    company = {
        "company_name": LONGEST_COMPANY,
        "company_email": "csr@example.co.id",
        "company_webhook_url": None,
    }
    for days in (30, 7, 1, 0):
        (sms, *_) = coverage_ending(**who, kpj_number=KPJ, **company, coverage_end=END, days_left=days)  # type: ignore[arg-type]
        yield TEMPLATE_COVERAGE_ENDING, f"ending {days}", sms, ["29 September 2027"]
    (sms,) = coverage_extended(**who, company_name=LONGEST_COMPANY, months_added=12, coverage_end=END)  # type: ignore[arg-type]
    yield TEMPLATE_COVERAGE_EXTENDED, "extended", sms, ["29 September 2027", "tanpa jeda"]
    for reason in ("period_ended", "lapsed"):
        for step, start, facts in [
            ("fallback", START, ["29 September 2027", "30 September 2026"]),
            ("waitlisted", None, ["29 September 2027", "daftar tunggu"]),
        ]:
            (sms, *_) = coverage_ended(
                **who,  # type: ignore[arg-type]
                kpj_number=KPJ,
                **company,  # type: ignore[arg-type]
                reason=reason,
                last_covered_day=END,
                months_unpaid=3,
                next_step=step,
                next_company_name=LONGEST_COMPANY if step == "fallback" else None,
                next_coverage_start=start,
                office_email=OFFICE,
            )
            yield TEMPLATE_COVERAGE_ENDED, f"ended {reason} {step}", sms, facts


def test_every_worker_template_has_a_budget_and_is_rendered() -> None:
    rendered = {template for template, *_ in _every_worker_sms()}
    assert rendered == set(SMS_SEGMENT_BUDGET)


@pytest.mark.parametrize(("template", "case", "sms", "facts"), list(_every_worker_sms()))
def test_every_worker_sms_stays_within_its_segment_budget_with_the_longest_names(
    template: str, case: str, sms: Notification, facts: list[str]
) -> None:
    assert sms.template == template and sms.channel == "sms"
    assert is_gsm7(sms.body), case
    assert sms_segments(sms.body) <= SMS_SEGMENT_BUDGET[template], case
    assert len(sms.body) <= SMS_MAX_CHARS
    assert not sms.body.endswith("..."), "a wording fits: nothing is cut off"
    assert sms.body.startswith("Yth. Bapak/Ibu ")
    for fact in facts:
        assert fact in sms.body, (case, fact)


# ------------------------------------------------------------------ greetings and politeness


def test_every_worker_greeting_says_bapak_ibu_and_the_name() -> None:
    name = "Siti Aminah"
    bodies = [
        _completed(name, "new").body,
        worker_waitlisted(worker_name=name, worker_phone=PHONE, worker_channel="sms", kecamatan_name="Lais")[
            0
        ].body,
        _rejected(name, [("occupation", "MISSING_FIELD", "")])[0].body,
        _failed(name, "NIK_NOT_FOUND")[0].body,
    ]
    for body in bodies:
        assert body.startswith("Yth. Bapak/Ibu Siti Aminah, ")
    assert _rejected(None, [("occupation", "MISSING_FIELD", "")])[0].body.startswith("Yth. Bapak/Ibu, ")


def test_refusals_apologise() -> None:
    assert "mohon maaf" in _rejected("Siti", [("occupation", "MISSING_FIELD", "")])[0].body
    assert "mohon maaf" in _failed("Siti", "NIK_NOT_FOUND")[0].body


def test_the_duplicate_nik_sms_says_it_once_and_asks_for_nothing() -> None:
    worker, office = _rejected("Siti", [("nik", "DUPLICATE_NIK", "NIK sudah terdaftar")])
    assert worker.body.count("sudah terdaftar") == 1
    assert worker.body.count("terdaftar") == 1
    assert "tidak perlu mendaftar lagi" in worker.body
    assert "perbaiki" not in worker.body and "belum dapat diproses" not in worker.body
    assert "tidak perlu dikirim ulang" in office.body


# ------------------------------------------------------------------ DATA_MISMATCH


def test_data_mismatch_tells_the_worker_what_to_bring_and_where() -> None:
    worker, office = _failed("Siti", "DATA_MISMATCH", "Data tidak sesuai dengan Dukcapil")
    for words in [
        "KTP",
        "Kartu Keluarga",
        "Disdukcapil",
        "Disnakertrans Muba",
        "tanggal lahir dan jenis kelamin",
    ]:
        assert words in worker.body
    assert BRING_DOCUMENTS in worker.body
    # The office is told too, with what to check.
    assert office.audience == "office" and office.recipient == OFFICE
    assert "DATA_MISMATCH" in office.body
    assert "Tindak lanjut:" in office.body and "KTP dan KK" in office.body


# ------------------------------------------------------------------ ALREADY_FUNDED


@pytest.mark.parametrize(
    "message",
    [
        FUNDER,
        f"Sudah didanai oleh {FUNDER}.",
        f"NIK ini sudah ditanggung oleh {FUNDER}",
        f"Pemberi dana: {FUNDER}",
        f"Sudah terdaftar sebagai penerima {FUNDER}",
    ],
)
def test_the_funder_is_read_from_the_reason(message: str) -> None:
    named = funder_named_in(message)
    assert named is not None and named.endswith(FUNDER)
    assert funder_named_in("") is None


def test_an_already_funded_worker_is_told_who_protects_them_and_to_do_nothing() -> None:
    worker, office = _rejected("Siti Aminah", [("nik", "ALREADY_FUNDED", f"Sudah didanai oleh {FUNDER}")])
    assert worker.audience == "worker"
    assert f"sudah dilindungi BPJS Ketenagakerjaan dengan iuran ditanggung {FUNDER}" in worker.body
    assert "tidak perlu melakukan apa pun" in worker.body
    assert "belum dapat diproses" not in worker.body and "perbaiki" not in worker.body
    assert "ALREADY_FUNDED" in office.body and FUNDER in office.body
    assert "tidak perlu dikirim ulang" in office.body
    assert "jangan didanai dua kali" in office.body
    assert "ditolak oleh validasi data" not in office.body and "tidak diproses" in office.body


def test_already_funded_from_bpjs_side_is_understood_too() -> None:
    worker, _office = _failed("Siti", "ALREADY_FUNDED", FUNDER)
    assert FUNDER in worker.body and "tidak perlu melakukan apa pun" in worker.body


# ------------------------------------------------------------------ membership new / continued / resumed


def _all_completed(membership: str) -> list[Notification]:
    return enrollment_completed(
        worker_name="Siti Aminah",
        worker_phone=PHONE,
        worker_channel="sms",
        kpj_number=KPJ,
        coverage_start=START,
        coverage_end=END,
        package="JKK_JKM",
        company_name="PT Hindoli",
        company_email="csr@hindoli.co.id",
        company_webhook_url="https://hooks.hindoli.co.id/bpjs",
        nik="1606015208900003",
        kecamatan_name="Sungai Lilin",
        office_email=OFFICE,
        membership=membership,  # type: ignore[arg-type]
    )


def test_a_new_membership_is_called_new() -> None:
    worker, email, webhook = _all_completed("new")
    assert "kepesertaan baru" in worker.body and KPJ in worker.body
    assert "7 hari" in worker.body
    assert "kepesertaan baru" in email.body
    assert json.loads(webhook.body)["membership"] == "new"
    assert "kepesertaan baru" in json.loads(webhook.body)["pesan"]


@pytest.mark.parametrize(
    ("membership", "words"), [("continued", "dilanjutkan"), ("resumed", "diaktifkan kembali")]
)
def test_an_existing_membership_is_continued_or_resumed_on_the_same_kpj(membership: str, words: str) -> None:
    worker, email, webhook = _all_completed(membership)
    assert f"kepesertaan BPJS Ketenagakerjaan (JKK dan JKM) Anda {words}" in worker.body
    assert f"No. KPJ yang sama: {KPJ}" in worker.body
    assert "kepesertaan baru" not in worker.body and "7 hari" not in worker.body
    assert email.subject is not None and words in email.subject and KPJ in email.subject
    assert f"{words} dengan No. KPJ yang sama" in email.body and KPJ in email.body
    assert "kepesertaan baru" not in email.body
    payload = json.loads(webhook.body)
    assert payload["membership"] == membership and payload["kpj_number"] == KPJ
    assert words in payload["pesan"] and "No. KPJ yang sama" in payload["pesan"]


def test_an_unknown_membership_is_refused() -> None:
    with pytest.raises(ValueError):
        _all_completed("transferred")
