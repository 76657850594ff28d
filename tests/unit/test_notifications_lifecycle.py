"""services/notifications/domain.py: the texts of invoice reminders and coverage ending /
extended / ended: who gets what, Indonesian dates, masked numbers, refused input."""

import json
from datetime import date

import pytest

from services.notifications.domain import coverage_ended, coverage_ending, invoice_reminder

PHONE, OFFICE = "+6281234567890", "disnakertrans@mubakab.go.id"


def _reminder(kind: str, days: int, **changes: object) -> list:  # type: ignore[type-arg]
    args: dict[str, object] = {
        "invoice_id": "inv-1",
        "invoice_number": "INV-PT-HINDOLI-2026-12",
        "company_name": "PT Hindoli",
        "company_email": "csr@hindoli.co.id",
        "company_webhook_url": "https://hooks.hindoli.co.id/bpjs",
        "month": "2026-12",
        "due_date": date(2026, 12, 15),
        "kind": kind,
        "days_from_due": days,
        "unpaid_lines": 2,
        "unpaid_idr": 33_600,
        "csv_url": "https://muba.example/api/invoices.csv",
        **changes,
    }
    return invoice_reminder(**args)  # type: ignore[arg-type]


def test_a_due_soon_reminder_says_when_and_how_much() -> None:
    email, hook = _reminder("due_soon", -3)
    assert (email.template, email.audience, email.channel, hook.channel) == (
        "invoice_reminder",
        "company",
        "email",
        "webhook",
    )
    assert "jatuh tempo 15 Desember 2026" in email.subject and "Rp33.600" in email.subject
    assert "3 hari kerja lagi" in email.body and "Desember 2026" in email.body
    assert "?invoice_id=inv-1" in email.body
    payload = json.loads(hook.body)
    assert (payload["event"], payload["kind"], payload["days_from_due"], payload["unpaid_idr"]) == (
        "invoice_reminder",
        "due_soon",
        -3,
        33_600,
    )


def test_an_overdue_reminder_says_it_is_late_and_what_a_lapse_costs() -> None:
    (email,) = _reminder("overdue", 7, company_webhook_url=None)
    assert "lewat jatuh tempo 15 Desember 2026" in email.subject
    assert "7 hari kerja" in email.body and "nonaktif" in email.body
    assert _reminder("overdue", 1, company_email=None, company_webhook_url=None) == []
    with pytest.raises(ValueError):
        _reminder("later", 1)


def test_coverage_ending_tells_the_worker_and_the_company_with_jakarta_dates() -> None:
    sms, email = coverage_ending(
        worker_name="Siti Aminah",
        worker_phone=PHONE,
        worker_channel="sms",
        kpj_number="16001234560",
        company_name="PT Hindoli",
        company_email="csr@hindoli.co.id",
        company_webhook_url=None,
        coverage_end=date(2026, 12, 31),
        days_left=7,
    )
    assert sms.audience == "worker" and sms.recipient == PHONE
    assert "31 Desember 2026" in sms.body and "7 hari lagi" in sms.body and "tidak perlu membayar" in sms.body
    assert email.audience == "company" and "perpanj" in email.body and "16001234560" in email.body


def _ended(**changes: object) -> list:  # type: ignore[type-arg]
    args: dict[str, object] = {
        "worker_name": "Siti Aminah 1606015208900003",  # a NIK typed into a name is masked
        "worker_phone": PHONE,
        "worker_channel": "sms",
        "kpj_number": "16001234560",
        "company_name": "PT Hindoli",
        "company_email": "csr@hindoli.co.id",
        "company_webhook_url": "https://hooks.hindoli.co.id/bpjs",
        "reason": "period_ended",
        "last_covered_day": date(2026, 12, 31),
        "months_unpaid": 0,
        "next_step": "fallback",
        "next_company_name": "PT Medco E&P",
        "next_coverage_start": date(2027, 1, 1),
        "office_email": OFFICE,
        **changes,
    }
    return coverage_ended(**args)  # type: ignore[arg-type]


def test_coverage_ended_with_a_fallback_sponsor() -> None:
    sms, email, hook, office = _ended()
    assert [m.audience for m in (sms, email, hook, office)] == ["worker", "company", "company", "office"]
    assert office.recipient == OFFICE and office.channel == "email"
    assert (
        "Mulai 1 Januari 2027" in sms.body and "PT Medco E&P" in sms.body and "31 Desember 2026" in sms.body
    )
    assert "sponsor pengganti" in office.subject and "+62812****7890" in office.body
    for message in (sms, email, hook, office):
        assert "1606015208900003" not in message.body and PHONE not in message.body
        assert "1606015208900003" not in (message.subject or "")


def test_coverage_ended_by_lapse_to_the_waitlist() -> None:
    sms, *_, office = _ended(
        reason="lapsed",
        months_unpaid=3,
        next_step="waitlisted",
        next_company_name=None,
        next_coverage_start=None,
    )
    assert "nonaktif" in sms.body and "daftar tunggu" in sms.body
    assert "daftar tunggu" in office.subject and "3 bulan berturut-turut" in office.body


def test_coverage_ended_refuses_what_it_cannot_say() -> None:
    with pytest.raises(ValueError):
        _ended(next_coverage_start=None)  # a fallback sponsor from when?
    with pytest.raises(ValueError):
        _ended(reason="withdrawn")
    with pytest.raises(ValueError):
        _ended(worker_phone="12345")
