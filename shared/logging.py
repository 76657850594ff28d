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

# 16 digits, optionally with single spaces, dots or dashes between them (how NIKs get typed).
_NIK = re.compile(r"(?<![\d.-])\d(?:[ .-]?\d){15}(?![ .-]?\d)")
# Indonesian mobile numbers: +62 / 62 / 0, then 8 and 8 to 12 more digits, separators allowed.
_PHONE = re.compile(r"(?<![\w+])(?:\+?62|0)[ .-]?8(?:[ .-]?\d){7,11}(?![ .-]?\d)")
_RESERVED: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def mask_text(text: str) -> str:
    """Mask every NIK and mobile number in free text (the last line of defence in logs)."""
    text = _NIK.sub(lambda m: mask_nik(m.group(0)), text)
    return _PHONE.sub(lambda m: _mask_phone_match(m.group(0)), text)


def _mask_phone_match(found: str) -> str:
    digits = _digits(found)
    prefix = "+" if found.startswith("+") else ""
    return f"{prefix}{digits[:4]}******{digits[-3:]}"


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
