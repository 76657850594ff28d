"""`make demo`'s mail server and the companies' webhook receiver, on this machine.

An SMTP server (aiosmtpd) that keeps every e-mail it is given (`.cache/mailbox/<n>.eml`), and an
HTTP server that takes `POST /hooks/<company_id>` as that company's endpoint would: it verifies
each request with the company's Standard Webhooks secret (derived from the notifications
service's webhook key, as the office hands it over) and keeps each webhook-id once. The demo
points the notifications service at both and counts what arrived, from outside the service.
"""

import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.webhooks import company_secret


@dataclass
class Received:
    """What arrived: e-mails, and webhooks by id (verified), and the requests that did not verify."""

    emails: list[EmailMessage] = field(default_factory=list)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: int = 0
    unverified: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Catcher:
    def __init__(self, webhook_key: bytes, mailbox_dir: Path, smtp_port: int, http_port: int) -> None:
        self.key = webhook_key
        self.mailbox_dir = mailbox_dir
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.received = Received()
        self._smtp: Controller | None = None
        self._http: ThreadingHTTPServer | None = None

    def hook_url(self, company_id: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/hooks/{company_id}"

    def start(self) -> None:
        self.mailbox_dir.mkdir(parents=True, exist_ok=True)
        for old in self.mailbox_dir.glob("*.eml"):
            old.unlink()
        self._smtp = Controller(_Mailbox(self), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        self._http = ThreadingHTTPServer(("127.0.0.1", self.http_port), _hook_handler(self))
        threading.Thread(target=self._http.serve_forever, daemon=True, name="webhook-receiver").start()

    def stop(self) -> None:
        """Idempotent: the demo stops it on its way out, whatever happened."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.stop()
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()


class _Mailbox:
    def __init__(self, catcher: Catcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        received = self.catcher.received
        with received.lock:
            received.emails.append(message)
            (self.catcher.mailbox_dir / f"{len(received.emails):05d}.eml").write_bytes(raw)
        return "250 Message accepted for delivery"


def _hook_handler(catcher: Catcher) -> type[BaseHTTPRequestHandler]:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            company = self.path.removeprefix("/hooks/").strip("/")
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = catcher.received
            try:
                payload = Webhook(company_secret(catcher.key, company)).verify(body, headers)
            except (WebhookVerificationError, ValueError):
                with received.lock:
                    received.attempts += 1
                    received.unverified += 1
                self._answer(401)
                return
            with received.lock:
                received.attempts += 1
                received.webhooks.setdefault(headers["webhook-id"], {"company_id": company, **payload})
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Hook
