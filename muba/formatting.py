"""How the CLI writes money, numbers, dates and progress for Indonesian operators.

Rupiah and counts use the Indonesian thousands separator (a dot): "Rp1.234.567", "10.000".
Dates are written out: "1 Desember 2026"; times are shown in Asia/Jakarta (WIB).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from rich.table import Table

from shared.format import JAKARTA as JAKARTA
from shared.format import format_number, format_rupiah, format_tanggal

number = format_number
rupiah = format_rupiah
tanggal = format_tanggal


def percent(part: int, whole: int, decimals: int = 1) -> str:
    """(1234, 10000) -> "12,3%" (decimal comma)."""
    value = 0.0 if whole <= 0 else 100.0 * part / whole
    return f"{value:.{decimals}f}".replace(".", ",") + "%"


def parse_date(value: str) -> date:
    """An ISO date or the date part of an ISO date-time."""
    return date.fromisoformat(value[:10])


def parse_datetime(value: str) -> datetime:
    """An ISO date-time; a naive one is taken as UTC (what the services store)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo("UTC"))
    return parsed


def waktu(value: datetime) -> str:
    """A moment in Jakarta time: "28 November 2026 14:05 WIB"."""
    local = value.astimezone(JAKARTA)
    return f"{tanggal(local.date())} {local:%H:%M} WIB"


def tanggal_text(value: str | None) -> str:
    """An ISO date (or date-time) from an API, written out; "-" when absent or unreadable."""
    if not value:
        return "-"
    try:
        return tanggal(parse_date(value))
    except ValueError:
        return value


def waktu_text(value: str | None) -> str:
    """An ISO date-time from an API in Jakarta time; "-" when absent, as given when unreadable."""
    if not value:
        return "-"
    try:
        return waktu(parse_datetime(value))
    except ValueError:
        return value


def progress_bar(done: int, target: int, width: int = 30) -> str:
    """A text bar: "[█████░░░░░]" (full when done >= target)."""
    filled = 0 if target <= 0 else min(width, done * width // target)
    return "[" + "█" * filled + "░" * (width - filled) + "]"


def progress_line(done: int, target: int, width: int = 30) -> str:
    """ "[██░░…] 1.234 / 10.000 (12,3%)"."""
    return f"{progress_bar(done, target, width)} {number(done)} / {number(target)} ({percent(done, target)})"


def key_value_table(numbers: bool = False) -> Table:
    """Two borderless columns, label and value (values right-aligned when they are counts)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right" if numbers else "left")
    return table
