"""Pure validation rules for worker registrations (no I/O).

Every rule is checked and every failure is reported, so that one rejection message can tell the
worker everything to fix at once. Reason messages are in Bahasa Indonesia and never echo the input.

What the NIK's digits say but cannot decide is a warning, not a rejection: a NIK never changes,
even when Dukcapil corrects the birth date or sex behind it (PP 40/2019 art. 30(2)), and its area
code stays when the area is renumbered. Such a registration is registered with its warnings, which
travel on its events so that BPJS's Dukcapil check decides. A NIK whose digits cannot be a NIK
(not 16 digits, no province, no date in digits 7-12, serial 0000) is still refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

import phonenumbers

from shared.kecamatan import KECAMATAN, resolve_kecamatan, suggest_kecamatan
from shared.validation import (
    AGE_ABOVE_MAXIMUM,
    AGE_BELOW_MINIMUM,
    BIRTH_DATE_FORMAT,
    DESA_INVALID,
    DUPLICATE_NIK,
    INCOME_INVALID,
    INVALID_TYPE,
    KECAMATAN_UNKNOWN,
    MAX_INCOME_IDR,
    MAX_NIK_LENGTH,
    MAX_PHONE_LENGTH,
    MAX_REGISTRATION_TEXT,
    MISSING_FIELD,
    NAME_INVALID,
    NAME_TOO_LONG,
    NIK_AREA_UNKNOWN,
    NIK_BIRTH_DATE_MISMATCH,
    NIK_FORMAT,
    NIK_PROVINCE,
    NIK_SERIAL,
    NIK_SEX_MISMATCH,
    NIK_WARNING_CODES,
    OCCUPATION_INVALID,
    PHONE_INVALID,
    SEX_INVALID,
    SOURCE_MISMATCH,
    Reason,
    collapse_spaces,
    has_control_characters,
    normalise_name,
    normalise_nik,
)
from shared.wilayah import nik_area_known

REASON_CODES: Final = frozenset(
    {
        MISSING_FIELD,
        INVALID_TYPE,
        NIK_FORMAT,
        NIK_PROVINCE,
        NIK_SERIAL,
        BIRTH_DATE_FORMAT,
        AGE_BELOW_MINIMUM,
        AGE_ABOVE_MAXIMUM,
        SEX_INVALID,
        KECAMATAN_UNKNOWN,
        PHONE_INVALID,
        NAME_INVALID,
        NAME_TOO_LONG,
        OCCUPATION_INVALID,
        INCOME_INVALID,
        DESA_INVALID,
        DUPLICATE_NIK,
        SOURCE_MISMATCH,
    }
)
"""Every code a rejection may carry."""

WARNING_CODES: Final = NIK_WARNING_CODES
"""Every code a registration's warnings may carry (NIK_BIRTH_DATE_MISMATCH, NIK_SEX_MISMATCH,
NIK_AREA_UNKNOWN): never a rejection."""

REQUIRED_FIELDS: Final = (
    "submission_id",
    "source",
    "nik",
    "full_name",
    "birth_date",
    "sex",
    "phone",
    "kecamatan",
    "occupation",
)


# Dukcapil province codes (the first two NIK digits), including the four Papua provinces of 2022.
PROVINCE_CODES: Final = frozenset(
    {
        *range(11, 20),
        21,
        *range(31, 37),
        *range(51, 54),
        *range(61, 66),
        *range(71, 77),
        81,
        82,
        *range(91, 97),
    }
)

# Anything longer than the limits is rejected before it reaches a regex or a normaliser.
_NIK_DIGITS = re.compile(r"[0-9]{16}")
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]+")
_PHONE_CHARACTERS = re.compile(r"\+?[0-9]+")
_PHONE_NATIONAL = re.compile(r"[1-9][0-9]*")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NAME_PUNCTUATION: Final = frozenset(" '\u2019.-")
_FEMALE_DAY_OFFSET: Final = 40
_MALE_NIK_DAYS: Final = range(1, 32)
_FEMALE_NIK_DAYS: Final = range(41, 72)

# Reasons are reported in the order of the registration form.
_FIELD_ORDER: Final = (
    "submission_id",
    "source",
    "nik",
    "full_name",
    "birth_date",
    "sex",
    "phone",
    "kecamatan",
    "desa",
    "occupation",
    "declared_income_idr",
)

_ABSENT: Final = object()


@dataclass(frozen=True, slots=True)
class Registration:
    submission_id: str
    source: str
    nik: str
    full_name: str
    birth_date: date
    sex: Literal["L", "P"]
    phone: str
    kecamatan_code: str
    kecamatan_name: str
    desa: str | None
    occupation: str
    declared_income_idr: int | None
    # What the registry could not confirm but does not refuse (field, code, message): WARNING_CODES.
    warnings: tuple[Reason, ...] = ()


# Why a number is not taken as a worker's mobile number (Bahasa Indonesia, never echoing it).
PHONE_HAS_LETTERS: Final = (
    "Nomor HP tidak boleh berisi huruf; tulis angka saja (periksa huruf O atau l yang tertulis"
    " sebagai angka 0 atau 1), misalnya 0812xxxxxxxx."
)
PHONE_NOT_INDONESIAN: Final = (
    "Nomor HP harus nomor seluler Indonesia (+62 atau 08...); nomor luar negeri tidak dapat dipakai."
)
PHONE_NOT_MOBILE: Final = (
    "Nomor HP ini bukan nomor seluler (misalnya telepon rumah/kantor, nomor bebas pulsa 0800 atau"
    " premium 0809); isi nomor HP yang aktif, misalnya 0812xxxxxxxx."
)
PHONE_WRONG_LENGTH: Final = (
    "Nomor HP kurang atau kelebihan angka; nomor seluler Indonesia 10 sampai 13 angka, misalnya"
    " 0812xxxxxxxx atau +62812xxxxxxxx."
)
PHONE_MALFORMED: Final = "Nomor HP harus nomor seluler Indonesia, misalnya 0812xxxxxxxx atau +62812xxxxxxxx."


def check_phone(value: str) -> tuple[str, None] | tuple[None, str]:
    """(E.164 "+628...", None) for an Indonesian mobile number, else (None, why in Bahasa Indonesia).

    Our rules first: no letters at all (the library reads `085517O92405` as another number),
    separators ignored, then +62 (with or without the trunk 0 people write after it: `+62 0812`,
    `+62 (0)812`), 62 or 0 before the subscriber number. Then `phonenumbers` decides: the number
    must be valid and of type MOBILE (fixed lines, 0800 toll-free, 0809 premium, 0804 shared-cost
    and the unallocated 084x are not). shared/validation.PHONE mirrors the library's mobile ranges.
    """
    if len(value) > MAX_PHONE_LENGTH:
        return None, PHONE_WRONG_LENGTH
    if any(char.isalpha() for char in value):
        return None, PHONE_HAS_LETTERS
    compact = _PHONE_SEPARATORS.sub("", value)
    if not _PHONE_CHARACTERS.fullmatch(compact):
        return None, PHONE_MALFORMED
    if compact.startswith("+"):
        if not compact.startswith("+62"):
            return None, PHONE_NOT_INDONESIAN
        national = compact[3:]
        national = national[1:] if national.startswith("0") else national
    elif compact.startswith("62"):
        national = compact[2:]
    elif compact.startswith("0"):
        national = compact[1:]
    else:
        national = compact
    if not _PHONE_NATIONAL.fullmatch(national):
        return None, PHONE_MALFORMED
    try:
        number = phonenumbers.parse("+62" + national)
    except phonenumbers.NumberParseException:
        return None, PHONE_WRONG_LENGTH
    if str(number.national_number) != national:  # the library read it otherwise: not ours to guess
        return None, PHONE_MALFORMED
    if (
        phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
    ):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
    possible = phonenumbers.is_possible_number_for_type_with_reason(
        number, phonenumbers.PhoneNumberType.MOBILE
    )
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None, PHONE_WRONG_LENGTH
    return None, PHONE_NOT_MOBILE


def normalise_phone(value: str) -> str | None:
    """Return an Indonesian mobile number as "+628...", or None if it is not one (check_phone)."""
    return check_phone(value)[0]


def age_on(birth: date, today: date) -> int:
    """Whole years completed on `today` (someone born on 29 February ages on 1 March in other years)."""
    before_birthday = (today.month, today.day) < (birth.month, birth.day)
    return today.year - birth.year - int(before_birthday)


def _is_nik_date(raw_day: int, day: int, month: int, year: int) -> bool:
    """Whether NIK digits 7-12 are a date: a man's day 01-31 or a woman's 41-71, and DDMMYY a
    real date in 19YY or 20YY (29 February "00" is real: 2000 was a leap year)."""
    if raw_day not in _MALE_NIK_DAYS and raw_day not in _FEMALE_NIK_DAYS:
        return False
    for century in (1900, 2000):
        try:
            date(century + year, month, day)
        except ValueError:
            continue
        return True
    return False


def source_from_intake(raw: Mapping[str, object], partner: str) -> tuple[dict[str, object], Reason | None]:
    """The registration as `partner` sent it: its source is the partner whose intake topic it
    came on (only that partner may write there); a body that names another is refused."""
    claimed = raw.get("source")
    body = {**raw, "source": partner}
    if claimed is None or claimed == partner:
        return body, None
    shown = (
        claimed
        if isinstance(claimed, str) and len(claimed) <= MAX_REGISTRATION_TEXT
        else type(claimed).__name__
    )
    return body, Reason(
        "source",
        SOURCE_MISMATCH,
        f"source {shown!r} tidak sama dengan mitra pengirim {partner!r} (topik intake mitra itu);"
        " hapus field source atau isi dengan nama mitra sendiri.",
    )


class _Validator:
    def __init__(self, raw: Mapping[str, object], today: date, min_age: int, max_age: int) -> None:
        self.raw = raw
        self.today = today
        self.min_age = min_age
        self.max_age = max_age
        self.reasons: list[Reason] = []
        self.warnings: list[Reason] = []

    def fail(self, field: str, code: str, message: str) -> None:
        self.reasons.append(Reason(field=field, code=code, message=message))

    def warn(self, field: str, code: str, message: str) -> None:
        self.warnings.append(Reason(field=field, code=code, message=message))

    def required_text(self, field: str, label: str) -> str | None:
        """The field as a trimmed non-empty string, or None after recording why not."""
        value = self.raw.get(field, _ABSENT)
        if value is _ABSENT or value is None or value == "":
            self.fail(field, MISSING_FIELD, f"{label} wajib diisi.")
            return None
        if not isinstance(value, str):
            self.fail(field, INVALID_TYPE, f"{label} harus berupa teks.")
            return None
        value = value.strip()  # linear: safe at any length
        if not value:
            self.fail(field, MISSING_FIELD, f"{label} wajib diisi.")
            return None
        return value

    def short_text(self, field: str, label: str) -> str | None:
        value = self.required_text(field, label)
        if value is None:
            return None
        if len(value) > MAX_REGISTRATION_TEXT or has_control_characters(value):
            self.fail(
                field,
                INVALID_TYPE,
                f"{label} harus berupa teks paling banyak {MAX_REGISTRATION_TEXT} karakter, tanpa karakter kontrol.",
            )
            return None
        return value

    def nik(self, birth_date: date | None, sex: str | None) -> str | None:
        value = self.required_text("nik", "NIK")
        if value is None:
            return None
        nik = normalise_nik(value) if len(value) <= MAX_NIK_LENGTH else value
        if not _NIK_DIGITS.fullmatch(nik):
            self.fail("nik", NIK_FORMAT, "NIK harus terdiri dari 16 angka, sesuai KTP.")
            return None
        ok = True
        province_known = int(nik[:2]) in PROVINCE_CODES
        if not province_known:
            self.fail("nik", NIK_PROVINCE, "Dua angka pertama NIK bukan kode provinsi yang berlaku.")
            ok = False
        raw_day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
        is_female = raw_day > _FEMALE_DAY_OFFSET
        day = raw_day - _FEMALE_DAY_OFFSET if is_female else raw_day
        if not _is_nik_date(raw_day, day, month, year):
            # Dukcapil keeps a corrected NIK's original digits, and those were a real date: digits
            # that are no date in any century are a wrong NIK (a typo), not a corrected one.
            self.fail(
                "nik",
                NIK_FORMAT,
                "Angka ke-7 sampai ke-12 NIK harus tanggal lahir (DDMMYY; tanggal ditambah 40 untuk "
                "perempuan). Mohon periksa kembali NIK sesuai KTP.",
            )
            ok = False
        else:
            if birth_date is not None and (day, month, year) != (
                birth_date.day,
                birth_date.month,
                birth_date.year % 100,
            ):
                self.warn(
                    "nik",
                    NIK_BIRTH_DATE_MISMATCH,
                    "Tanggal lahir di NIK (angka ke-7 sampai ke-12) berbeda dengan tanggal lahir yang diisi. "
                    "Pendaftaran tetap diterima; BPJS Ketenagakerjaan akan mencocokkannya dengan data "
                    "Dukcapil. Mohon siapkan KTP-el dan Kartu Keluarga bila diminta.",
                )
            if sex is not None and is_female != (sex == "P"):
                self.warn(
                    "nik",
                    NIK_SEX_MISMATCH,
                    "Jenis kelamin yang diisi berbeda dengan kode di NIK (tanggal ditambah 40 untuk perempuan). "
                    "Pendaftaran tetap diterima; BPJS Ketenagakerjaan akan mencocokkannya dengan data "
                    "Dukcapil. Mohon siapkan KTP-el dan Kartu Keluarga bila diminta.",
                )
        if nik[12:] == "0000":
            self.fail("nik", NIK_SERIAL, "Empat angka terakhir NIK tidak boleh 0000.")
            ok = False
        if province_known and not nik_area_known(nik):
            self.warn(
                "nik",
                NIK_AREA_UNKNOWN,
                "Kode wilayah di NIK (angka ke-1 sampai ke-6) tidak ada di daftar wilayah Kemendagri. "
                "Pendaftaran tetap diterima; BPJS Ketenagakerjaan akan mencocokkannya dengan data Dukcapil.",
            )
        return nik if ok else None

    def birth_date(self) -> date | None:
        value = self.required_text("birth_date", "Tanggal lahir")
        if value is None:
            return None
        message = "Tanggal lahir harus tanggal yang benar dengan format TTTT-BB-HH, misalnya 1990-08-12."
        if len(value) != 10 or not _ISO_DATE.fullmatch(value):
            self.fail("birth_date", BIRTH_DATE_FORMAT, message)
            return None
        try:
            birth = date.fromisoformat(value)
        except ValueError:
            self.fail("birth_date", BIRTH_DATE_FORMAT, message)
            return None
        if birth > self.today:
            self.fail("birth_date", BIRTH_DATE_FORMAT, "Tanggal lahir tidak boleh di masa depan.")
            return None
        return birth

    def age(self, birth: date) -> None:
        age = age_on(birth, self.today)
        if age < self.min_age:
            self.fail(
                "birth_date",
                AGE_BELOW_MINIMUM,
                f"Usia peserta minimal {self.min_age} tahun saat pendaftaran.",
            )
        elif age > self.max_age:
            self.fail(
                "birth_date",
                AGE_ABOVE_MAXIMUM,
                f"Usia peserta maksimal {self.max_age} tahun saat pendaftaran.",
            )

    def sex(self) -> Literal["L", "P"] | None:
        value = self.required_text("sex", "Jenis kelamin")
        if value is None:
            return None
        if value in ("L", "l"):
            return "L"
        if value in ("P", "p"):
            return "P"
        self.fail("sex", SEX_INVALID, "Jenis kelamin harus L (laki-laki) atau P (perempuan).")
        return None

    def kecamatan(self) -> str | None:
        value = self.required_text("kecamatan", "Kecamatan")
        if value is None:
            return None
        code = resolve_kecamatan(value)
        if code is None:
            # Only our own names are suggested; the input is never repeated.
            suggestions = suggest_kecamatan(value)
            hint = f" Mungkin maksud Anda: {', '.join(suggestions)}?" if suggestions else ""
            self.fail(
                "kecamatan",
                KECAMATAN_UNKNOWN,
                "Kecamatan tidak dikenal; isi nama atau kode kecamatan tempat bekerja di Kabupaten "
                f"Musi Banyuasin, misalnya Sekayu atau 01.{hint}",
            )
        return code

    def phone(self) -> str | None:
        value = self.required_text("phone", "Nomor HP")
        if value is None:
            return None
        phone, problem = check_phone(value)
        if problem is not None:
            self.fail("phone", PHONE_INVALID, problem)
        return phone

    def full_name(self) -> str | None:
        value = self.required_text("full_name", "Nama lengkap")
        if value is None:
            return None
        name = normalise_name(value)
        if len(name) > MAX_REGISTRATION_TEXT:
            self.fail(
                "full_name",
                NAME_TOO_LONG,
                f"Nama lengkap paling banyak {MAX_REGISTRATION_TEXT} karakter, sesuai KTP.",
            )
            return None
        allowed = all(
            char.isalpha() or char in _NAME_PUNCTUATION or unicodedata.category(char).startswith("M")
            for char in name
        )
        if not allowed or not any(char.isalpha() for char in name):
            self.fail(
                "full_name",
                NAME_INVALID,
                "Nama lengkap hanya boleh berisi huruf, spasi, tanda petik ('), titik dan tanda hubung (-), "
                "sesuai KTP.",
            )
            return None
        return name

    def occupation(self) -> str | None:
        value = self.required_text("occupation", "Pekerjaan")
        if value is None:
            return None
        occupation = collapse_spaces(value)
        if len(occupation) > MAX_REGISTRATION_TEXT or has_control_characters(occupation):
            self.fail(
                "occupation",
                OCCUPATION_INVALID,
                f"Pekerjaan harus berupa teks 1 sampai {MAX_REGISTRATION_TEXT} karakter, misalnya penyadap karet.",
            )
            return None
        return occupation

    def desa(self) -> str | None:
        """Optional: absent, None and blank all mean "not given"."""
        value = self.raw.get("desa")
        if value is None:
            return None
        if isinstance(value, str):
            desa = collapse_spaces(value)
            if len(desa) <= MAX_REGISTRATION_TEXT and not has_control_characters(desa):
                return desa or None
        self.fail(
            "desa",
            DESA_INVALID,
            f"Desa/kelurahan, jika diisi, harus berupa teks paling banyak {MAX_REGISTRATION_TEXT} karakter.",
        )
        return None

    def income(self) -> int | None:
        value = self.raw.get("declared_income_idr")
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INCOME_IDR:
            return value
        maximum = f"{MAX_INCOME_IDR:,}".replace(",", ".")
        self.fail(
            "declared_income_idr",
            INCOME_INVALID,
            f"Penghasilan per bulan, jika diisi, harus bilangan bulat rupiah dari 0 sampai {maximum}.",
        )
        return None

    def sorted_reasons(self) -> list[Reason]:
        return sorted(self.reasons, key=lambda reason: _FIELD_ORDER.index(reason.field))


def validate_registration(
    raw: Mapping[str, object], *, today: date, min_age: int = 15, max_age: int = 60
) -> Registration | list[Reason]:
    """Return a Registration, or every Reason the submission is unacceptable (never just the first)."""
    v = _Validator(raw, today, min_age, max_age)
    submission_id = v.short_text("submission_id", "ID pengajuan")
    source = v.short_text("source", "Sumber pengajuan")
    full_name = v.full_name()
    birth_date = v.birth_date()
    if birth_date is not None:
        v.age(birth_date)
    sex = v.sex()
    nik = v.nik(birth_date, sex)
    phone = v.phone()
    kecamatan_code = v.kecamatan()
    occupation = v.occupation()
    desa = v.desa()
    income = v.income()

    if (
        v.reasons
        or submission_id is None
        or source is None
        or full_name is None
        or birth_date is None
        or sex is None
        or nik is None
        or phone is None
        or kecamatan_code is None
        or occupation is None
    ):
        return v.sorted_reasons()
    return Registration(
        submission_id=submission_id,
        source=source,
        nik=nik,
        full_name=full_name,
        birth_date=birth_date,
        sex=sex,
        phone=phone,
        kecamatan_code=kecamatan_code,
        kecamatan_name=KECAMATAN[kecamatan_code],
        desa=desa,
        occupation=occupation,
        declared_income_idr=income,
        warnings=tuple(v.warnings),
    )


def validate_from_intake(
    raw: Mapping[str, object], partner: str, *, today: date, min_age: int = 15, max_age: int = 60
) -> Registration | list[Reason]:
    """A registration as it came on `partner`'s intake: its source is that partner; a body
    naming another is refused (SOURCE_MISMATCH) with every other reason it has."""
    body, mismatch = source_from_intake(raw, partner)
    result = validate_registration(body, today=today, min_age=min_age, max_age=max_age)
    if mismatch is None:
        return result
    return [mismatch, *(result if isinstance(result, list) else [])]
