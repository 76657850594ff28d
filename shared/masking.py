"""Personal data masked one way everywhere: logs, notifications, the delivery adapter, the audit
log, the CLI. Pure (no I/O); every function gives one result for one input wherever it is called.

Field maskers (the caller knows what the value is):

- `mask_nik`: first 6 digits (the area) and last 2, '160601********03', however the NIK was
  typed (spaces, dots, dashes are dropped). Fewer than 12 digits: '****'.
- `mask_phone`: the prefix as typed (+62, 62 or 0), the operator's 3 digits and at most the last
  4, '+62812****7890'; at least 4 digits are always hidden. Too short for a number: '****'.
- `mask_kpj`: first 2 and last 2 digits of the BPJS membership number, '12*******01'.
- `mask_email`: first letter and domain, 's***@hindoli.co.id'.
- `mask_name`: first letter of each word, 'S*** A***'.
- `mask_recipient(channel, recipient)`: the address of a notification as events and logs show it.

Each keeps a value it already masked as it is ('160601********03' stays, not '****').

`mask_text` is the safety net for free text (every log line, provider errors, free text in
messages). It masks:

- NIKs: 16 digits, also typed with single spaces, dots or dashes between digits.
- Indonesian mobile numbers: 0 8xx... (9 to 13 digits) or (+)62 8xx... (10 to 14 digits), also
  with single separators ('0812-3456-7890', '+62 812 3456 7890').
- KPJ numbers: any run of exactly 11 digits. Nothing tells a KPJ from another 11-digit number, so
  an unformatted sum of Rp10 miliar or more is masked too (write big sums with thousands dots).
- Any other run of 12 or more digits (a NIK missing or gaining a digit, a phone typed without its
  prefix, a 13-digit epoch in milliseconds): first 6 and last 2 kept, as `mask_nik` does.

and leaves readable, because they are not personal data and operators need them verbatim:

- UUIDs (8-4-4-4-12 hex, any case, also glued to other text) and hex digests of 32 or more
  characters with a letter in them: correlation ids must survive (the old NIK pattern, which
  accepted dashes, altered about 1 in 500 UUIDs). Whatever lies inside them is not looked at.
- Numbers of up to 10 digits that are not mobile numbers (not 08... or 628...): counts,
  offsets, partitions, Rupiah amounts below Rp10 miliar.
- Separated digit groups that do not make a NIK or a mobile number: ISO dates and times
  ('2026-11-28T07:00:00.123+00:00'), IP addresses, amounts with thousands dots of any normal size
  ('Rp168.000.000', 'Rp62.800.000.000').
- Masked values ('160601********03', '+62812****7890'), so masking twice changes nothing.

Names and e-mail addresses cannot be told from other words in free text: code never logs names
and passes known addresses through `mask_recipient` itself.
"""

import contextlib
import re
from typing import Final
from urllib.parse import urlsplit

_HEX: Final = "[0-9a-fA-F]"
# A lookahead finds every UUID, also overlapping ones, so text before a UUID can never hide it.
_UUID: Final = re.compile(rf"(?=({_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}))")
# sha256 / sha1 / md5 / trace ids / dashless UUIDs; a pure digit run of that length is no digest.
_DIGEST: Final = re.compile(rf"(?<![0-9A-Za-z]){_HEX}{{32,}}(?![0-9A-Za-z])")
_HEX_LETTER: Final = re.compile("[a-fA-F]")
# Digit groups joined by single separators, with at least as many digits as the shortest thing
# masked (a mobile number, 0 + 8 digits): the candidates for NIKs, phone and KPJ numbers.
_CHAIN: Final = re.compile(r"\d(?:[ .-]?\d){8,}")
_GROUP: Final = re.compile(r"\d+")
# Thousands written with dots, as Rupiah amounts are ('62.800.000.000'): never a phone number.
_AMOUNT: Final = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+")

_MASKED_NIK: Final = re.compile(r"\d{0,6}\*+\d{0,2}")
_MASKED_PHONE: Final = re.compile(r"\+?\d{0,6}\*+\d{0,4}")
_MASKED_KPJ: Final = re.compile(r"\d{0,2}\*+\d{0,2}")

