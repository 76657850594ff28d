"""Pure rules of the notifications service: what to send, to whom, in which words.

No I/O here. Builders turn a fact ("enrollment completed", "registration rejected", ...) into the
list of messages to send; the service sends them and uses `dedupe_key` so that one event never
sends the same message twice. Texts are in Bahasa Indonesia. A worker's SMS is written in the
GSM-7 alphabet wherever a character has a plain equivalent (a curly apostrophe in a name would
otherwise turn the whole SMS into UCS-2, 70 characters a segment instead of 160) and stays within
its template's segment budget (`SMS_SEGMENT_BUDGET`) and `SMS_MAX_CHARS`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from shared.events.notifications import Audience, Channel
from shared.events.sponsorship import Membership
from shared.format import BULAN, format_rupiah, format_tanggal
from shared.masking import mask_nik, mask_phone, mask_text

WorkerChannel = Literal["sms", "whatsapp"]

# The most any worker message may carry: three concatenated GSM-7 segments (3 x 153). The
# per-template budgets below are the tighter, real limits.
SMS_MAX_CHARS = 3 * 153

# A template's value is stored in each row, announced in NotificationStored.template (and in the
# company webhook's "event"), counted by operators and is part of `dedupe_key`: it stays as first
# published. The constants take the names of the facts they answer (sponsorship's enrollment
# completed / failed); the two enrollment values keep the earlier words so that a replayed old
# event still finds its messages and readers of the topic see no new name.
TEMPLATE_ENROLLMENT_COMPLETED = "enrollment_confirmed"
TEMPLATE_WORKER_WAITLISTED = "worker_waitlisted"
TEMPLATE_REGISTRATION_REJECTED = "registration_rejected"
TEMPLATE_ENROLLMENT_FAILED = "enrollment_rejected"
TEMPLATE_INVOICE_ISSUED = "invoice_issued"
TEMPLATE_INVOICE_REMINDER = "invoice_reminder"
TEMPLATE_COVERAGE_ENDING = "coverage_ending"
TEMPLATE_COVERAGE_EXTENDED = "coverage_extended"
TEMPLATE_COVERAGE_ENDED = "coverage_ended"

# How many SMS segments each worker template may take with the longest names (the test renders
# each with a 100-character name, the longest kecamatan and a 200-character company): a real limit,
# the builder picks the first wording within it. The operator pays per segment.
SMS_SEGMENT_BUDGET: dict[str, int] = {
    TEMPLATE_ENROLLMENT_COMPLETED: 3,
    TEMPLATE_WORKER_WAITLISTED: 2,
    TEMPLATE_REGISTRATION_REJECTED: 3,
    # BPJS's own reason for a code we do not know, or what to bring on a DATA_MISMATCH
    TEMPLATE_ENROLLMENT_FAILED: 3,
    TEMPLATE_COVERAGE_ENDING: 2,
    TEMPLATE_COVERAGE_EXTENDED: 2,
    # what happens next: the fallback sponsor and from when, or the waitlist
    TEMPLATE_COVERAGE_ENDED: 3,
}

PROGRAMME_NAME = "Perlindungan Pekerja Rentan Kabupaten Musi Banyuasin"
PROGRAMME_NAME_SHORT = "Perlindungan Pekerja Rentan Kab. Muba"
OFFICE_NAME = "Disnakertrans Muba"
OFFICE_SIGNATURE = "Dinas Tenaga Kerja dan Transmigrasi Kabupaten Musi Banyuasin"

# Indonesia has no daylight saving time, so a fixed offset is exact for WIB (Asia/Jakarta).


_WORKER_CHANNELS: frozenset[str] = frozenset(get_args(WorkerChannel))
# The shape of a normalised number. Deliberately not the registry's narrower mobile ranges
# (issue 12): a worker registered before them keeps getting messages, and an event is never
# dead-lettered (with the company's messages) for a number the registry once accepted.
_MOBILE_PHONE = re.compile(r"\+628\d{7,11}")
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
    # What an e-mail carries as an attachment, fetched when it is sent (an invoice's CSV).
    attachment_url: str | None = None

    @property
    def sms_segments(self) -> int | None:
        """What an SMS costs, in segments as sent; None for the other channels."""
        return sms_segments(self.body) if self.channel == "sms" else None


# --------------------------------------------------------------------------------------------
# The SMS alphabet (3GPP TS 23.038) and segments
# --------------------------------------------------------------------------------------------

# The GSM 7-bit default alphabet (ESC, 0x1B, left out: it only introduces the extension table).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character is sent as ESC + character, two septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

_GSM7_SEGMENT, _GSM7_SINGLE = 153, 160  # septets; a concatenated SMS spends 7 on its header
_UCS2_SEGMENT, _UCS2_SINGLE = 67, 70  # UTF-16 code units

# Plain equivalents of what phones, spreadsheets and word processors put in names and texts.
_GSM7_PLAIN: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\u02bb\u0060\u00b4", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    "\u2026": "...",
    **dict.fromkeys("\u00a0\u2007\u202f\u2009\u200a\u2002\u2003\u3000\t", " "),
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),
    # Latin letters NFKD does not take apart.
    "ı": "i",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Þ": "Th",
    "þ": "th",
    "œ": "oe",
    "Œ": "OE",
}


def _gsm7_char(char: str) -> str:
    if char in GSM7_BASIC or char in GSM7_EXTENSION:
        return char
    plain = _GSM7_PLAIN.get(char)
    if plain is not None:
        return plain
    # An accented letter GSM-7 lacks (â, ç, ō, ş ...): its base letter, when that is in GSM-7.
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(c in GSM7_BASIC for c in base):
        return base
    return char


def to_gsm7(text: str) -> str:
    """`text` with every character that has a plain GSM-7 equivalent replaced by it: curly quotes
    and apostrophes, dashes, the ellipsis, non-breaking and other spaces, accented Latin letters
    GSM-7 lacks (their base letter). Letters GSM-7 has (é, ü, ñ, à ...) stay as they are; a
    character with no equivalent (another script) stays too, and the SMS goes out in UCS-2."""
    return "".join(_gsm7_char(char) for char in unicodedata.normalize("NFC", text))


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def sms_segments(text: str) -> int:
    """How many SMS segments `text` takes as sent: GSM-7 when every character is in it (extension
    characters count two septets), else UCS-2 (UTF-16 code units); a message longer than one
    segment is concatenated, with a smaller payload per segment, and an ESC pair or a surrogate
    pair is never split across two."""
    if is_gsm7(text):
        units = [2 if char in GSM7_EXTENSION else 1 for char in text]
        single, per_segment = _GSM7_SINGLE, _GSM7_SEGMENT
    else:
        units = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, per_segment = _UCS2_SINGLE, _UCS2_SEGMENT
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for unit in units:
        if used + unit > per_segment:
            segments, used = segments + 1, 0
        used += unit
    return segments


def _sms_fits(text: str, budget: int) -> bool:
    return len(text) <= SMS_MAX_CHARS and sms_segments(to_gsm7(text)) <= budget


def _clip_to_budget(text: str, budget: int) -> str:
    """The longest cut of `text` (ending in '...') within `budget` segments and SMS_MAX_CHARS."""
    text = " ".join(text.split())
    if _sms_fits(text, budget):
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits, by bisection
        middle = (low + high + 1) // 2
        if _sms_fits(text[:middle].rstrip() + "...", budget):
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "..."


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


# What to bring when BPJS's Dukcapil check disagrees with the registration (DATA_MISMATCH): the
# NIK never changes (PP 40/2019 art. 30(2)); the birth date and sex on record decide.
BRING_DOCUMENTS = (
    "Mohon bawa KTP dan Kartu Keluarga (KK) ke Disdukcapil atau kantor Disnakertrans Muba untuk "
    "memeriksa tanggal lahir dan jenis kelamin yang tercatat."
)

REJECTION_ADVICE: dict[str, str] = _AdviceMap(
    {
        # Registration (registry validation) codes.
        "MISSING_FIELD": "Lengkapi data yang belum diisi sesuai KTP.",
        "INVALID_TYPE": "Periksa kembali isian data; ada isian yang bentuknya tidak sesuai.",
        "NIK_FORMAT": "Tulis NIK 16 angka persis seperti di KTP.",
        "NIK_PROVINCE": "Periksa NIK dan tulis persis seperti di KTP; kode wilayahnya tidak dikenal.",
        "NIK_BIRTH_DATE_MISMATCH": "Samakan tanggal lahir dengan yang tertulis di KTP.",
        "NIK_SEX_MISMATCH": "Samakan jenis kelamin dengan yang tertulis di KTP.",
        "NIK_SERIAL": "Periksa 4 angka terakhir NIK dan tulis persis seperti di KTP.",
        "BIRTH_DATE_FORMAT": "Tulis tanggal lahir lengkap (tanggal, bulan, tahun) sesuai KTP.",
        "AGE_BELOW_MINIMUM": "Usia belum mencukupi untuk program ini; silakan mendaftar lagi setelah cukup umur.",
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
        # Nothing to fix: the problem text says what happened, the advice only what (not) to do.
        "DUPLICATE_NIK": (
            "Anda tidak perlu mendaftar lagi; untuk menanyakan status, hubungi Disnakertrans Muba."
        ),
        "ALREADY_FUNDED": "Anda tidak perlu melakukan apa pun.",
        "SOURCE_MISMATCH": (
            "Data Anda tidak salah: mitra pengirim salah mengisi nama mitra. "
            "Mitra/operator yang mendaftarkan Anda perlu mengirim ulang pendaftaran."
        ),
        # BPJS Ketenagakerjaan enrollment codes.
        "NIK_NOT_FOUND": (
            "Perbarui data kependudukan di Disdukcapil, lalu daftar ulang lewat mitra/operator."
        ),
        "ALREADY_MEMBER": "Anda sudah menjadi peserta BPJS Ketenagakerjaan; tidak perlu tindakan apa pun.",
        "AGE_NOT_ELIGIBLE": "Tanyakan program perlindungan lain yang sesuai ke Disnakertrans Muba.",
        "DATA_MISMATCH": BRING_DOCUMENTS,
    }
)

# Rejections that leave the worker nothing to fix: their SMS says so, without "correct your data".
_NOTHING_TO_DO: frozenset[str] = frozenset({"DUPLICATE_NIK", "ALREADY_FUNDED"})

# What the office does about a BPJS refusal, beyond the worker's advice.
_OFFICE_FOLLOW_UP: dict[str, str] = {
    "DATA_MISMATCH": (
        "Periksa KTP dan KK pekerja bersama pekerja: bila tanggal lahir atau jenis kelamin pada"
        " pendaftaran berbeda dengan KTP/KK, minta mitra/operator mengirim ulang pendaftaran dengan"
        " data yang benar; bila data Dukcapil sendiri keliru, pekerja memperbaikinya di Disdukcapil."
        " NIK tidak berubah walaupun data dikoreksi (PP 40/2019 pasal 30 ayat 2)."
    ),
    "ALREADY_MEMBER": (
        "Pekerja sudah memegang kepesertaan BPJS Ketenagakerjaan: iurannya dapat ditanggung pada"
        " No. KPJ miliknya sendiri; periksa status kepesertaannya (aktif atau nonaktif)."
    ),
    "ALREADY_FUNDED": "Pekerja sudah ditanggung penyandang dana lain; jangan didanai dua kali.",
}


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
    "DUPLICATE_NIK": "NIK Anda sudah terdaftar di program ini",
    "ALREADY_FUNDED": "iuran BPJS Ketenagakerjaan Anda sudah ditanggung pihak lain",
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


_FUNDER_AFTER = re.compile(r"^.*\b(?:oleh|dari|melalui|program)\s+|^[^:]*:\s*", re.IGNORECASE)


def funder_named_in(message: str) -> str | None:
    """The funder an ALREADY_FUNDED reason names: the message itself when it is the name
    ('PAKE KELAMBU (APBD Kabupaten Musi Banyuasin)'), or what follows 'oleh' / 'dari' /
    'melalui' / a colon in a sentence ('... sudah ditanggung oleh PAKE KELAMBU (APBD ...)')."""
    cleaned = _clean(message).rstrip(".;, ")
    if not cleaned:
        return None
    named = _FUNDER_AFTER.sub("", cleaned, count=1).strip()
    return named or cleaned


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


def _first_fitting(candidates: Iterable[str], budget: int) -> str:
    """The first candidate within `budget` SMS segments (written in GSM-7) and SMS_MAX_CHARS;
    failing that, the last one cut to fit."""
    last = ""
    for candidate in candidates:
        if _sms_fits(candidate, budget):
            return candidate
        last = candidate
    return _clip_to_budget(last, budget)


def _kecamatan(name: str) -> str:
    return _KECAMATAN_PREFIX.sub("", _clean(name)) or "-"


def _greeting(name: str | None) -> str:
    cleaned = _clip(_clean(name), _SMS_NAME_MAX)
    return f"Yth. Bapak/Ibu {cleaned}," if cleaned else "Yth. Bapak/Ibu,"


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


def _worker_message(
    template: str, channel: WorkerChannel, phone: str, candidates: Iterable[str]
) -> Notification:
    """The first wording within the template's segment budget; an SMS goes out in GSM-7 where a
    character has a plain equivalent, a WhatsApp message (Unicode) as written."""
    body = _first_fitting(candidates, SMS_SEGMENT_BUDGET[template])
    return Notification(
        template=template,
        audience="worker",
        channel=channel,
        recipient=phone,
        subject=None,
        body=to_gsm7(body) if channel == "sms" else body,
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
    membership: Membership


# How the company is told what BPJS did (the worker's SMS has its own wordings).
_MEMBERSHIP_FOR_COMPANY: dict[str, str] = {
    "new": "kepesertaan baru",
    "continued": "kepesertaan dilanjutkan (No. KPJ yang sama)",
    "resumed": "kepesertaan diaktifkan kembali (No. KPJ yang sama)",
}


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
    membership: Membership = "new",
) -> list[Notification]:
    """Worker (KPJ, coverage, who pays, card) and sponsoring company (email and/or webhook).

    `membership` says whether BPJS opened a new membership or continued / resumed the worker's
    own (same KPJ number); both messages say which. `office_email` is accepted for a uniform
    signature; the office gets summaries elsewhere. The webhook body is a JSON document; the NIK
    only ever appears masked.
    """
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    kpj = _require(kpj_number, "kpj_number")
    if coverage_end < coverage_start:
        raise ValueError("coverage_end is before coverage_start")
    if membership not in _MEMBERSHIP_FOR_COMPANY:
        raise ValueError(f"membership must be new, continued or resumed, got {membership!r}")
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
        membership=membership,
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


def _enrollment_completed_sms(greeting: str, e: _Enrollment) -> list[str]:
    company = _clip(e.company, _SMS_COMPANY_MAX)
    paid = f"Iuran ditanggung {company}; Anda tidak perlu membayar."
    if e.membership == "new":
        return [
            f"{greeting} Anda terdaftar sebagai peserta BPJS Ketenagakerjaan ({e.cover}), kepesertaan "
            f"baru, lewat program {PROGRAMME_NAME_SHORT}. No. KPJ: {e.kpj}. Berlaku {e.start} s.d. "
            f"{e.end}. {paid} Kartu peserta akan Anda terima dalam 7 hari.",
            f"{greeting} Anda peserta baru BPJS Ketenagakerjaan ({e.cover}) program "
            f"{PROGRAMME_NAME_SHORT}. KPJ: {e.kpj}. Berlaku {e.start} s.d. {e.end}. {paid} Kartu "
            "diterima dalam 7 hari.",
            f"{greeting} Anda peserta baru BPJS Ketenagakerjaan ({e.cover}) program Pekerja Rentan "
            f"Muba. KPJ: {e.kpj}. Berlaku {e.start} s.d. {e.end}. {paid} Kartu diterima dalam 7 hari.",
        ]
    again = "dilanjutkan" if e.membership == "continued" else "diaktifkan kembali"
    return [
        f"{greeting} kepesertaan BPJS Ketenagakerjaan ({e.cover}) Anda {again} lewat program "
        f"{PROGRAMME_NAME_SHORT}, dengan No. KPJ yang sama: {e.kpj}. Berlaku {e.start} s.d. {e.end}. "
        f"{paid} Kartu peserta Anda tetap berlaku.",
        f"{greeting} kepesertaan BPJS Ketenagakerjaan ({e.cover}) Anda {again} lewat program "
        f"Pekerja Rentan Muba, No. KPJ tetap {e.kpj}. Berlaku {e.start} s.d. {e.end}. {paid} "
        "Kartu Anda tetap berlaku.",
    ]


def _enrollment_completed_email(recipient: str, e: _Enrollment) -> Notification:
    if e.membership == "new":
        what = (
            "Pekerja berikut telah terdaftar sebagai peserta BPJS Ketenagakerjaan (kepesertaan baru)"
            f" dengan iuran ditanggung oleh {e.company}:"
        )
        card = "Kartu peserta akan diterima pekerja dalam 7 hari."
        subject = f"Pekerja terdaftar BPJS Ketenagakerjaan: {e.name} (KPJ {e.kpj})"
    else:
        again = "dilanjutkan" if e.membership == "continued" else "diaktifkan kembali"
        what = (
            f"Kepesertaan BPJS Ketenagakerjaan pekerja berikut {again} dengan No. KPJ yang sama,"
            f" dengan iuran ditanggung oleh {e.company}:"
        )
        card = "Pekerja tetap memakai kartu peserta yang sudah dimilikinya."
        subject = f"Kepesertaan BPJS Ketenagakerjaan {again}: {e.name} (KPJ {e.kpj})"
    body = (
        f"Yth. {e.company},\n\n"
        f"Terima kasih atas dukungan Anda pada program {PROGRAMME_NAME}. {what}\n\n"
        f"Nama              : {e.name}\n"
        f"NIK               : {e.masked_nik}\n"
        f"No. KPJ           : {e.kpj}\n"
        f"Kepesertaan       : {_MEMBERSHIP_FOR_COMPANY[e.membership]}\n"
        f"Program           : {e.cover}\n"
        f"Masa perlindungan : {e.start} s.d. {e.end}\n"
        f"Kecamatan         : {e.kecamatan}\n\n"
        f"{card}\n\n"
        f"Hormat kami,\n{OFFICE_SIGNATURE}"
    )
    return Notification(
        template=TEMPLATE_ENROLLMENT_COMPLETED,
        audience="company",
        channel="email",
        recipient=recipient,
        subject=subject,
        body=body,
    )


def _enrollment_completed_webhook(recipient: str, e: _Enrollment) -> Notification:
    """A JSON document (keys sorted, non-ASCII kept)."""
    if e.membership == "new":
        what = f"terdaftar sebagai peserta BPJS Ketenagakerjaan ({e.cover}), kepesertaan baru"
    else:
        again = "dilanjutkan" if e.membership == "continued" else "diaktifkan kembali"
        what = f"kepesertaan BPJS Ketenagakerjaan ({e.cover}) {again} dengan No. KPJ yang sama"
    payload = {
        "event": TEMPLATE_ENROLLMENT_COMPLETED,
        "company_name": e.company,
        "worker_name": e.name,
        "nik_masked": e.masked_nik,
        "kpj_number": e.kpj,
        "membership": e.membership,
        "package": e.cover,
        "coverage_start": e.coverage_start.isoformat(),
        "coverage_end": e.coverage_end.isoformat(),
        "kecamatan": e.kecamatan,
        "pesan": (
            f"{e.name}: {what}, KPJ {e.kpj}, berlaku {e.start} s.d. {e.end}, kecamatan "
            f"{e.kecamatan}; iuran ditanggung {e.company}."
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
    body = [
        f"{greeting} pendaftaran Anda di program {PROGRAMME_NAME_SHORT} sudah kami terima. Anda masuk "
        f"daftar tunggu sampai ada perusahaan di Kecamatan {kecamatan} yang menanggung iuran BPJS "
        "Ketenagakerjaan Anda. Kami akan mengabari Anda lagi. Anda tidak perlu membayar apa pun.",
        f"{greeting} pendaftaran Anda di program {PROGRAMME_NAME_SHORT} sudah diterima. Anda masuk "
        f"daftar tunggu sampai ada perusahaan di Kecamatan {kecamatan} yang menanggung iuran BPJS "
        "Ketenagakerjaan Anda. Kami akan mengabari Anda lagi.",
    ]
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
    codes = {code for _, code, _ in reasons}
    nothing_to_do = bool(codes) and codes <= _NOTHING_TO_DO
    lines = [
        f"Pendaftaran pekerja dari sumber {src} tidak diproses: pekerja sudah terdaftar di program atau"
        " sudah ditanggung penyandang dana lain."
        if nothing_to_do
        else f"Pendaftaran pekerja dari sumber {src} ditolak oleh validasi data.",
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
        if code in _OFFICE_FOLLOW_UP:
            lines.append(f"  Tindak lanjut: {_OFFICE_FOLLOW_UP[code]}")
    if nothing_to_do:
        lines += ["", "Tidak ada data yang perlu diperbaiki; pendaftaran ini tidak perlu dikirim ulang."]
    else:
        lines += ["", "Mohon bantu mitra/operator memperbaiki data lalu mengirim ulang pendaftaran."]
    return "\n".join(lines)


def _nothing_to_do_sms(greeting: str, reasons: Sequence[tuple[str, str, str]]) -> list[str]:
    """A registration refused because the worker is already in the programme or already funded:
    say so once, and that nothing needs doing."""
    funded = [message for _, code, message in reasons if code == "ALREADY_FUNDED"]
    if funded:
        funder = _clip(funder_named_in(funded[0]) or "pihak lain", _SMS_COMPANY_MAX + 20)
        return [
            f"{greeting} Anda sudah dilindungi BPJS Ketenagakerjaan dengan iuran ditanggung {funder}, "
            f"sehingga tidak didaftarkan lagi lewat program {PROGRAMME_NAME_SHORT}. Anda tidak perlu "
            "melakukan apa pun.",
            f"{greeting} Anda sudah dilindungi BPJS Ketenagakerjaan dengan iuran ditanggung {funder}. "
            "Anda tidak perlu melakukan apa pun.",
        ]
    return [
        f"{greeting} NIK Anda sudah terdaftar di program {PROGRAMME_NAME_SHORT}, sehingga pendaftaran "
        f"ini tidak diproses. {advice_for('DUPLICATE_NIK')}",
    ]


def _registration_rejected_sms(full_name: str | None, reasons: Sequence[tuple[str, str, str]]) -> list[str]:
    greeting = _greeting(full_name)
    distinct_codes = list(dict.fromkeys(code for _, code, _ in reasons))
    if distinct_codes and set(distinct_codes) <= _NOTHING_TO_DO:
        return _nothing_to_do_sms(greeting, reasons)
    problems = list(dict.fromkeys(_registration_problem(field, code) for field, code, _ in reasons))
    if not problems:
        problems = ["data tidak lengkap atau tidak sesuai"]
    closing = " Silakan hubungi mitra/operator yang mendaftarkan Anda atau Disnakertrans Muba untuk memperbaiki data."
    advices = [advice_for(code) for code in distinct_codes]

    def render(shown: Sequence[str], more: bool, advice: Sequence[str]) -> str:
        what = "; ".join(shown) + ("; dan lainnya" if more else "")
        extra = "".join(f" {a}" for a in advice)
        return (
            f"{greeting} mohon maaf, pendaftaran Anda di program {PROGRAMME_NAME_SHORT} belum dapat "
            f"diproses: {what}.{extra}{closing}"
        )

    candidates = [render(problems, False, advices), render(problems, False, advices[:1])]
    candidates.append(render(problems, False, []))
    candidates += [render(problems[:count], True, []) for count in range(len(problems) - 1, 0, -1)]
    return candidates


def enrollment_failed(
    *,
    worker_name: str,
    worker_phone: str,
    worker_channel: WorkerChannel,
    reason_code: str,
    reason_message: str,
    office_email: str,
) -> list[Notification]:
    """BPJS Ketenagakerjaan refused the enrollment: tell the worker why and what to do, and the
    office (with what it should do about it, e.g. check the KTP and KK on a DATA_MISMATCH)."""
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    office = _require(office_email, "office_email")
    code = reason_code.strip()
    message = _clean(reason_message)
    advice = advice_for(code)
    worker_body = _enrollment_failed_sms(_greeting(worker_name), code, message, advice)
    name = _clean(worker_name)
    office_lines = [
        "BPJS Ketenagakerjaan menolak pendaftaran pekerja berikut.",
        "",
        f"Nama     : {name or '-'}",
        f"Nomor HP : {mask_phone(phone)}",
        f"Kode     : {code or '-'}",
        f"Alasan   : {message or '-'}",
        f"Saran    : {advice}",
    ]
    if code in _OFFICE_FOLLOW_UP:
        office_lines.append(f"Tindak lanjut: {_OFFICE_FOLLOW_UP[code]}")
    office_lines += ["", "Pekerja juga diberi tahu lewat " + ("SMS." if channel == "sms" else "WhatsApp.")]
    return [
        _worker_message(TEMPLATE_ENROLLMENT_FAILED, channel, phone, worker_body),
        Notification(
            template=TEMPLATE_ENROLLMENT_FAILED,
            audience="office",
            channel="email",
            recipient=office,
            subject=f"Pendaftaran BPJS ditolak ({code or 'tanpa kode'}): {name or 'tanpa nama'}",
            body="\n".join(office_lines),
        ),
    ]


def _enrollment_failed_sms(greeting: str, code: str, message: str, advice: str) -> list[str]:
    """Why, in plain words (BPJS's own message, clipped, for a code we do not know), and what to do;
    an existing member (ALREADY_MEMBER, no longer sent for sponsored members but still understood)
    or a worker already funded elsewhere needs to do nothing."""
    if code == "ALREADY_MEMBER":
        return [
            f"{greeting} Anda sudah terdaftar sebagai peserta BPJS Ketenagakerjaan, sehingga tidak "
            f"didaftarkan lagi lewat program {PROGRAMME_NAME_SHORT}. Tidak perlu tindakan apa pun.",
        ]
    if code == "ALREADY_FUNDED":
        return _nothing_to_do_sms(greeting, [("nik", code, message)])
    why = _ENROLLMENT_PROBLEMS.get(code) or (
        f"alasan dari BPJS: {_clip(message, _SMS_REASON_MAX)}" if message else "alasan belum diketahui"
    )
    stop = "" if why.endswith("...") else "."
    return [
        f"{greeting} mohon maaf, pendaftaran BPJS Ketenagakerjaan Anda lewat program "
        f"{PROGRAMME_NAME_SHORT} belum berhasil karena {why}{stop} {advice}",
        f"{greeting} pendaftaran BPJS Ketenagakerjaan Anda lewat program {PROGRAMME_NAME_SHORT} belum "
        f"berhasil karena {why}{stop} {advice}",
        f"{greeting} pendaftaran BPJS Ketenagakerjaan Anda belum berhasil karena {why}{stop} {advice}",
    ]


def _bulan(month: str) -> str:
    """'2027-03' -> 'Maret 2027'."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if found is None or not 1 <= int(found[2]) <= 12:
        raise ValueError(f"a month is written YYYY-MM, got {month!r}")
    return f"{BULAN[int(found[2]) - 1]} {found[1]}"


def invoice_issued(
    *,
    invoice_id: str,
    invoice_number: str,
    company_name: str,
    company_email: str | None,
    company_webhook_url: str | None,
    month: str,
    lines_count: int,
    total_idr: int,
    due_date: date,
    csv_url: str,
) -> list[Notification]:
    """The company's invoice for a month: number, month, total in Rupiah, due date and where to
    download the CSV of its workers (with its company token). An e-mail and/or a webhook (JSON)
    to whichever the company gave; none when it gave neither (the office sees the invoice)."""
    number = _require(invoice_number, "invoice_number")
    period = _bulan(month)
    total = format_rupiah(total_idr)
    due = format_tanggal(due_date)
    company = _clean(company_name) or "perusahaan sponsor"
    link = f"{_require(csv_url, 'csv_url')}?invoice_id={_require(invoice_id, 'invoice_id')}"
    messages: list[Notification] = []
    email = _optional(company_email)
    if email is not None:
        body = (
            f"Yth. {company},\n\n"
            f"Terlampir tagihan iuran BPJS Ketenagakerjaan pekerja yang Anda tanggung dalam program"
            f" {PROGRAMME_NAME} untuk bulan {period}.\n\n"
            f"Nomor tagihan : {number}\n"
            f"Bulan iuran   : {period}\n"
            f"Jumlah pekerja: {lines_count} pekerja-bulan\n"
            f"Total tagihan : {total}\n"
            f"Jatuh tempo   : {due}\n\n"
            f"Mohon lakukan pembayaran paling lambat {due} agar perlindungan pekerja tidak terputus."
            f" Daftar pekerja terlampir (CSV, NIK disamarkan); dapat juga diunduh dengan token perusahaan"
            f" Anda di:\n"
            f"{link}\n\n"
            f"Hormat kami,\n{OFFICE_SIGNATURE}"
        )
        messages.append(
            Notification(
                template=TEMPLATE_INVOICE_ISSUED,
                audience="company",
                channel="email",
                recipient=email,
                subject=f"Tagihan iuran BPJS Ketenagakerjaan {period}: {number} ({total})",
                body=body,
                attachment_url=link,
            )
        )
    webhook = _optional(company_webhook_url)
    if webhook is not None:
        payload = {
            "event": TEMPLATE_INVOICE_ISSUED,
            "invoice_id": invoice_id,
            "invoice_number": number,
            "company_name": company,
            "month": month,
            "lines_count": lines_count,
            "total_idr": total_idr,
            "due_date": due_date.isoformat(),
            "csv_url": link,
            "pesan": f"Tagihan {number} bulan {period}: {total}, jatuh tempo {due}.",
        }
        messages.append(
            Notification(
                template=TEMPLATE_INVOICE_ISSUED,
                audience="company",
                channel="webhook",
                recipient=webhook,
                subject=None,
                body=json.dumps(payload, ensure_ascii=False, sort_keys=True),
            )
        )
    return messages


def _company_messages(
    template: str,
    *,
    email: str | None,
    webhook: str | None,
    subject: str,
    body: str,
    payload: dict[str, object],
) -> list[Notification]:
    """The company's e-mail and/or webhook (a JSON document, keys sorted, `event` the template),
    to whichever it gave; none when it gave neither."""
    messages: list[Notification] = []
    to = _optional(email)
    if to is not None:
        messages.append(Notification(template, "company", "email", to, subject, body))
    hook = _optional(webhook)
    if hook is not None:
        document = json.dumps({"event": template, **payload}, ensure_ascii=False, sort_keys=True)
        messages.append(Notification(template, "company", "webhook", hook, None, document))
    return messages


def _working_days(count: int) -> str:
    return f"{abs(count)} hari kerja"


def invoice_reminder(
    *,
    invoice_id: str,
    invoice_number: str,
    company_name: str,
    company_email: str | None,
    company_webhook_url: str | None,
    month: str,
    due_date: date,
    kind: str,
    days_from_due: int,
    unpaid_lines: int,
    unpaid_idr: int,
    csv_url: str,
) -> list[Notification]:
    """A reminder of an unpaid invoice (`due_soon` before its due date, `overdue` after it, in
    working days): how much is unpaid, by when, what an unpaid month costs the workers, and where
    the CSV is. E-mail and/or webhook, like the invoice itself."""
    if kind not in ("due_soon", "overdue"):
        raise ValueError(f"a reminder is due_soon or overdue, got {kind!r}")
    number = _require(invoice_number, "invoice_number")
    period = _bulan(month)
    unpaid = format_rupiah(unpaid_idr)
    due = format_tanggal(due_date)
    company = _clean(company_name) or "perusahaan sponsor"
    link = f"{_require(csv_url, 'csv_url')}?invoice_id={_require(invoice_id, 'invoice_id')}"
    if kind == "due_soon":
        subject = f"Pengingat: tagihan {number} jatuh tempo {due} ({unpaid})"
        opening = (
            f"Tagihan iuran BPJS Ketenagakerjaan bulan {period} untuk pekerja yang Anda tanggung dalam"
            f" program {PROGRAMME_NAME} jatuh tempo {_working_days(days_from_due)} lagi, pada {due},"
            " dan pembayarannya belum kami terima."
        )
        summary = f"Tagihan {number} bulan {period}: {unpaid} belum dibayar, jatuh tempo {due}."
    else:
        subject = f"Tagihan {number} lewat jatuh tempo {due}: {unpaid} belum dibayar"
        opening = (
            f"Tagihan iuran BPJS Ketenagakerjaan bulan {period} untuk pekerja yang Anda tanggung dalam"
            f" program {PROGRAMME_NAME} sudah lewat jatuh tempo {due} ({_working_days(days_from_due)})"
            " dan belum dibayar lunas."
        )
        summary = f"Tagihan {number} bulan {period}: {unpaid} belum dibayar, lewat jatuh tempo {due}."
    body = (
        f"Yth. {company},\n\n"
        f"{opening}\n\n"
        f"Nomor tagihan : {number}\n"
        f"Bulan iuran   : {period}\n"
        f"Belum dibayar : {unpaid_lines} pekerja-bulan, {unpaid}\n"
        f"Jatuh tempo   : {due}\n\n"
        "Iuran yang tidak dibayar tiga bulan berturut-turut membuat kepesertaan pekerja nonaktif:"
        " kecelakaan kerja atau kematian pada masa itu tidak ditanggung BPJS Ketenagakerjaan."
        " Abaikan pesan ini bila pembayaran sudah dilakukan.\n"
        f"Daftar pekerja (CSV, NIK disamarkan) dapat diunduh dengan token perusahaan Anda di:\n{link}\n\n"
        f"Hormat kami,\n{OFFICE_SIGNATURE}"
    )
    payload: dict[str, object] = {
        "invoice_id": invoice_id,
        "invoice_number": number,
        "company_name": company,
        "month": month,
        "kind": kind,
        "days_from_due": days_from_due,
        "unpaid_lines": unpaid_lines,
        "unpaid_idr": unpaid_idr,
        "due_date": due_date.isoformat(),
        "csv_url": link,
        "pesan": summary,
    }
    return _company_messages(
        TEMPLATE_INVOICE_REMINDER,
        email=company_email,
        webhook=company_webhook_url,
        subject=subject,
        body=body,
        payload=payload,
    )


def _days_left(days: int) -> str:
    return "hari ini" if days <= 0 else ("besok" if days == 1 else f"{days} hari lagi")


def coverage_ending(
    *,
    worker_name: str,
    worker_phone: str,
    worker_channel: WorkerChannel,
    kpj_number: str | None,
    company_name: str,
    company_email: str | None,
    company_webhook_url: str | None,
    coverage_end: date,
    days_left: int,
) -> list[Notification]:
    """The worker's sponsored coverage ends soon: the worker (nothing to pay; the company is asked
    to renew) and the company (renew in time for no gap)."""
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    greeting = _greeting(worker_name)
    company = _clean(company_name) or "perusahaan sponsor"
    short = _clip(company, _SMS_COMPANY_MAX)
    end = format_tanggal(coverage_end)
    left = _days_left(days_left)
    sms = [
        f"{greeting} perlindungan BPJS Ketenagakerjaan Anda lewat program {PROGRAMME_NAME_SHORT} dengan"
        f" iuran ditanggung {short} berakhir {end} ({left}). Perusahaan sudah kami minta memperpanjang;"
        " kami kabari lagi. Anda tidak perlu membayar apa pun.",
        f"{greeting} perlindungan BPJS Ketenagakerjaan Anda (iuran ditanggung {short}) berakhir {end}"
        f" ({left}). Perusahaan sudah kami minta memperpanjang; kami kabari lagi.",
    ]
    messages = [_worker_message(TEMPLATE_COVERAGE_ENDING, channel, phone, sms)]
    name = _clean(worker_name)
    kpj = _optional(kpj_number) or "-"  # the KPJ is what the company looks the worker up by
    body = (
        f"Yth. {company},\n\n"
        f"Masa iuran BPJS Ketenagakerjaan yang Anda tanggung untuk pekerja berikut dalam program"
        f" {PROGRAMME_NAME} berakhir {end} ({left}).\n\n"
        f"Nama        : {name or '-'}\n"
        f"No. KPJ     : {kpj}\n"
        f"Hari terakhir ditanggung: {end}\n\n"
        "Bila Anda memperpanjang komitmen sebelum tanggal tersebut, perlindungan pekerja berlanjut"
        " tanpa jeda dengan No. KPJ yang sama. Hubungi Disnakertrans Muba untuk perpanjangan.\n\n"
        f"Hormat kami,\n{OFFICE_SIGNATURE}"
    )
    payload: dict[str, object] = {
        "company_name": company,
        "worker_name": name,
        "kpj_number": kpj_number,
        "coverage_end": coverage_end.isoformat(),
        "days_left": days_left,
        "pesan": f"Iuran {name} (KPJ {kpj}) yang Anda tanggung berakhir {end} ({left}); perpanjang agar tanpa jeda.",
    }
    messages += _company_messages(
        TEMPLATE_COVERAGE_ENDING,
        email=company_email,
        webhook=company_webhook_url,
        subject=f"Masa iuran pekerja berakhir {end}: {name or 'pekerja'} (KPJ {kpj})",
        body=body,
        payload=payload,
    )
    return messages


def coverage_extended(
    *,
    worker_name: str,
    worker_phone: str,
    worker_channel: WorkerChannel,
    company_name: str,
    months_added: int,
    coverage_end: date,
) -> list[Notification]:
    """A renewal extended the worker's coverage: no gap, the same KPJ number, nothing to pay."""
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    greeting = _greeting(worker_name)
    short = _clip(_clean(company_name) or "perusahaan sponsor", _SMS_COMPANY_MAX)
    end = format_tanggal(coverage_end)
    sms = [
        f"{greeting} kabar baik: {short} memperpanjang iuran BPJS Ketenagakerjaan Anda {months_added} bulan"
        f" lewat program {PROGRAMME_NAME_SHORT}. Perlindungan Anda berlanjut tanpa jeda sampai {end},"
        " dengan No. KPJ yang sama. Anda tidak perlu membayar apa pun.",
        f"{greeting} {short} memperpanjang iuran BPJS Ketenagakerjaan Anda {months_added} bulan."
        f" Perlindungan berlanjut tanpa jeda sampai {end}, No. KPJ tetap. Anda tidak perlu membayar.",
    ]
    return [_worker_message(TEMPLATE_COVERAGE_EXTENDED, channel, phone, sms)]


def coverage_ended(
    *,
    worker_name: str,
    worker_phone: str,
    worker_channel: WorkerChannel,
    kpj_number: str | None,
    company_name: str,
    company_email: str | None,
    company_webhook_url: str | None,
    reason: str,
    last_covered_day: date,
    months_unpaid: int,
    next_step: str,
    next_company_name: str | None,
    next_coverage_start: date | None,
    office_email: str,
) -> list[Notification]:
    """The worker's sponsored coverage ended (`period_ended` or `lapsed`): the worker is told what
    happens next (another sponsor from a date, or the waitlist), the company and the office why."""
    channel = _require_worker_channel(worker_channel)
    phone = _require_phone(worker_phone)
    office = _require(office_email, "office_email")
    if reason not in ("period_ended", "lapsed"):
        raise ValueError(f"reason must be period_ended or lapsed, got {reason!r}")
    if next_step not in ("fallback", "waitlisted"):
        raise ValueError(f"next must be fallback or waitlisted, got {next_step!r}")
    if next_step == "fallback" and next_coverage_start is None:
        raise ValueError("a fallback sponsor needs the day its coverage starts")
    greeting = _greeting(worker_name)
    company = _clean(company_name) or "perusahaan sponsor"
    short = _clip(company, _SMS_COMPANY_MAX)
    last = format_tanggal(last_covered_day)
    name = _clean(worker_name)
    kpj = _optional(kpj_number) or "-"  # the KPJ is what the company looks the worker up by
    if reason == "lapsed":
        why_sms = f"iuran dari {short} tidak dibayar {months_unpaid} bulan sehingga kepesertaan nonaktif"
        why = (
            f"iuran tidak dibayar {months_unpaid} bulan berturut-turut setelah jatuh tempo, sehingga"
            " kepesertaan menjadi nonaktif"
        )
    else:
        why_sms = f"masa iuran yang ditanggung {short} selesai"
        why = "masa iuran yang ditanggung telah selesai dan tidak diperpanjang"
    if next_step == "fallback" and next_coverage_start is not None:
        fallback = _clip(_clean(next_company_name) or "perusahaan sponsor lain", _SMS_COMPANY_MAX)
        start = format_tanggal(next_coverage_start)
        next_sms = [
            f"Mulai {start} iuran Anda ditanggung {fallback}, dengan No. KPJ yang sama. Anda tidak perlu"
            " membayar apa pun.",
            f"Mulai {start} iuran ditanggung {fallback}, No. KPJ tetap. Anda tidak perlu membayar.",
        ]
        next_text = f"ditanggung {_clean(next_company_name) or 'perusahaan sponsor lain'} mulai {start}"
    else:
        next_sms = [
            "Anda masuk daftar tunggu sampai ada perusahaan lain yang menanggung iuran Anda; kami akan"
            " mengabari Anda. Info: Disnakertrans Muba.",
            "Anda masuk daftar tunggu sampai ada sponsor lain; kami akan mengabari Anda.",
        ]
        next_text = "masuk daftar tunggu (belum ada komitmen lain dengan kuota di kecamatannya)"
    sms = [
        f"{greeting} perlindungan BPJS Ketenagakerjaan Anda lewat program {PROGRAMME_NAME_SHORT} berakhir"
        f" {last} karena {why_sms}. {then}"
        for then in next_sms
    ] + [f"{greeting} perlindungan BPJS Ketenagakerjaan Anda berakhir {last}. {next_sms[-1]}"]
    messages = [_worker_message(TEMPLATE_COVERAGE_ENDED, channel, phone, sms)]
    details = (
        f"Nama                    : {name or '-'}\n"
        f"No. KPJ                 : {kpj}\n"
        f"Hari terakhir ditanggung: {last}\n"
        f"Alasan                  : {why}\n"
        f"Selanjutnya             : {next_text}\n"
    )
    messages += _company_messages(
        TEMPLATE_COVERAGE_ENDED,
        email=company_email,
        webhook=company_webhook_url,
        subject=f"Perlindungan pekerja berakhir {last}: {name or 'pekerja'} (KPJ {kpj})",
        body=(
            f"Yth. {company},\n\nPerlindungan BPJS Ketenagakerjaan pekerja berikut yang iurannya Anda"
            f" tanggung dalam program {PROGRAMME_NAME} telah berakhir.\n\n{details}\n"
            f"Hormat kami,\n{OFFICE_SIGNATURE}"
        ),
        payload={
            "company_name": company,
            "worker_name": name,
            "kpj_number": kpj_number,
            "reason": reason,
            "last_covered_day": last_covered_day.isoformat(),
            "months_unpaid": months_unpaid,
            "next": next_step,
            "next_coverage_start": next_coverage_start.isoformat() if next_coverage_start else None,
            "pesan": f"Perlindungan {name} (KPJ {kpj}) berakhir {last}: {why}; selanjutnya {next_text}.",
        },
    )
    messages.append(
        Notification(
            template=TEMPLATE_COVERAGE_ENDED,
            audience="office",
            channel="email",
            recipient=office,
            subject=(
                f"Perlindungan pekerja berakhir ({'nonaktif' if reason == 'lapsed' else 'masa iuran selesai'},"
                f" {'sponsor pengganti' if next_step == 'fallback' else 'daftar tunggu'}): {name or 'tanpa nama'}"
            ),
            body=(
                f"Perlindungan BPJS Ketenagakerjaan pekerja berikut (iuran ditanggung {company}) telah"
                f" berakhir.\n\n{details}Nomor HP                : {mask_phone(phone)}\n\n"
                + (
                    "Pekerja diberi tahu siapa yang menanggung iurannya selanjutnya."
                    if next_step == "fallback"
                    else "Pekerja diberi tahu bahwa ia masuk daftar tunggu; mohon bantu mencarikan sponsor."
                )
            ),
        )
    )
    return messages


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
