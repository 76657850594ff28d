"""E-mail against a real SMTP server (aiosmtpd, started here on a free port): what reaches its
mailbox is read back and checked header by header; STARTTLS with AUTH; the server's refusals and
its absence decide between "for good" and "again later"; and the notifications service, given
NOTIFICATIONS_SMTP_HOST, delivers an invoice e-mail from its event to the mailbox once, with the
invoice's CSV attached as the invoice endpoint (an HTTP server here, checking the office's
token as sponsorship does) served it, and not before it could be fetched."""

import asyncio
import email
import email.policy
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from services.notifications.app import create_app
from services.notifications.delivery import PermanentRefusal, TemporaryFailure
from services.notifications.repository import StoredNotification
from services.notifications.settings import NotificationsSettings
from services.notifications.smtp import SmtpGateway, message_id
from shared import contracts
from testkit.infra import Infra
from testkit.samples import invoice_issued
from tests.services.test_db_dsn import free_port
from tests.services.test_notifications import publish, wait_until_sent
from tests.support import running, truncate_schema

SENDER = "Program BPJS Ketenagakerjaan Muba <bpjs-muba@mubakab.go.id>"


class Mailbox:
    """The server's handler: every accepted message, parsed; RCPT refused for some addresses."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.refuse: dict[str, str] = {}  # address -> the SMTP answer to RCPT TO

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 Message accepted for delivery"


def _start(controller: Controller) -> Controller:
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = _start(Controller(box, hostname="127.0.0.1", port=port))
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), for the STARTTLS server."""
    where = tmp_path_factory.mktemp("smtp-tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
            ),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def notification(recipient: str = "csr@hindoli.co.id", **changes: Any) -> StoredNotification:
    fields: dict[str, Any] = {
        "id": 4711,
        "worker_id": None,
        "template": "invoice_issued",
        "audience": "company",
        "channel": "email",
        "recipient": recipient,
        "subject": "Tagihan iuran BPJS Ketenagakerjaan Desember 2026 — INV-PT-HINDOLI-2026-12",
        "body": "Yth. PT Hindoli,\n\nTagihan iuran bulan Desember 2026: Rp33.600, jatuh tempo 15 Desember 2026.\n",
        "attempts": 1,
        "idempotency_key": "a" * 64,
    }
    return StoredNotification(**(fields | changes))