NIK_DIGITS: Final = 16
KPJ_DIGITS: Final = 11
# From this many digits on, a run is masked whatever it is (it may be a mistyped NIK).
LONG_RUN_DIGITS: Final = 12
_NIK_MIN_DIGITS: Final = 12
_KPJ_MIN_DIGITS: Final = 8
# Digits of a mobile number after its prefix (8xx + 5 to 9 digits), as the old log pattern had.
_NATIONAL_MIN, _NATIONAL_MAX = 8, 12
_PHONE_HIDDEN_MIN: Final = 4
# What is too short to mask in part is masked whole, with a fixed width that does not tell its length.
_TOO_SHORT: Final = "****"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


# --- field maskers ------------------------------------------------------------------------------


def mask_nik(nik: str) -> str:
    """'1606015208900003' (or '1606 0152 0890 0003') -> '160601********03'."""
    value = nik.strip()
    if _MASKED_NIK.fullmatch(value):
        return value
    digits = _digits(value)
    if len(digits) < _NIK_MIN_DIGITS:
        return _TOO_SHORT
    return digits[:6] + "*" * (len(digits) - 8) + digits[-2:]


def mask_phone(phone: str) -> str:
    """'+6281234567890' -> '+62812****7890', '0812-3456-7890' -> '0812****7890'.

    The prefix stays as it was typed; of the national number the operator's 3 digits stay, then
    at least 4 digits are hidden and at most the last 4 shown.
    """
    value = phone.strip()
    if _MASKED_PHONE.fullmatch(value):
        return value
    digits = _digits(value)
    plus = "+" if value.startswith("+") else ""
    if digits.startswith("62"):
        prefix, national = "62", digits[2:]
    elif digits.startswith("0"):
        prefix, national = "0", digits[1:]
    else:
        prefix, national = "", digits
    if len(national) < _NATIONAL_MIN:
        return _TOO_SHORT
    hidden = max(len(national) - 7, _PHONE_HIDDEN_MIN)
    shown = len(national) - 3 - hidden
    return plus + prefix + national[:3] + "*" * hidden + (national[-shown:] if shown else "")


def mask_kpj(kpj: str) -> str:
    """'12345678901' -> '12*******01' (the BPJS membership number, 11 digits today)."""
    value = kpj.strip()
    if _MASKED_KPJ.fullmatch(value):
        return value
    digits = _digits(value)
    if len(digits) < _KPJ_MIN_DIGITS:
        return _TOO_SHORT
    return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]


def mask_email(email: str) -> str:
    """'siti.aminah@hindoli.co.id' -> 's***@hindoli.co.id'; anything else '***'."""
    local, at, domain = email.strip().rpartition("@")
    return f"{local[:1]}***@{domain}" if at and local and domain else "***"


def mask_name(name: str) -> str:
    """'Siti Aminah' -> 'S*** A***' (for the rare place that must say whose record it is)."""
    return " ".join(part[:1] + "***" for part in name.split())


def mask_webhook(url: str) -> str:
    """Scheme and host only ('https://hooks.hindoli.co.id'): paths and queries often carry tokens."""
    with contextlib.suppress(ValueError):
        parts = urlsplit(url.strip())
        if parts.scheme and parts.hostname:
            return f"{parts.scheme}://{parts.hostname}"
    return "***"


def mask_recipient(channel: str, recipient: str) -> str:
    """What may be shown of a notification's address outside its schema (events, logs, API)."""
    if channel in ("sms", "whatsapp"):
        return mask_phone(recipient)
    if channel == "email":
        return mask_email(recipient)
    if channel == "webhook":
        return mask_webhook(recipient)
    return "***"


def mask_text_quoting(text: str, channel: str, recipient: str) -> str:
    """Free text that may quote a known address (a provider's error): that address as
    `mask_recipient` shows it, then everything `mask_text` masks."""
    masked = mask_recipient(channel, recipient)
    for exact in sorted({recipient, recipient.strip()} - {""}, key=len, reverse=True):
        text = text.replace(exact, masked)
    return mask_text(text)


# --- free text ----------------------------------------------------------------------------------


