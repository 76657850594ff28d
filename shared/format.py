"""How people read dates and money here: Bahasa Indonesia, Asia/Jakarta, whole Rupiah."""

from datetime import date, datetime
from typing import Final

from shared import clock
from shared.clock import JAKARTA as JAKARTA  # re-exported: callers import it from here too

BULAN: Final = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


def today_in_jakarta() -> date:
    """Today's calendar date for people here (ages, coverage starts), whatever the server's zone.

    Kept for its callers; the clock itself (and its fault-injection skew) is `shared.clock`."""
    return clock.today_in_jakarta()


def jakarta_date(moment: datetime) -> date:
    """Calendar date in Asia/Jakarta of an aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: cannot tell the Asia/Jakarta date")
    return moment.astimezone(JAKARTA).date()


def format_tanggal(d: date) -> str:
    """'1 Desember 2026'. An aware datetime is first converted to its Asia/Jakarta date."""
    if isinstance(d, datetime):
        d = jakarta_date(d)
    return f"{d.day} {BULAN[d.month - 1]} {d.year}"


def format_number(n: int) -> str:
    """12345 -> '12.345'."""
    return f"{n:,}".replace(",", ".")


def format_rupiah(amount: int) -> str:
    """'Rp16.800'. Whole Rupiah only; negative amounts get a leading minus ('-Rp500')."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int number of Rupiah, got {type(amount).__name__}")
    return ("-" if amount < 0 else "") + "Rp" + format_number(abs(amount))
