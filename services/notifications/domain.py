"""Pure rules of the notifications service: what to send, to whom, in which words.

No I/O here. Builders turn a fact ("enrollment completed", "registration rejected", ...) into the
list of messages to send; the service sends them and uses `dedupe_key` so that one event never
sends the same message twice. Texts are in Bahasa Indonesia. Worker messages go by SMS or
WhatsApp and are kept to `SMS_MAX_CHARS` characters.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from shared.events.notifications import Audience, Channel
from shared.format import format_tanggal
from shared.masking import mask_nik, mask_phone, mask_text

WorkerChannel = Literal["sms", "whatsapp"]

SMS_MAX_CHARS = 320

# A template's value is stored in each row, announced in NotificationSent.template (and in the
# company webhook's "event"), counted by operators and is part of `dedupe_key`: it stays as first
# published. The constants take the names of the facts they answer (sponsorship's enrollment
# completed / failed); the two enrollment values keep the earlier words so that a replayed old
# event still finds its messages and readers of the topic see no new name.
TEMPLATE_ENROLLMENT_COMPLETED = "enrollment_confirmed"
TEMPLATE_WORKER_WAITLISTED = "worker_waitlisted"
TEMPLATE_REGISTRATION_REJECTED = "registration_rejected"
TEMPLATE_ENROLLMENT_FAILED = "enrollment_rejected"

PROGRAMME_NAME = "Perlindungan Pekerja Rentan Kabupaten Musi Banyuasin"
PROGRAMME_NAME_SHORT = "Perlindungan Pekerja Rentan Kab. Muba"
OFFICE_NAME = "Disnakertrans Muba"
OFFICE_SIGNATURE = "Dinas Tenaga Kerja dan Transmigrasi Kabupaten Musi Banyuasin"

# Indonesia has no daylight saving time, so a fixed offset is exact for WIB (Asia/Jakarta).


_WORKER_CHANNELS: frozenset[str] = frozenset(get_args(WorkerChannel))
# The mobile ranges the registry accepts (phonenumbers' metadata, shared/validation.PHONE).
_MOBILE_PHONE = re.compile(r"\+628[1-35-9]\d{7,10}")
_KECAMATAN_PREFIX = re.compile(r"^\s*(kecamatan|kec\.)\s*", re.IGNORECASE)

# Free-text inputs are clipped in SMS so that fixed facts (KPJ, dates) always fit.
_SMS_NAME_MAX = 40
_SMS_COMPANY_MAX = 50
_SMS_PLACE_MAX = 30
_SMS_REASON_MAX = 80


@dataclass(frozen=True, slots=True)
class Notification:
    template: str
    audience: Audience
    channel: Channel
    recipient: str
    subject: str | None
    body: str


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def is_usable_phone(phone: str | None) -> bool:
    """True for a normalised Indonesian mobile number ('+628...'), the only kind SMS/WhatsApp reach."""
    return phone is not None and _MOBILE_PHONE.fullmatch(phone.strip()) is not None


def describe_package(package: str) -> str:
    """'JKK dan JKM', or 'JKK, JKM dan JHT' when the package includes JHT (old-age savings)."""
    return "JKK, JKM dan JHT" if "JHT" in package.upper() else "JKK dan JKM"


# --------------------------------------------------------------------------------------------
# Advice
# --------------------------------------------------------------------------------------------

DEFAULT_ADVICE = (
    "Hubungi mitra/operator yang mendaftarkan Anda atau Disnakertrans Muba untuk memeriksa data Anda."
)


class _AdviceMap(dict[str, str]):
    """A dict that answers unknown codes with DEFAULT_ADVICE (without storing them)."""

    def __missing__(self, key: str) -> str:
        return DEFAULT_ADVICE


REJECTION_ADVICE: dict[str, str] = _AdviceMap(
    {
        # Registration (registry validation) codes.
        "MISSING_FIELD": "Lengkapi data yang belum diisi sesuai KTP.",
        "INVALID_TYPE": "Periksa kembali isian data; ada isian yang bentuknya tidak sesuai.",
        "NIK_FORMAT": "Tulis NIK 16 angka persis seperti di KTP.",
        "NIK_PROVINCE": "Periksa NIK dan tulis persis seperti di KTP; kode wilayahnya tidak dikenal.",
        "NIK_BIRTH_DATE_MISMATCH": (
            "Samakan tanggal lahir dengan KTP; bila data di KTP salah, perbaiki di Disdukcapil."
        ),
        "NIK_SEX_MISMATCH": (
            "Samakan jenis kelamin dengan KTP; bila data di KTP salah, perbaiki di Disdukcapil."
        ),
        "NIK_SERIAL": "Periksa 4 angka terakhir NIK dan tulis persis seperti di KTP.",
        "BIRTH_DATE_FORMAT": "Tulis tanggal lahir lengkap (tanggal, bulan, tahun) sesuai KTP.",
        "AGE_BELOW_MINIMUM": "Usia belum cukup untuk program ini; silakan daftar lagi setelah cukup umur.",
        "AGE_ABOVE_MAXIMUM": (
            "Usia melewati batas program ini; tanyakan perlindungan lain ke Disnakertrans Muba."
        ),
        "SEX_INVALID": "Isi jenis kelamin (laki-laki atau perempuan) sesuai KTP.",
        "KECAMATAN_UNKNOWN": "Pilih kecamatan tempat Anda bekerja di Kabupaten Musi Banyuasin.",
        "PHONE_INVALID": "Isi nomor HP yang aktif, misalnya 0812xxxxxxxx.",
        "NAME_INVALID": "Tulis nama lengkap persis seperti di KTP.",
        "NAME_TOO_LONG": "Tulis nama persis seperti di KTP, tanpa gelar atau keterangan tambahan.",
        "OCCUPATION_INVALID": "Pilih pekerjaan dari daftar yang tersedia.",
        "INCOME_INVALID": "Isi perkiraan penghasilan per bulan dalam rupiah, angka saja.",
        "DESA_INVALID": "Pilih desa/kelurahan yang ada di kecamatan tersebut.",
        "DUPLICATE_NIK": (
            "NIK ini sudah terdaftar di program; tidak perlu mendaftar lagi. "
            "Tanyakan statusnya ke Disnakertrans Muba bila perlu."
        ),
        "SOURCE_MISMATCH": (
            "Data Anda tidak salah: mitra pengirim salah mengisi nama mitra. "
            "Mitra/operator yang mendaftarkan Anda perlu mengirim ulang pendaftaran."
        ),
        # BPJS Ketenagakerjaan enrollment codes.
        "NIK_NOT_FOUND": (
            "Perbarui data kependudukan di Disdukcapil, lalu daftar ulang lewat mitra/operator."
        ),
        "ALREADY_MEMBER": "Anda sudah menjadi peserta BPJS Ketenagakerjaan; tidak perlu tindakan apa pun.",
        "AGE_NOT_ELIGIBLE": ("Tanyakan program perlindungan lain yang sesuai ke Disnakertrans Muba."),
        "DATA_MISMATCH": (
            "Samakan nama dan tanggal lahir dengan KTP lewat mitra/operator; "
            "bila data KTP salah, perbaiki di Disdukcapil."
        ),
    }
)


def advice_for(code: str) -> str:
    return REJECTION_ADVICE.get(code, DEFAULT_ADVICE)


_FIELD_LABELS: dict[str, str] = {
    "nik": "NIK",
    "full_name": "nama",
    "name": "nama",
    "birth_date": "tanggal lahir",
    "sex": "jenis kelamin",
    "gender": "jenis kelamin",
    "kecamatan": "kecamatan",
    "kecamatan_code": "kecamatan",
    "phone": "nomor HP",
    "phone_number": "nomor HP",
    "occupation": "pekerjaan",
    "income": "penghasilan",
    "monthly_income": "penghasilan",
    "declared_income": "penghasilan",
    "desa": "desa/kelurahan",
    "desa_code": "desa/kelurahan",
    "address": "alamat",
}

# What went wrong, in plain words, per registration rejection code ("{label}" = the field).
_REGISTRATION_PROBLEMS: dict[str, str] = {
    "MISSING_FIELD": "{label} belum diisi",
    "INVALID_TYPE": "isian {label} tidak sesuai",
    "NIK_FORMAT": "NIK harus 16 angka",
    "NIK_PROVINCE": "kode wilayah pada NIK tidak dikenal",
    "NIK_BIRTH_DATE_MISMATCH": "tanggal lahir tidak cocok dengan NIK",
    "NIK_SEX_MISMATCH": "jenis kelamin tidak cocok dengan NIK",
    "NIK_SERIAL": "nomor urut pada NIK tidak valid",
    "BIRTH_DATE_FORMAT": "tanggal lahir tidak valid",
    "AGE_BELOW_MINIMUM": "usia di bawah batas minimal",
    "AGE_ABOVE_MAXIMUM": "usia di atas batas maksimal",
    "SEX_INVALID": "jenis kelamin tidak valid",
    "KECAMATAN_UNKNOWN": "kecamatan tidak dikenal",
    "PHONE_INVALID": "nomor HP tidak valid",
    "NAME_INVALID": "nama tidak valid",
    "NAME_TOO_LONG": "nama terlalu panjang",
    "OCCUPATION_INVALID": "pekerjaan tidak dikenal",
    "INCOME_INVALID": "penghasilan tidak valid",
    "DESA_INVALID": "desa/kelurahan tidak dikenal",
    "DUPLICATE_NIK": "NIK sudah terdaftar di program ini",
    "SOURCE_MISMATCH": "pendaftaran dikirim atas nama mitra lain",
}

_ENROLLMENT_PROBLEMS: dict[str, str] = {
    "NIK_NOT_FOUND": "NIK Anda tidak ditemukan di data Dukcapil",
    "ALREADY_MEMBER": "Anda sudah terdaftar sebagai peserta BPJS Ketenagakerjaan",
    "AGE_NOT_ELIGIBLE": "usia Anda tidak memenuhi syarat peserta",
    "DATA_MISMATCH": "data Anda berbeda dengan data Dukcapil",
}


def _field_label(field: str) -> str:
    key = field.strip().lower().rsplit(".", 1)[-1]
    return _FIELD_LABELS.get(key, key.replace("_", " ") or "data")


def _registration_problem(field: str, code: str) -> str:
    template = _REGISTRATION_PROBLEMS.get(code, "isian {label} tidak sesuai")
    return template.format(label=_field_label(field))


# --------------------------------------------------------------------------------------------
# Small text helpers
# --------------------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    """Shorten free text to `limit` characters, ASCII '...' so SMS stays in the GSM alphabet."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 3].rstrip() + "..."


