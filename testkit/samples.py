"""Realistic sample data of Musi Banyuasin (tests, demo, benchmark): valid registrations with
distinct NIKs and phones per index and run."""

from datetime import date
from typing import Any

OCCUPATIONS = (
    "penyadap karet",
    "buruh kebun sawit",
    "petani sawit",
    "petani",
    "nelayan",
    "buruh harian lepas",
    "pedagang kaki lima",
    "pedagang kecil",
    "ojek",
    "kurir",
    "pekerja dapur MBG",
    "buruh bangunan",
)
GIVEN_NAMES = (
    "Siti",
    "Ahmad",
    "Dewi",
    "Rudi",
    "Nur",
    "Joko",
    "Rina",
    "Budi",
    "Sri",
    "Andi",
    "Yanti",
    "Hendra",
)
FAMILY_NAMES = (
    "Aminah",
    "Saputra",
    "Lestari",
    "Hartono",
    "Wahyuni",
    "Pratama",
    "Susanti",
    "Gunawan",
    "Rahmawati",
)


def make_nik(kecamatan_code: str, birth: date, sex: str, serial: int) -> str:
    day = birth.day + (40 if sex == "P" else 0)
    return f"1606{kecamatan_code}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def sample_registration(
    i: int, *, source: str = "desa-online", kecamatan_code: str | None = None, run: int = 0
) -> dict[str, Any]:
    """The i-th realistic, valid registration of a run (distinct NIK and phone per i and run)."""
    sex = "P" if i % 2 else "L"
    birth = date(1970 + i % 35, 1 + i % 12, 1 + i % 28)
    kec = kecamatan_code or f"{1 + i % 15:02d}"
    serial = 1 + (run * 100_003 + i) % 9997  # never 9998 or 9999: the BPJS simulator refuses those
    nik = make_nik(f"{1 + (i // 7) % 15:02d}", birth, sex, serial)
    name = f"{GIVEN_NAMES[i % len(GIVEN_NAMES)]} {FAMILY_NAMES[(i // 3) % len(FAMILY_NAMES)]}"
    return {
        "submission_id": f"{source}-{run}-{i}",
        "source": source,
        "nik": nik,
        "full_name": name,
        "birth_date": birth.isoformat(),
        "sex": sex,
        "phone": f"08{12 + i % 8}{(run * 7919 + i) % 100_000_000:08d}",
        "kecamatan": kec,
        "desa": None,
        "occupation": OCCUPATIONS[i % len(OCCUPATIONS)],
        "declared_income_idr": None if i % 3 else 1_500_000,
    }
