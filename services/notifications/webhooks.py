"""Webhooks to companies, signed as the Standard Webhooks specification says: the `webhook`
channel's gateway.

Each message is one POST of its JSON document to the company's URL with
`webhook-id` (the message's idempotency key: the same on every attempt, so the receiver drops a
repeat), `webhook-timestamp` (this attempt, Unix seconds; receivers refuse old ones, so a
captured request cannot be replayed later) and `webhook-signature` (`v1,` + base64 of
HMAC-SHA256 over `id.timestamp.body`, the `standardwebhooks` library's). Each company has a secret
of its own, `whsec_...`, derived from the service's webhook key and the company's id: nothing to
store, the same on every instance, and the office hands it to the company
(`GET /api/webhook-secret/{company_id}`). 2xx: accepted. 408, 429, 5xx, timeouts, a lost
connection and redirects (never followed): again later, with the sender's backoff (Retry-After
honoured). Any other 4xx: refused for good.
"""

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
from standardwebhooks.webhooks import Webhook

from services.notifications.delivery import Accepted, HttpSender, PermanentRefusal
from services.notifications.repository import StoredNotification
from shared.masking import mask_recipient

log = logging.getLogger(__name__)

KEY_FILE: Final = Path("notifications") / "webhook-key"
_CONTEXT: Final = b"muba-webhook-secret:v1:"


def company_secret(key: bytes, company_id: str) -> str:
    """The company's signing secret, `whsec_<base64 of 32 bytes>`: HMAC-SHA256(key, company)."""
    if not company_id:
        raise ValueError("a webhook secret is a company's: company_id is empty")
    derived = hmac.new(key, _CONTEXT + company_id.encode("utf-8"), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(derived).decode("ascii")


def signed_headers(secret: str, webhook_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    at = at.astimezone(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        # the library stamps `at` as UTC whatever its zone: hand it a UTC time
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


class WebhookGateway(HttpSender):
    """POSTs `webhook` notifications to their URL, signed with their company's secret. What the
    answers mean: HttpSender (the company's reply bodies are not kept)."""

    def __init__(
        self,
        key: bytes,
        *,
        timeout_s: float = 10.0,
        max_connections: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if len(key) < 16:
            raise ValueError("the webhook key must have at least 16 bytes")
        super().__init__(
            "webhook", detail=False, timeout_s=timeout_s, max_connections=max_connections, transport=transport
        )
        self.key = key
        self.clock = clock

    async def send(self, notification: StoredNotification) -> Accepted:
        """POST the signed webhook; the company's receiver answering 2xx is the delivery itself."""
        n = notification
        if not n.company_id:
            raise PermanentRefusal("a webhook without its company: nothing to sign it with")
        if not n.recipient.startswith(("https://", "http://")):
            raise PermanentRefusal("the webhook address is not an http(s) URL")
        headers = signed_headers(
            company_secret(self.key, n.company_id), n.idempotency_key, n.body, self.clock()
        )
        await self.post(
            n.recipient,
            content=n.body.encode("utf-8"),
            headers={**headers, "content-type": "application/json; charset=utf-8"},
        )
        log.info(
            "webhook accepted",
            extra={
                "notification_id": n.id,
                "template": n.template,
                "recipient": mask_recipient("webhook", n.recipient),
            },
        )
        return Accepted("webhook", delivered=True)


def load_key(key_file: str | None, secrets_dir: Path) -> bytes:
    """The webhook key: NOTIFICATIONS_WEBHOOK_KEY_FILE, else $MUBA_SECRETS_DIR/notifications/webhook-key."""
    path = Path(key_file) if key_file else secrets_dir / KEY_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RuntimeError(
            f"the webhook key {path} cannot be read ({type(exc).__name__}): `make infra-up` makes it"
            " locally, `bash deploy/compose/secrets.sh` for compose"
        ) from None
    if len(text) < 16:
        raise RuntimeError(f"the webhook key {path} is shorter than 16 characters")
    return text.encode("utf-8")