def _clean(text: str | None) -> str:
    """Collapse whitespace and mask what may be personal data (NIKs, phone and KPJ numbers, any
    run of 12+ digits: a mistyped NIK) as logs do."""
    return mask_text(" ".join((text or "").split()))


def _first_fitting(candidates: Iterable[str], limit: int = SMS_MAX_CHARS) -> str:
    """The first candidate within `limit`; failing that, the last one cut to fit."""
    last = ""
    for candidate in candidates:
        if len(candidate) <= limit:
            return candidate
        last = candidate
    return _clip(last, limit)


def _kecamatan(name: str) -> str:
    return _KECAMATAN_PREFIX.sub("", _clean(name)) or "-"


def _greeting(name: str | None) -> str:
    cleaned = _clip(_clean(name), _SMS_NAME_MAX)
    return f"Yth. {cleaned}," if cleaned else "Yth. Bapak/Ibu,"


def _require_worker_channel(channel: str) -> WorkerChannel:
    if channel not in _WORKER_CHANNELS:
        raise ValueError(f"worker channel must be sms or whatsapp, got {channel!r}")
    return "sms" if channel == "sms" else "whatsapp"


def _require_phone(phone: str) -> str:
    if not is_usable_phone(phone):
        raise ValueError(f"worker phone is not a normalised mobile number: {mask_phone(phone)!r}")
    return phone.strip()