async def test_an_email_reaches_the_mailbox_with_its_headers_and_body(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    n = notification()
    await SmtpGateway("127.0.0.1", port, sender=SENDER, security="none").send(n)
    assert len(box.messages) == 1
    envelope, message = box.messages[0]
    assert envelope.mail_from == "bpjs-muba@mubakab.go.id"
    assert envelope.rcpt_tos == ["csr@hindoli.co.id"]
    assert message["From"] == SENDER
    assert message["To"] == "csr@hindoli.co.id"
    assert message["Subject"] == n.subject  # the em dash survives the header encoding
    assert (
        message["Message-ID"]
        == message_id(n, "mubakab.go.id")
        == f"<notification-4711.{'a' * 16}@mubakab.go.id>"
    )
    assert message["X-Muba-Notification-Id"] == "4711"
    assert message["Content-Language"] == "id"
    sent_at = email.utils.parsedate_to_datetime(message["Date"])
    assert sent_at.utcoffset() is not None and sent_at.utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 60
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    assert message.get_content().replace("\r\n", "\n") == n.body  # CRLF on the wire, as SMTP has it


async def test_a_repeat_keeps_its_message_id(mailbox: tuple[Mailbox, int]) -> None:
    """An attempt whose answer was lost is sent again: the mailbox sees the same Message-ID."""
    box, port = mailbox
    gateway = SmtpGateway("127.0.0.1", port, sender=SENDER, security="none")
    await gateway.send(notification(attempts=1))
    await gateway.send(notification(attempts=2))
    assert len({m["Message-ID"] for _, m in box.messages}) == 1 and len(box.messages) == 2


async def test_starttls_and_auth(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[str] = []

    def authenticator(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"muba", b"rahasia")
        if ok:
            logins.append(f"{mechanism}:{data.login.decode()}")
        return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

    box, port = Mailbox(), free_port()
    controller = _start(
        Controller(
            box,
            hostname="127.0.0.1",
            port=port,
            tls_context=server_tls,
            require_starttls=True,
            authenticator=authenticator,
            auth_require_tls=True,
        )
    )
    client_tls = ssl.create_default_context(cafile=str(cert))
    try:
        plain = SmtpGateway(
            "127.0.0.1", port, sender=SENDER, security="none", username="muba", password="rahasia"
        )
        with pytest.raises(TemporaryFailure):  # the server insists on STARTTLS: nothing sent in clear
            await plain.send(notification())
        wrong = SmtpGateway(
            "127.0.0.1", port, sender=SENDER, username="muba", password="salah", tls_context=client_tls
        )
        with pytest.raises(
            TemporaryFailure, match="535"
        ):  # our credentials: fixed by the office, then retried
            await wrong.send(notification())
        right = SmtpGateway(
            "127.0.0.1", port, sender=SENDER, username="muba", password="rahasia", tls_context=client_tls
        )
        await right.send(notification())
    finally:
        controller.stop()
    assert logins and all(login.endswith(":muba") for login in logins)
    assert [m["Message-ID"] for _, m in box.messages] == [message_id(notification(), "mubakab.go.id")]


async def test_refusals_for_good_and_for_now(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    box.refuse = {
        "tidak-ada@hindoli.co.id": "550 5.1.1 No such user",
        "penuh@hindoli.co.id": "452 4.2.2 Mailbox full",
    }
    gateway = SmtpGateway("127.0.0.1", port, sender=SENDER, security="none")
    with pytest.raises(PermanentRefusal, match="550"):
        await gateway.send(notification("tidak-ada@hindoli.co.id"))
    with pytest.raises(TemporaryFailure, match="452"):
        await gateway.send(notification("penuh@hindoli.co.id"))
    nobody = SmtpGateway("127.0.0.1", free_port(), sender=SENDER, security="none", timeout_s=2)
    with pytest.raises(TemporaryFailure, match="unreachable"):
        await nobody.send(notification())
    assert box.messages == []


# --- the service, from its event to the mailbox --------------------------------------------------


OFFICE_TOKEN = "office-token-of-the-smtp-test"
CSV = "\ufeffno,invoice_number,month,kpj_number,nik_masked,full_name,contribution_idr\r\n".encode()


class InvoiceCsv:
    """The invoice endpoint: answers in turn (then 200 with CSV), and only the office's token."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.requests: list[tuple[str, str | None]] = []


@pytest.fixture
def invoice_csv() -> Iterator[tuple[InvoiceCsv, str]]:
    seen = InvoiceCsv()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.requests.append((self.path, self.headers.get("authorization")))
            status = seen.answers.pop(0) if seen.answers else 200
            if self.headers.get("authorization") != f"Bearer {OFFICE_TOKEN}":
                status = 401
            body = CSV if status == 200 else b"{}"
            self.send_response(status)
            if status == 200:
                self.send_header("content-type", "text/csv; charset=utf-8")
                self.send_header("content-disposition", 'attachment; filename="INV-PT-HINDOLI-2026-12.csv"')
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}/api/invoices.csv"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def notifications_with_smtp(
    infra: Infra,
    service_env: Callable[..., dict[str, Any]],
    mailbox: tuple[Mailbox, int],
    invoice_csv: tuple[InvoiceCsv, str],
) -> AsyncIterator[tuple[str, Mailbox]]:
    box, port = mailbox
    env = service_env(
        NOTIFICATIONS_DATABASE_URL=infra.database_urls["notifications"],
        NOTIFICATIONS_SMTP_HOST="127.0.0.1",
        NOTIFICATIONS_SMTP_PORT=port,
        NOTIFICATIONS_SMTP_SECURITY="none",
        NOTIFICATIONS_INVOICE_CSV_URL=invoice_csv[1],
        NOTIFICATIONS_RETRY_BASE_DELAY_S="0.2",
        NOTIFICATIONS_RETRY_MAX_DELAY_S="0.5",
        MUBA_OPERATOR_TOKEN=OFFICE_TOKEN,
    )
    await truncate_schema(infra, "notifications")
    async with running(create_app(NotificationsSettings())):
        yield env["prefix"], box


async def test_the_service_sends_an_invoice_email_once_with_its_csv_attached(
    infra: Infra, notifications_with_smtp: tuple[str, Mailbox], invoice_csv: tuple[InvoiceCsv, str]
) -> None:
    prefix, box = notifications_with_smtp
    endpoint, _ = invoice_csv
    endpoint.answers = [503, 502]  # sponsorship is away twice: no e-mail leaves without its CSV
    body = invoice_issued(company_email="csr@hindoli.co.id").model_dump(mode="json")
    envelope = await publish(
        infra, prefix + contracts.INVOICE_ISSUED.topic, "invoice-issued.v1", "pt-hindoli", body
    )
    await publish(  # the same event again (a redelivery): no second e-mail
        infra, prefix + contracts.INVOICE_ISSUED.topic, "invoice-issued.v1", "pt-hindoli", body, envelope
    )
    [row] = await wait_until_sent(infra, 1)
    await asyncio.sleep(1.0)  # room for a second e-mail, were one on its way
    assert len(box.messages) == 1
    _, message = box.messages[0]
    assert message["To"] == "csr@hindoli.co.id"
    assert message["X-Muba-Notification-Id"] == str(row["id"])
    assert "INV-PT-HINDOLI-2026-12" in message["Subject"]
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Rp33.600" in text and "15 Desember 2026" in text and "terlampir" in text, text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "INV-PT-HINDOLI-2026-12.csv"
    assert attachment.get_content_type() == "text/csv" and attachment.get_payload(decode=True) == CSV
    assert row["attempts"] == 3 and len(endpoint.requests) == 3
    invoice_id = body["invoice_id"]
    assert {(path, auth) for path, auth in endpoint.requests} == {
        (f"/api/invoices.csv?invoice_id={invoice_id}", f"Bearer {OFFICE_TOKEN}")
    }
