"""services/sponsorship/domain/invoices.py: a company's monthly invoice, its number and id, the
CSV it receives (never an unmasked NIK) and the reminder due on a day, with real figures."""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.sponsorship.domain.invoices import (
    CSV_HEADER,
    INVOICES,
    MemberMonthLine,
    build_invoice,
    invoice_csv,
    invoice_issued,
    invoice_number,
    reminder_due,
)
from shared import contracts
from shared.calendar import Month, programme_calendar

CAL = programme_calendar()
AUG, JUL, SEP = Month(2026, 8), Month(2026, 7), Month(2026, 9)
# JKK Rp10,000 + JKM Rp6,800 at the Rp1,000,000 income floor; with JHT (2%) Rp36,800.
JKK_JKM, WITH_JHT = 16_800, 36_800


def line(
    enrollment: str, name: str, month: Month = AUG, amount: int = JKK_JKM, nik: str = "160601********03"
) -> MemberMonthLine:
    return MemberMonthLine(
        enrollment_id=enrollment,
        worker_id=f"w-{enrollment}",
        nik_masked=nik,
        full_name=name,
        kpj_number=f"2600000{enrollment[-4:]}",
        month=month,
        contribution_idr=amount,
    )


LINES = [
    line("e-0001", "Siti Aminah"),
    line("e-0002", "Budi Santoso"),
    line("e-0003", "Ahmad Yani", amount=WITH_JHT),
]


def test_an_invoice_holds_the_months_lines_its_total_and_dates() -> None:
    invoice = build_invoice("pt-hindoli", "PT Hindoli", AUG, LINES, CAL)
    assert invoice.number == "INV-PT-HINDOLI-2026-08"
    assert invoice.total_idr == 16_800 + 16_800 + 36_800 == 70_400
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 8, 1), date(2026, 8, 18))
    assert [x.full_name for x in invoice.lines] == ["Ahmad Yani", "Budi Santoso", "Siti Aminah"]
    assert invoice.invoice_id == str(uuid.uuid5(INVOICES, "pt-hindoli/2026-08"))


def test_issuing_the_month_again_gives_the_same_invoice() -> None:
    first = build_invoice("pt-hindoli", "PT Hindoli", AUG, LINES, CAL)
    again = build_invoice("pt-hindoli", "PT Hindoli", AUG, list(reversed(LINES)), CAL)
    assert again == first
    assert invoice_csv(again) == invoice_csv(first)
    other_month = build_invoice("pt-hindoli", "PT Hindoli", SEP, [line("e-0001", "Siti Aminah", SEP)], CAL)
    other_company = build_invoice("medco", "Medco", AUG, LINES, CAL)
    assert len({first.invoice_id, other_month.invoice_id, other_company.invoice_id}) == 3


def test_an_earlier_month_not_invoiced_yet_may_be_on_the_invoice_a_later_one_may_not() -> None:
    late_joiner = line("e-0004", "Dewi Lestari", JUL)
    invoice = build_invoice("pt-hindoli", "PT Hindoli", AUG, [*LINES, late_joiner], CAL)
    assert invoice.total_idr == 70_400 + 16_800
    assert invoice.due_date == date(2026, 8, 18)  # the invoice's month decides, not the line's
    with pytest.raises(ValueError, match="2026-09"):
        build_invoice("pt-hindoli", "PT Hindoli", AUG, [*LINES, line("e-0005", "Rina", SEP)], CAL)


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [line("e-0001", "Siti Aminah"), line("e-0001", "Siti Aminah")],  # a worker-month twice
        [line("e-0001", "Siti Aminah", amount=0)],
        [line("e-0001", "Siti Aminah", amount=-16_800)],
        [line("e-0001", "Siti Aminah", amount=True)],
    ],
)
def test_lines_an_invoice_cannot_hold_are_refused(lines: list[MemberMonthLine]) -> None:
    with pytest.raises(ValueError):
        build_invoice("pt-hindoli", "PT Hindoli", AUG, lines, CAL)


def test_invoice_numbers_are_readable_and_never_shared_by_two_companies() -> None:
    assert invoice_number("pt-hindoli", AUG) == "INV-PT-HINDOLI-2026-08"
    assert invoice_number("medco", Month(2027, 1)) == "INV-MEDCO-2027-01"
    spelled_otherwise = invoice_number("PT Hindoli", AUG)
    assert re.fullmatch(r"INV-PT-HINDOLI-[0-9A-F]{6}-2026-08", spelled_otherwise)
    numbers = {invoice_number(c, AUG) for c in ("pt-a", "PT-A", "pt a", "pt--a", "p" * 30, "p" * 31, "!!!")}
    assert len(numbers) == 7
    assert all(re.fullmatch(r"INV-[A-Z0-9-]{1,31}-2026-08", n) for n in numbers)


