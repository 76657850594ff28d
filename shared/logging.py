"""Structured JSON logs with personal data masked: one setup for every service.

Masking is a safety net on the final text of every record (message and extra fields): NIKs
(16 digits, also with separators), Indonesian phone numbers and KPJ-like long digit runs.
Names cannot be recognised in free text, so code never logs names; `mask_name` is for the rare
place that must say whose record it is.
"""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final

_NIK = re.compile(r"(?<!\d)(\d{6})[\d .-]{6,12}?(\d{2})(?!\d)")
_PHONE = re.compile(r"(?<![\w+])(\+62|62|0)(8\d)[\d .-]{5,12}?(\d{3})(?!\d)")
_RESERVED: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


def mask_text(text: str) -> str:
    text = _PHONE.sub(lambda m: f"{m.group(1)}{m.group(2)}******{m.group(3)}", text)
    return _NIK.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)


def mask_nik(nik: str) -> str:
    digits = re.sub(r"\D", "", nik)
    return digits[:6] + "*" * max(len(digits) - 8, 0) + digits[-2:] if len(digits) > 8 else "****"


def mask_phone(phone: str) -> str:
    """+6281234567890 -> +62812****7890."""
    return phone[:6] + "****" + phone[-4:] if len(phone) > 10 else "****"


def mask_name(name: str) -> str:
    return " ".join(part[:1] + "***" for part in name.split())


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return mask_text(json.dumps(entry, default=str, ensure_ascii=False))


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
