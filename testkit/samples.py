"""Realistic sample data of Musi Banyuasin (tests, demo, benchmark): valid registrations with
distinct NIKs and phones per index and run."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

from shared.events.registry import RegistrationRejected, RejectionReason
from shared.events.sponsorship import EnrollmentCompleted, EnrollmentFailed, InvoiceIssued, WorkerWaitlisted

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
    # 1..9996: 9997-9999 are the BPJS simulator's lapsed member, active member and NIK not found
    serial = 1 + (run * 100_003 + i) % 9996
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


# --- the events notifications reacts to, as sponsorship and the registry publish them -------------

EVENTS_AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def sample_phone(i: int) -> str:
    return f"+62812{i:08d}"


def enrollment_completed(worker_id: str, i: int = 1, **changes: Any) -> EnrollmentCompleted:
    return EnrollmentCompleted(
        worker_id=worker_id,
        enrollment_id=str(uuid.uuid4()),
        full_name="Siti Aminah",
        phone=sample_phone(i),
        nik_masked="160601********03",
        kecamatan_name="Sungai Lilin",
        kpj_number="12345678901",
        coverage_start=date(2026, 12, 1),
        coverage_end=date(2027, 11, 30),
        package="JKK_JKM",
        contribution_idr=201_600,
        company_id="pt-hindoli",
        company_name="PT Hindoli",
        company_email="csr@hindoli.co.id",
        company_webhook_url="https://hooks.hindoli.co.id/bpjs?token=s3cret",
        completed_at=EVENTS_AT,
    ).model_copy(update=changes)


def worker_waitlisted(worker_id: str, i: int = 2, **changes: Any) -> WorkerWaitlisted:
    return WorkerWaitlisted(
        worker_id=worker_id,
        full_name="Budi Santoso",
        phone=sample_phone(i),
        kecamatan_code="07",
        kecamatan_name="Keluang",
        waitlisted_at=EVENTS_AT,
    ).model_copy(update=changes)


def enrollment_failed(worker_id: str, i: int = 3, **changes: Any) -> EnrollmentFailed:
    return EnrollmentFailed(
        worker_id=worker_id,
        enrollment_id=str(uuid.uuid4()),
        full_name="Rina Lestari",
        phone=sample_phone(i),
        reason_code="NIK_NOT_FOUND",
        reason_message="NIK not found in Dukcapil",
        failed_at=EVENTS_AT,
    ).model_copy(update=changes)


def invoice_issued(**changes: Any) -> InvoiceIssued:
    """PT Hindoli's invoice for December 2026 (2 worker-months, Rp33,600), to neither e-mail nor
    webhook unless `changes` give one."""
    return InvoiceIssued(
        invoice_id=str(uuid.uuid4()),
        invoice_number="INV-PT-HINDOLI-2026-12",
        company_id="pt-hindoli",
        company_name="PT Hindoli",
        company_email=None,
        company_webhook_url=None,
        month="2026-12",
        lines_count=2,
        total_idr=33_600,
        issue_date=date(2026, 12, 1),
        due_date=date(2026, 12, 15),
        issued_at=datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
    ).model_copy(update=changes)


def registration_rejected(
    submission_id: str, phone: str | None, full_name: str | None
) -> RegistrationRejected:
    return RegistrationRejected(
        submission_id=submission_id,
        source="desa-online",
        reasons=[RejectionReason(field="occupation", code="MISSING_FIELD", message="occupation is required")],
        full_name=full_name,
        phone=phone,
        rejected_at=EVENTS_AT,
    )


def sample_commitment(cid: str, kecamatan: list[str], slots: int, **extra: Any) -> dict[str, Any]:
    """A company's commitment as the office submits it (plain JSON), 12 months of JKK + JKM."""
    return {
        "commitment_id": cid,
        "company_id": f"co-{cid}",
        "company_name": f"PT {cid}",
        "kecamatan": kecamatan,
        "slots": slots,
        "months": 12,
        "package": "JKK_JKM",
        "email": "csr@example.co.id",
        **extra,
    }
