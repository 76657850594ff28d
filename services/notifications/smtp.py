"""E-mail over SMTP (aiosmtplib): the `email` channel's gateway.

Each message is one plain-text UTF-8 e-mail in Bahasa Indonesia; one with an attachment URL (an
invoice's e-mail) carries that document too, fetched when it is sent (sponsorship's
/api/invoices.csv, with the office's token): a fetch that fails is tried again later, as an SMTP
server that is away, so no invoice e-mail leaves without its CSV. Its Message-ID is made from the
notification's id and idempotency key, the same on every attempt, so a repeat after an attempt
whose answer was lost can be recognised by the mailbox (and by us: `X-Muba-Notification-Id`).
The SMTP server's answer decides what happens next: a 5xx refusal (a bad or unknown address) is
for good; a 4xx, a timeout or a lost connection is tried again later.
"""

import logging
import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final, Literal

import aiosmtplib
import httpx

from services.notifications.delivery import Accepted, PermanentRefusal, TemporaryFailure
from services.notifications.repository import StoredNotification
from shared.clock import JAKARTA
from shared.masking import mask_recipient

log = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]


def build_message(notification: StoredNotification, sender: str, now: datetime) -> EmailMessage:
    """The e-mail as it leaves: From, To, Subject, Date (WIB), Message-ID, and the body."""
    n = notification
    message = EmailMessage()
    message["From"] = sender
    message["To"] = n.recipient
    message["Subject"] = n.subject or "Program BPJS Ketenagakerjaan Muba"
    message["Date"] = format_datetime(now.astimezone(JAKARTA))
    domain = sender.rsplit("@", 1)[-1].strip(">") or "localhost"
    message["Message-ID"] = message_id(n, domain)
    message["X-Muba-Notification-Id"] = str(n.id)
    message["X-Muba-Template"] = n.template
    message.set_content(n.body, charset="utf-8")
    message["Content-Language"] = "id"  # after set_content, which sets the Content-* headers anew
    return message


MAX_ATTACHMENT_BYTES: Final = 20 * 1024 * 1024
_FILENAME = re.compile(r'filename="?([A-Za-z0-9._-]{1,100})"?')


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


class AttachmentSource:
    """Fetches an e-mail's attachment over HTTP with a bearer token (the office's)."""

    def __init__(
        self, token: str, timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ):
        self.token = token
        self.timeout_s = timeout_s
        self.transport = transport

    async def fetch(self, url: str) -> Attachment:
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_s, follow_redirects=False, transport=self.transport
            ) as client:
                response = await client.get(url, headers={"authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"attachment not fetched ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise TemporaryFailure(f"attachment not fetched: HTTP {response.status_code}")
        if len(response.content) > MAX_ATTACHMENT_BYTES:
            raise PermanentRefusal(f"attachment larger than {MAX_ATTACHMENT_BYTES} bytes")
        named = _FILENAME.search(response.headers.get("content-disposition", ""))
        content_type = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
        return Attachment(named.group(1) if named else "lampiran.csv", content_type, response.content)


def attach(message: EmailMessage, attachment: Attachment) -> None:
    maintype, _, subtype = attachment.content_type.partition("/")
    message.add_attachment(
        attachment.data,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        filename=attachment.filename,
    )


def message_id(notification: StoredNotification, domain: str) -> str:
    """`<notification-<id>.<key>@domain>`: one id per message, whatever the attempt."""
    return f"<notification-{notification.id}.{notification.idempotency_key.replace('-', '')[:16]}@{domain}>"


class SmtpGateway:
    """Sends `email` notifications through one SMTP server (NOTIFICATIONS_SMTP_*).

    `security`: "starttls" (submission, port 587), "tls" (implicit TLS, port 465) or "none"
    (a local relay or a test server). `username`/`password` when the server asks for AUTH.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
        clock: type[datetime] = datetime,
        attachments: AttachmentSource | None = None,
    ) -> None:
        if "@" not in sender:
            raise ValueError("the sender must be an e-mail address (NOTIFICATIONS_SMTP_FROM)")
        self.host = host
        self.port = port
        self.sender = sender
        self.security = security
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self.tls_context = tls_context
        self.clock = clock
        self.attachments = attachments

    async def send(self, notification: StoredNotification) -> Accepted:
        message = build_message(notification, self.sender, self.clock.now(JAKARTA))
        if notification.attachment_url:
            if self.attachments is None:
                raise TemporaryFailure("the e-mail has an attachment and no token to fetch it with")
            attach(message, await self.attachments.fetch(notification.attachment_url))
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                tls_context=self.tls_context,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            if all(500 <= code < 600 for code in codes):
                raise PermanentRefusal(f"SMTP refused the recipient ({codes})") from None
            raise TemporaryFailure(f"SMTP deferred the recipient ({codes})") from None
        except aiosmtplib.SMTPResponseException as exc:
            answer = f"SMTP answered {exc.code}: {exc.message[:200]}"
            if 500 <= exc.code < 600 and exc.code not in (530, 535):
                raise PermanentRefusal(answer) from None  # the message itself is refused
            raise TemporaryFailure(answer) from None  # 4xx, or our own AUTH: fix it and retry
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"SMTP server unreachable ({type(exc).__name__})") from None
        log.info(
            "e-mail accepted by the SMTP server",
            extra={
                "notification_id": notification.id,
                "template": notification.template,
                "recipient": mask_recipient("email", notification.recipient),
            },
        )
        return Accepted("smtp", str(message["Message-ID"]))
