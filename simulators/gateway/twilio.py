"""Twilio's Messages API, simulated: the SMS/WhatsApp provider `services.notifications.twilio`
speaks to, with its delivery receipts.

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   HTTP Basic (AccountSid, AuthToken)
         form To, From, Body[, StatusCallback]  ->  201 {"sid": "SM...", "status": "queued",
         "num_segments": "N", ...} | 400 {"code": 21211, ...} | 401 {"code": 20003, ...} | 503
    then, when StatusCallback was given: POST it, form MessageSid, MessageStatus ("sent", then
         "delivered" or "undelivered" with an ErrorCode), AccountSid, From, To, signed
         (X-Twilio-Signature) with the auth token; tried again with backoff until a 2xx.

It bills segments as a provider does, counted here on its own (not with the sender's code):
GSM 03.38 when every character is in the default alphabet or its extension (160 septets, 153 a
part when concatenated), UCS-2 otherwise (70 code units, 67 a part).
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx

log = logging.getLogger(__name__)

MESSAGES_PATH: Final = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[A-Za-z0-9]{1,64})/Messages\.json$")
# GSM 03.38's default alphabet by code point (0x00-0x7F, ESC at 0x1B), and its extension table.
_GSM_DEFAULT: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED: Final = "^{}\\[~]|€\f"
_E164: Final = re.compile(r"^\+[1-9]\d{6,14}$")


def billed_segments(body: str) -> int:
    """How many SMS parts the provider bills for `body`."""
    if all(c in _GSM_DEFAULT or c in _GSM_EXTENDED for c in body):
        units = [2 if c in _GSM_EXTENDED else 1 for c in body]
        whole, part = 160, 153
    else:
        units = [len(c.encode("utf-16-le")) // 2 for c in body]
        whole, part = 70, 67
    if sum(units) <= whole:
        return 1
    parts, filled = 1, 0
    for unit in units:  # an escape pair or a surrogate pair is never split between two parts
        if filled + unit > part:
            parts, filled = parts + 1, 0
        filled += unit
    return parts


def sign(auth_token: str, url: str, fields: dict[str, str]) -> str:
    data = url + "".join(k + fields[k] for k in sorted(fields))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"twilio-error/{code}", "status": status}


class TwilioApi:
    """The Messages API for GatewaySimulator: `message` answers one POST; receipts follow."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        receipt_delay_s: float,
        undelivered_percent: float,
        share: Callable[[str], float],
        record: Callable[[dict[str, Any]], None],
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.receipt_delay_s = receipt_delay_s
        self.undelivered_percent = undelivered_percent
        self.share = share
        self.record = record
        self._client: httpx.AsyncClient | None = None
        self._receipts: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for task in list(self._receipts):
            task.cancel()
        await asyncio.gather(*self._receipts, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def authorised(self, account: str, authorization: str | None) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return account == self.account_sid and hmac.compare_digest(
            (authorization or "").encode(), expected.encode()
        )

    def check(self, form: dict[str, str]) -> dict[str, Any] | None:
        """Twilio's 400 for a message it will not take, or None."""
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        whatsapp = to.startswith("whatsapp:")
        if not _E164.match(to.removeprefix("whatsapp:")):
            return _error(21211, f"The 'To' number {to} is not a valid phone number.", 400)
        if not sender or whatsapp != sender.startswith("whatsapp:"):
            return _error(21212, "The 'From' number is not a valid phone number for this channel.", 400)
        if not body:
            return _error(21602, "Message body is required.", 400)
        if len(body) > 1600:
            return _error(21617, "The concatenated message body exceeds the 1600 character limit.", 400)
        return None

    def accepted(self, form: dict[str, str], key: str) -> dict[str, Any]:
        """The 201 answer for a message taken, its SID made from our idempotency key and a count."""
        sid = "SM" + hashlib.sha256(f"{key}:{datetime.now(UTC).isoformat()}".encode()).hexdigest()[:32]
        now = format_datetime(datetime.now(UTC))
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form["From"],
            "body": form["Body"],
            "status": "queued",
            "num_segments": str(billed_segments(form["Body"])),
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    def send_receipts(self, answer: dict[str, Any], callback_url: str, key: str) -> None:
        fate = "undelivered" if self.share("receipt:" + key) < self.undelivered_percent else "delivered"
        task = asyncio.create_task(
            self._receipts_of(answer, callback_url, fate), name=f"receipt-{answer['sid']}"
        )
        self._receipts.add(task)
        task.add_done_callback(self._receipts.discard)

    async def _receipts_of(self, answer: dict[str, Any], url: str, fate: str) -> None:
        await asyncio.sleep(self.receipt_delay_s)
        for status in ("sent", fate):
            fields = {
                "AccountSid": self.account_sid,
                "MessageSid": answer["sid"],
                "SmsSid": answer["sid"],
                "MessageStatus": status,
                "SmsStatus": status,
                "From": answer["from"],
                "To": answer["to"],
                "ApiVersion": "2010-04-01",
            }
            if status == "undelivered":
                fields["ErrorCode"] = "30003"  # Unreachable destination handset
            await self._post_receipt(url, fields)

    async def _post_receipt(self, url: str, fields: dict[str, str]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, fields)}
        wait = 0.5
        for attempt in range(1, 9):
            status: int | None = None
            with contextlib.suppress(httpx.HTTPError):
                status = (await self._client.post(url, data=fields, headers=headers)).status_code
            with contextlib.suppress(OSError):
                self.record(
                    {
                        "received_at": datetime.now(UTC).isoformat(timespec="microseconds"),
                        "receipt": fields["MessageStatus"],
                        "sid": fields["MessageSid"],
                        "attempt": attempt,
                        "answered": status,
                    }
                )
            if status is not None and 200 <= status < 300:
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, 10.0)
        log.warning("delivery receipt given up", extra={"sid": fields["MessageSid"]})


def parse_form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