# --- the CSV --------------------------------------------------------------------------------------


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_the_csv_has_a_bom_a_header_and_one_row_per_line() -> None:
    data = invoice_csv(build_invoice("pt-hindoli", "PT Hindoli", AUG, LINES, CAL))
    assert data.startswith(b"\xef\xbb\xbf")  # Excel then reads UTF-8
    assert data.count(b"\r\n") == 4
    assert rows(data) == [
        list(CSV_HEADER),
        ["1", "INV-PT-HINDOLI-2026-08", "2026-08", "26000000003", "160601********03", "Ahmad Yani", "36800"],
        [
            "2",
            "INV-PT-HINDOLI-2026-08",
            "2026-08",
            "26000000002",
            "160601********03",
            "Budi Santoso",
            "16800",
        ],
        ["3", "INV-PT-HINDOLI-2026-08", "2026-08", "26000000001", "160601********03", "Siti Aminah", "16800"],
    ]
    assert not any("phone" in h or "telepon" in h for h in CSV_HEADER)


def test_names_with_commas_quotes_accents_and_formulas_come_through_safely() -> None:
    tricky = [
        line("e-0001", 'Siti "Ina", Aminah'),
        line("e-0002", "Ni Luh Kadék"),
        line("e-0003", '=HYPERLINK("http://x.example","klik")'),
    ]
    names = [r[5] for r in rows(invoice_csv(build_invoice("pt-hindoli", "PT Hindoli", AUG, tricky, CAL)))[1:]]
    assert names == ['\'=HYPERLINK("http://x.example","klik")', "Ni Luh Kadék", 'Siti "Ina", Aminah']


@given(st.text(st.sampled_from("0123456789"), min_size=16, max_size=16), st.sampled_from(["", " ", "-", "."]))
def test_no_unmasked_nik_can_appear_in_the_csv(digits: str, separator: str) -> None:
    """Even if the ledger handed over a NIK unmasked (with or without separators), the CSV masks it."""
    typed = separator.join([digits[:6], digits[6:12], digits[12:]])
    data = invoice_csv(
        build_invoice("pt-hindoli", "PT Hindoli", AUG, [line("e-0001", "Siti", nik=typed)], CAL)
    )
    text = data.decode("utf-8-sig")
    assert digits not in re.sub(r"[ .-]", "", text)
    assert rows(data)[1][4] == digits[:6] + "********" + digits[-2:]


# --- reminders ------------------------------------------------------------------------------------

AUGUST = build_invoice("pt-hindoli", "PT Hindoli", AUG, LINES, CAL)  # due Tue 18 Aug 2026


@pytest.mark.parametrize(
    ("today", "sent", "expected"),
    [
        (date(2026, 8, 9), (), None),  # before the first reminder (Mon 10 Aug)
        (date(2026, 8, 10), (), "INV-PT-HINDOLI-2026-08/-5"),
        (date(2026, 8, 11), ("INV-PT-HINDOLI-2026-08/-5",), None),
        (date(2026, 8, 18), ("INV-PT-HINDOLI-2026-08/-5",), "INV-PT-HINDOLI-2026-08/+0"),
        # Down from 10 to 25 Aug: only the latest reminder that came (+3 on Fri 21 Aug) is sent.
        (date(2026, 8, 25), (), "INV-PT-HINDOLI-2026-08/+3"),
        (date(2026, 9, 2), ("INV-PT-HINDOLI-2026-08/+3",), "INV-PT-HINDOLI-2026-08/+10"),
        (date(2026, 12, 1), ("INV-PT-HINDOLI-2026-08/+10",), None),
    ],
)
def test_the_reminder_due_on_a_day(today: date, sent: tuple[str, ...], expected: str | None) -> None:
    due = reminder_due(AUGUST, today, paid=False, sent=sent, calendar=CAL)
    assert (due.key if due else None) == expected


def test_no_reminder_once_paid() -> None:
    assert reminder_due(AUGUST, date(2026, 8, 18), paid=True, calendar=CAL) is None
    due = reminder_due(AUGUST, date(2026, 8, 21), paid=False, calendar=CAL)
    assert due is not None and (due.rule.kind, due.on) == ("overdue", date(2026, 8, 21))


# --- the event ------------------------------------------------------------------------------------


def test_the_invoice_issued_event_carries_the_summary_not_the_lines() -> None:
    at = datetime(2026, 7, 31, 17, 0, tzinfo=UTC)  # 1 Aug 00:00 WIB
    event = invoice_issued(
        AUGUST, company_email="csr@hindoli.example", company_webhook_url=None, issued_at=at
    )
    assert contracts.of(event) is contracts.INVOICE_ISSUED
    assert contracts.INVOICE_ISSUED.key(event) == "pt-hindoli"
    assert event.model_dump(mode="json") == {
        "invoice_id": AUGUST.invoice_id,
        "invoice_number": "INV-PT-HINDOLI-2026-08",
        "company_id": "pt-hindoli",
        "company_name": "PT Hindoli",
        "company_email": "csr@hindoli.example",
        "company_webhook_url": None,
        "month": "2026-08",
        "lines_count": 3,
        "total_idr": 70_400,
        "issue_date": "2026-08-01",
        "due_date": "2026-08-18",
        "issued_at": "2026-07-31T17:00:00Z",
    }
