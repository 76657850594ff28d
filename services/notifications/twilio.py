"""SMS and WhatsApp through Twilio's Programmable Messaging API: the `sms` and `whatsapp`
channels' provider, and the check of its delivery receipts.

Why Twilio: one public, versioned HTTP API (and OpenAPI description) for both channels, with
delivery receipts (status callbacks) signed by the provider. Any provider speaking this API
works, as the stand-in in simulators/gateway does.

    POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json   (HTTP Basic: AccountSid, AuthToken)
         form: To, From, Body, StatusCallback      (WhatsApp: To/From are `whatsapp:+62...`)
         -> 201 {"sid": "SM...", "status": "queued", "num_segments": "1", ...}
    then POST {StatusCallback}  form: MessageSid, MessageStatus (queued, sent, delivered,
         undelivered, failed, read), ErrorCode, ...; header X-Twilio-Signature

X-Twilio-Signature is base64(HMAC-SHA1(AuthToken, url + each POST field's name and value, in
name order)), over the callback URL exactly as it was given to Twilio (NOTIFICATIONS_RECEIPT_URL:
behind a proxy, the URL the service sees differs). A receipt without a valid signature is refused.

Twilio's Messages API takes no idempotency key: a send whose answer was lost (a timeout) and is
tried again may reach the phone twice. We send ours (`Idempotency-Key`) all the same; the stand-in
counts such repeats, and the attempt count in notification-sent.v2 shows them.
"""

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import httpx

from services.notifications.delivery import Accepted, HttpSender, PermanentRefusal
from services.notifications.repository import StoredNotification
from shared.masking import mask_recipient

log = logging.getLogger(__name__)

PROVIDER: Final = "twilio"
SIGNATURE_HEADER: Final = "x-twilio-signature"
# What a receipt's MessageStatus means for us: the final states; the others (queued, sending,
# sent, accepted, scheduled) say the message is on its way, which notification-sent already told.
FINAL_STATUSES: Final = {
    "delivered": "delivered",
    "read": "delivered",  # WhatsApp: read implies delivered
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}


def signature(auth_token: str, url: str, fields: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a POST of `fields` (form fields, in any order) to `url`."""
    data = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_is_valid(
    auth_token: str, url: str, fields: Iterable[tuple[str, str]], given: str | None
) -> bool:
    if not given:
        return False
    return hmac.compare_digest(signature(auth_token, url, fields).encode(), given.strip().encode())


@dataclass(frozen=True, slots=True)
class Receipt:
    """A final delivery receipt: the message's SID, delivered or failed, the provider's error code."""

    message_id: str
    status: str
    error_code: str | None


class ReceiptError(ValueError):
    """A receipt we cannot read (which field, why): answered 400."""


def parse_receipt(fields: list[tuple[str, str]]) -> Receipt | None:
    """The receipt in a status callback's fields; None when its status is not final."""
    values = dict(fields)
    sid = values.get("MessageSid") or values.get("SmsSid") or ""
    if not sid or len(sid) > 64 or not sid.isalnum():
        raise ReceiptError("MessageSid: the message's SID (letters and digits) is required")
    status = (values.get("MessageStatus") or values.get("SmsStatus") or "").strip().lower()
    if not status or len(status) > 32:
        raise ReceiptError("MessageStatus: the message's status is required")
    final = FINAL_STATUSES.get(status)
    if final is None:
        return None
    code = (values.get("ErrorCode") or "").strip()[:16] or None
    return Receipt(sid, final, code)


class TwilioGateway(HttpSender):
    """Sends `sms` and `whatsapp` notifications through Twilio's Messages API."""

    def __init__(
        self,
        *,
        api_url: str,
        account_sid: str,
        auth_token: str,
        sms_from: str,
        whatsapp_from: str,
        status_callback_url: str | None,
        timeout_s: float = 10.0,
        max_connections: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_url.startswith(("http://", "https://")):
            raise ValueError("the Twilio API URL must start with http:// or https://")
        if not account_sid or not auth_token:
            raise ValueError("the Twilio account SID and auth token are both needed")
        super().__init__(
            "SMS/WhatsApp provider",
            detail=True,
            timeout_s=timeout_s,
            max_connections=max_connections,
            transport=transport,
        )
        # Our credentials refused (401/403) is fixed by the operator, then the messages go out.
        self.retried_statuses = frozenset({401, 403, 408, 429})
        self.messages_url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.senders = {"sms": sms_from, "whatsapp": whatsapp_from}
        self.status_callback_url = status_callback_url

    def form(self, notification: StoredNotification) -> dict[str, str]:
        n = notification
        sender = self.senders.get(n.channel)
        if not sender:
            raise PermanentRefusal(f"no {n.channel} sender is set up for the provider")
        prefix = "whatsapp:" if n.channel == "whatsapp" else ""
        form = {"To": prefix + n.recipient, "From": prefix + sender.removeprefix("whatsapp:"), "Body": n.body}
        if self.status_callback_url:
            form["StatusCallback"] = self.status_callback_url
        return form

    async def send(self, notification: StoredNotification) -> Accepted:
        response = await self.post(
            self.messages_url,
            data=self.form(notification),
            auth=self.auth,
            headers={"Idempotency-Key": notification.idempotency_key},
        )
        try:
            sid = response.json()["sid"]
        except (ValueError, KeyError, TypeError):
            sid = None
        if not isinstance(sid, str) or not sid.isalnum() or len(sid) > 64:
            # Accepted all the same (tried again, it would reach the phone twice); without its SID
            # no receipt can be matched to it, so it stays `sent`.
            log.warning(
                "the provider accepted a message without naming its SID",
                extra={"notification_id": notification.id},
            )
            sid = None
        log.info(
            "message accepted by the SMS/WhatsApp provider",
            extra={
                "notification_id": notification.id,
                "channel": notification.channel,
                "recipient": mask_recipient(notification.channel, notification.recipient),
                "message_sid": sid,
            },
        )
        return Accepted(PROVIDER, sid)