def mask_text(text: str) -> str:
    """Mask NIKs, mobile numbers, KPJ numbers and other long digit runs in free text; never touch
    a UUID or a hex digest (see the module docstring for exactly what is masked and why)."""
    if _CHAIN.search(text) is None:
        return text
    out: list[str] = []
    at = 0
    for start, end in _protected(text):
        out.append(_mask_free(text[at:start]))
        out.append(text[start:end])
        at = end
    out.append(_mask_free(text[at:]))
    return "".join(out)


def _protected(text: str) -> list[tuple[int, int]]:
    """The spans of UUIDs and digests, merged, in order."""
    spans = [(m.start(1), m.end(1)) for m in _UUID.finditer(text)] if "-" in text else []
    spans += [m.span() for m in _DIGEST.finditer(text) if _HEX_LETTER.search(m.group(0))]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _mask_free(text: str) -> str:
    return _CHAIN.sub(lambda m: _mask_chain(m.group(0)), text) if text else text


def _mask_chain(chain: str) -> str:
    """One run of digit groups joined by single separators, masked from left to right.

    A NIK may span groups joined by one kind of separator ('1606 0152 0890 0003'), so that in
    '2026-11-28 1606 0152 0890 0003' the date stays a date; a run that is 16 digits as a whole is
    a NIK whatever its separators. A mobile number may span any groups from the run's start or
    after a space, but its prefix must show in its first group ('0812', '62812', or '62' then
    '812') and it is not written in thousands ('62.800.000.000'), so '08-12-2026 10' stays a
    date and 'Rp91.080.000.000' or 'Rp62.800.000.000' an amount.
    A group on its own is masked when it is a mobile number, 11 digits (KPJ) or 12+ digits.
    """
    groups = list(_GROUP.finditer(chain))
    if len(groups) > 1 and sum(len(g.group(0)) for g in groups) == NIK_DIGITS:
        return mask_nik(chain)
    out: list[str] = []
    at = 0  # position in `chain` copied so far
    i = 0
    while i < len(groups):
        found = _nik_window(chain, groups, i) or _phone_window(chain, groups, i)
        if found is not None:
            j, masked = found
        else:
            j, masked = i, _mask_group(groups[i].group(0))
        out.append(chain[at : groups[i].start()])
        out.append(masked)
        at = groups[j].end()
        i = j + 1
    out.append(chain[at:])
    return "".join(out)


def _nik_window(chain: str, groups: list[re.Match[str]], i: int) -> tuple[int, str] | None:
    """Groups from `i` joined by one kind of separator that make exactly 16 digits."""
    digits = ""
    for j in range(i, len(groups)):
        if j > i + 1 and chain[groups[j].start() - 1] != chain[groups[i].end()]:
            return None
        digits += groups[j].group(0)
        if len(digits) == NIK_DIGITS:
            return j, mask_nik(digits)
        if len(digits) > NIK_DIGITS:
            return None
    return None


def _phone_window(chain: str, groups: list[re.Match[str]], i: int) -> tuple[int, str] | None:
    """The longest run of groups from `i` that is a mobile number (starting the run or after a
    space: '91.080.000.000' is an amount)."""
    first = groups[i].group(0)
    if i > 0 and chain[groups[i].start() - 1] != " ":
        return None
    if not (
        (first.startswith("08") and len(first) >= 3)
        or (first.startswith("628") and len(first) >= 4)
        or (first == "62" and i + 1 < len(groups) and groups[i + 1].group(0)[:1] == "8")
    ):
        return None
    best: tuple[int, str] | None = None
    digits = ""
    for j in range(i, len(groups)):
        digits += groups[j].group(0)
        if len(digits) > 2 + _NATIONAL_MAX:
            break
        if _is_mobile(digits) and not _AMOUNT.fullmatch(chain, groups[i].start(), groups[j].end()):
            best = j, mask_phone(digits)
    return best


def _is_mobile(digits: str) -> bool:
    if digits.startswith("628"):
        national = digits[2:]
    elif digits.startswith("08"):
        national = digits[1:]
    else:
        return False
    return _NATIONAL_MIN <= len(national) <= _NATIONAL_MAX


def _mask_group(digits: str) -> str:
    if _is_mobile(digits):
        return mask_phone(digits)
    if len(digits) == KPJ_DIGITS:
        return mask_kpj(digits)
    if len(digits) >= LONG_RUN_DIGITS:
        return mask_nik(digits)
    return digits