def _require(value: str, what: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"{what} must not be empty")
    return stripped


def _optional(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped or None


def _worker_message(template: str, channel: WorkerChannel, phone: str, body: str) -> Notification:
    return Notification(
        template=template,
        audience="worker",
        channel=channel,
        recipient=phone,
        subject=None,
        body=_first_fitting([body]),
    )


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Enrollment:
    """What the enrollment-completed messages tell, cleaned for display (the NIK masked)."""

    kpj: str
    coverage_start: date
    coverage_end: date
    start: str  # format_tanggal(coverage_start)
    end: str
    cover: str  # describe_package(package)
    company: str
    name: str
    kecamatan: str
    masked_nik: str


def enrollment_completed(
    *,
    worker_name: str,
    worker_phone: str,
    worker_channel: WorkerChannel,
    kpj_number: str,
    coverage_start: date,
    coverage_end: date,
    package: str,
    company_name: str,
    company_email: str | None,
    company_webhook_url: str | None,
    nik: str,
    kecamatan_name: str,
    office_email: str,
) -> list[Notification]:
    """Worker (KPJ, coverage, who pays, card) and sponsoring company (email and/or webhook).

    `office_email` is accepted for a uniform signature; the office gets summaries elsewhere.
    The webhook body is a JSON document; the NIK only ever appears masked.
    """
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    kpj = _require(kpj_number, "kpj_number")
    if coverage_end < coverage_start:
        raise ValueError("coverage_end is before coverage_start")
    enrollment = _Enrollment(
        kpj=kpj,
        coverage_start=coverage_start,
        coverage_end=coverage_end,
        start=format_tanggal(coverage_start),
        end=format_tanggal(coverage_end),
        cover=describe_package(package),
        company=_clean(company_name) or "perusahaan sponsor",
        name=_clean(worker_name),
        kecamatan=_kecamatan(kecamatan_name),
        masked_nik=mask_nik(nik),
    )
    worker_body = _enrollment_completed_sms(_greeting(worker_name), enrollment)
    messages = [_worker_message(TEMPLATE_ENROLLMENT_COMPLETED, channel, phone, worker_body)]
    email = _optional(company_email)
    if email is not None:
        messages.append(_enrollment_completed_email(email, enrollment))
    webhook = _optional(company_webhook_url)
    if webhook is not None:
        messages.append(_enrollment_completed_webhook(webhook, enrollment))
    return messages


def _enrollment_completed_sms(greeting: str, e: _Enrollment) -> str:
    company = _clip(e.company, _SMS_COMPANY_MAX)
    return _first_fitting(
        [
            f"{greeting} Anda terdaftar sebagai peserta BPJS Ketenagakerjaan ({e.cover}) program "
            f"{PROGRAMME_NAME_SHORT}. No. KPJ: {e.kpj}. Berlaku {e.start} s.d. {e.end}. Iuran dibayar "
            f"oleh {company}, Anda tidak perlu membayar. Kartu peserta diterima dalam 7 hari.",
            f"{greeting} Anda peserta BPJS Ketenagakerjaan ({e.cover}) program {PROGRAMME_NAME_SHORT}. "
            f"KPJ: {e.kpj}. Berlaku {e.start} s.d. {e.end}. Iuran dibayar oleh {company}, "
            "Anda tidak membayar. Kartu diterima dalam 7 hari.",
            f"{greeting} Anda peserta BPJS Ketenagakerjaan ({e.cover}) program Pekerja Rentan Muba. "
            f"KPJ: {e.kpj}. Berlaku {e.start} s.d. {e.end}. Iuran dibayar {company}, "
            "Anda tidak membayar. Kartu diterima dalam 7 hari.",
        ]
    )


def _enrollment_completed_email(recipient: str, e: _Enrollment) -> Notification:
    body = (
        f"Yth. {e.company},\n\n"
        f"Terima kasih atas dukungan Anda pada program {PROGRAMME_NAME}. Pekerja berikut telah "
        "terdaftar sebagai peserta BPJS Ketenagakerjaan dengan iuran ditanggung oleh "
        f"{e.company}:\n\n"
        f"Nama              : {e.name}\n"
        f"NIK               : {e.masked_nik}\n"
        f"No. KPJ           : {e.kpj}\n"
        f"Program           : {e.cover}\n"
        f"Masa perlindungan : {e.start} s.d. {e.end}\n"
        f"Kecamatan         : {e.kecamatan}\n\n"
        "Kartu peserta akan diterima pekerja dalam 7 hari.\n\n"
        f"Hormat kami,\n{OFFICE_SIGNATURE}"
    )
    return Notification(
        template=TEMPLATE_ENROLLMENT_COMPLETED,
        audience="company",
        channel="email",
        recipient=recipient,
        subject=f"Pekerja terdaftar BPJS Ketenagakerjaan: {e.name} (KPJ {e.kpj})",
        body=body,
    )


def _enrollment_completed_webhook(recipient: str, e: _Enrollment) -> Notification:
    """A JSON document (keys sorted, non-ASCII kept)."""
    payload = {
        "event": TEMPLATE_ENROLLMENT_COMPLETED,
        "company_name": e.company,
        "worker_name": e.name,
        "nik_masked": e.masked_nik,
        "kpj_number": e.kpj,
        "package": e.cover,
        "coverage_start": e.coverage_start.isoformat(),
        "coverage_end": e.coverage_end.isoformat(),
        "kecamatan": e.kecamatan,
        "pesan": (
            f"{e.name} terdaftar sebagai peserta BPJS Ketenagakerjaan ({e.cover}), KPJ {e.kpj}, "
            f"berlaku {e.start} s.d. {e.end}, kecamatan {e.kecamatan}; iuran ditanggung {e.company}."
        ),
    }
    return Notification(
        template=TEMPLATE_ENROLLMENT_COMPLETED,
        audience="company",
        channel="webhook",
        recipient=recipient,
        subject=None,
        body=json.dumps(payload, ensure_ascii=False, sort_keys=True),
    )


def worker_waitlisted(
    *,
    worker_name: str,
    worker_phone: str,
    worker_channel: WorkerChannel,
    kecamatan_name: str,
) -> list[Notification]:
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    greeting = _greeting(worker_name)
    kecamatan = _clip(_kecamatan(kecamatan_name), _SMS_PLACE_MAX)
    body = _first_fitting(
        [
            f"{greeting} pendaftaran Anda di program {PROGRAMME_NAME_SHORT} sudah diterima. "
            f"Saat ini Anda masuk daftar tunggu sampai ada perusahaan di Kecamatan {kecamatan} yang "
            "menanggung iuran BPJS Ketenagakerjaan Anda. Kami akan mengabari Anda lagi. "
            "Anda tidak perlu membayar apa pun.",
            f"{greeting} pendaftaran Anda di program {PROGRAMME_NAME_SHORT} diterima. Anda masuk "
            f"daftar tunggu sampai ada perusahaan di Kec. {kecamatan} yang menanggung iuran BPJS "
            "Ketenagakerjaan Anda. Kami akan mengabari Anda lagi.",
        ]
    )
    return [_worker_message(TEMPLATE_WORKER_WAITLISTED, channel, phone, body)]


def registration_rejected(
    *,
    full_name: str | None,
    phone: str | None,
    reasons: Sequence[tuple[str, str, str]],
    source: str,
    office_email: str,
) -> list[Notification]:
    """SMS to the worker when a usable phone is known, and always an e-mail to the office.

    `reasons` are (field, code, message) from registry validation. No SMS goes out when one of
    the reasons is PHONE_INVALID: the number itself is in doubt.
    """
    office = _require(office_email, "office_email")
    name = _clean(full_name)
    src = _clean(source) or "-"
    codes = [code for _, code, _ in reasons]
    send_sms = is_usable_phone(phone) and "PHONE_INVALID" not in codes

    messages: list[Notification] = []
    if send_sms and phone is not None:
        messages.append(
            _worker_message(
                TEMPLATE_REGISTRATION_REJECTED,
                "sms",
                phone.strip(),
                _registration_rejected_sms(full_name, reasons),
            )
        )

    messages.append(
        Notification(
            template=TEMPLATE_REGISTRATION_REJECTED,
            audience="office",
            channel="email",
            recipient=office,
            subject=f"Pendaftaran pekerja ditolak ({src}): {name or 'tanpa nama'}",
            body=_registration_rejected_office_body(src, name, phone, send_sms, reasons),
        )
    )
    return messages


def _registration_rejected_office_body(
    src: str, name: str, phone: str | None, sms_sent: bool, reasons: Sequence[tuple[str, str, str]]
) -> str:
    """Who was refused (phone masked), whether they were told, and each reason with its advice."""
    raw_phone = _optional(phone)
    lines = [
        f"Pendaftaran pekerja dari sumber {src} ditolak oleh validasi data.",
        "",
        f"Nama     : {name or '-'}",
        f"Nomor HP : {mask_phone(raw_phone) if raw_phone else '-'}",
        "Pekerja  : "
        + ("diberi tahu lewat SMS" if sms_sent else "tidak diberi tahu (nomor HP tidak ada/tidak valid)"),
        "",
        "Alasan:",
    ]
    if not reasons:
        lines.append("- (tidak ada rincian alasan)")
    for field, code, message in reasons:
        detail = _clean(message) or _registration_problem(field, code)
        lines.append(f"- {_field_label(field)} [{code}]: {detail}")
        lines.append(f"  Saran: {advice_for(code)}")
    lines += ["", "Mohon bantu mitra/operator memperbaiki data lalu mengirim ulang pendaftaran."]
    return "\n".join(lines)


def _registration_rejected_sms(full_name: str | None, reasons: Sequence[tuple[str, str, str]]) -> str:
    greeting = _greeting(full_name)
    problems: list[str] = []
    distinct_codes: list[str] = []
    for field, code, _ in reasons:
        problem = _registration_problem(field, code)
        if problem not in problems:
            problems.append(problem)
        if code not in distinct_codes:
            distinct_codes.append(code)
    if not problems:
        problems = ["data tidak lengkap atau tidak sesuai"]
    # DUPLICATE_NIK advice already says what to do and whom to ask; no "correct the data" then.
    closing = (
        ""
        if distinct_codes == ["DUPLICATE_NIK"]
        else " Hubungi mitra/operator yang mendaftarkan Anda atau Disnakertrans Muba untuk memperbaiki data."
    )
    advices = [advice_for(code) for code in distinct_codes]

    def render(shown: Sequence[str], more: bool, advice: Sequence[str]) -> str:
        what = "; ".join(shown) + ("; dan lainnya" if more else "")
        extra = "".join(f" {a}" for a in advice)
        return (
            f"{greeting} pendaftaran Anda di program {PROGRAMME_NAME_SHORT} belum dapat diproses: "
            f"{what}.{extra}{closing}"
        )

    def candidates() -> Iterable[str]:
        yield render(problems, False, advices)
        yield render(problems, False, advices[:1])
        yield render(problems, False, [])
        for count in range(len(problems) - 1, 0, -1):
            yield render(problems[:count], True, [])

    return _first_fitting(candidates())


def enrollment_failed(
    *,
    worker_name: str,
    worker_phone: str,
    worker_channel: WorkerChannel,
    reason_code: str,
    reason_message: str,
    office_email: str,
) -> list[Notification]:
    """BPJS Ketenagakerjaan refused the enrollment: tell the worker why and what to do, and the office."""
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    office = _require(office_email, "office_email")
    code = reason_code.strip()
    message = _clean(reason_message)
    advice = advice_for(code)
    worker_body = _enrollment_failed_sms(_greeting(worker_name), code, message, advice)
    name = _clean(worker_name)
    office_body = "\n".join(
        [
            "BPJS Ketenagakerjaan menolak pendaftaran pekerja berikut.",
            "",
            f"Nama     : {name or '-'}",
            f"Nomor HP : {mask_phone(phone)}",
            f"Kode     : {code or '-'}",
            f"Alasan   : {message or '-'}",
            f"Saran    : {advice}",
            "",
            "Pekerja juga diberi tahu lewat " + ("SMS." if channel == "sms" else "WhatsApp."),
        ]
    )
    return [
        _worker_message(TEMPLATE_ENROLLMENT_FAILED, channel, phone, worker_body),
        Notification(
            template=TEMPLATE_ENROLLMENT_FAILED,
            audience="office",
            channel="email",
            recipient=office,
            subject=f"Pendaftaran BPJS ditolak ({code or 'tanpa kode'}): {name or 'tanpa nama'}",
            body=office_body,
        ),
    ]


def _enrollment_failed_sms(greeting: str, code: str, message: str, advice: str) -> str:
    """Why, in plain words (BPJS's own message, clipped, for a code we do not know), and what to do;
    an existing member needs to do nothing."""
    if code == "ALREADY_MEMBER":
        return _first_fitting(
            [
                f"{greeting} Anda sudah terdaftar sebagai peserta BPJS Ketenagakerjaan, sehingga tidak "
                f"didaftarkan lagi lewat program {PROGRAMME_NAME_SHORT}. Tidak perlu tindakan apa pun.",
            ]
        )
    why = _ENROLLMENT_PROBLEMS.get(code) or (
        f"alasan dari BPJS: {_clip(message, _SMS_REASON_MAX)}" if message else "alasan belum diketahui"
    )
    stop = "" if why.endswith("...") else "."
    return _first_fitting(
        [
            f"{greeting} pendaftaran BPJS Ketenagakerjaan Anda lewat program {PROGRAMME_NAME_SHORT} "
            f"belum berhasil karena {why}{stop} {advice}",
            f"{greeting} pendaftaran BPJS Ketenagakerjaan Anda belum berhasil karena {why}{stop} {advice}",
        ]
    )


# --------------------------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------------------------


def dedupe_key(event_id: str, notification: Notification) -> str:
    """Stable key per (event, template, audience, channel, recipient): the same event never
    sends the same message twice, whatever the body. Hex SHA-256, so separators cannot collide.
    """
    if not event_id.strip():
        raise ValueError("event_id must not be empty")
    parts = [
        event_id.strip(),
        notification.template,
        notification.audience,
        notification.channel,
        notification.recipient.strip(),
    ]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()
