"""Signed webhooks from the running notifications service to a real HTTP receiver (Python's own
http.server on a free port, in a thread: a client and server we did not write). The receiver
verifies every request with the Standard Webhooks reference library and the company's secret,
refuses what does not verify, and keeps each webhook-id once. The office (and only each company
for itself) reads a company's secret from the API."""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks import company_secret
from shared import contracts
from testkit.infra import Infra, unique_prefix
from testkit.samples import invoice_issued
from tests.services.test_notifications import publish, rows
from tests.services.test_sponsorship_tariffs import AUDITOR, MEDCO, OFFICE, TOKENS_FILE, call
from tests.support import running, truncate_schema
from tests.support import served as served_over_http

KEY = "webhook-key-of-this-test-0123456789abcdef"


class Endpoint:
    """What the company's receiver saw: every request, verified or not; answers in turn."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.answers: list[int] = []
        self.requests: list[dict[str, Any]] = []
        self.accepted: dict[str, dict[str, Any]] = {}  # webhook-id -> payload, each once
        self.lock = threading.Lock()


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, str]]:
    seen = Endpoint(company_secret(KEY.encode(), "pt-hindoli"))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = Webhook(seen.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                payload, verified = None, False
            with seen.lock:
                seen.requests.append({"headers": headers, "body": body, "verified": verified})
                status = 401 if not verified else (seen.answers.pop(0) if seen.answers else 200)
                if status == 200 and payload is not None:
                    seen.accepted.setdefault(headers["webhook-id"], payload)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}/bpjs"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def notifications_with_webhooks(
    infra: Infra, service_env: Callable[..., dict[str, Any]], tmp_path: Path
) -> AsyncIterator[str]:
    key_file = tmp_path / "webhook-key"
    key_file.write_text(KEY + "\n")
    env = service_env(
        NOTIFICATIONS_DATABASE_URL=infra.database_urls["notifications"],
        NOTIFICATIONS_WEBHOOK_DELIVERY="true",
        NOTIFICATIONS_WEBHOOK_KEY_FILE=str(key_file),
        NOTIFICATIONS_RETRY_BASE_DELAY_S="0.2",
        NOTIFICATIONS_RETRY_MAX_DELAY_S="0.5",
    )
    await truncate_schema(infra, "notifications")
    async with running(create_app(NotificationsSettings())):
        yield env["prefix"]


def invoice(webhook_url: str) -> dict[str, Any]:
    return invoice_issued(company_webhook_url=webhook_url).model_dump(mode="json")


async def settled(infra: Infra, timeout_s: float = 20.0) -> list[Any]:
    """The webhook rows once none is queued any more."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await rows(infra, "channel = 'webhook'")
        if found and all(r["status"] != "queued" for r in found):
            return found
        assert asyncio.get_running_loop().time() < deadline, [(r["id"], r["status"]) for r in found]
        await asyncio.sleep(0.2)


async def test_a_webhook_is_signed_retried_under_its_id_and_accepted_once(
    infra: Infra, notifications_with_webhooks: str, endpoint: tuple[Endpoint, str]
) -> None:
    prefix, (seen, url) = notifications_with_webhooks, endpoint
    seen.answers = [503, 500]  # the company's server is down twice, then takes it
    body = invoice(url)
    envelope = await publish(
        infra, prefix + contracts.INVOICE_ISSUED.topic, "invoice-issued.v1", "pt-hindoli", body
    )
    await publish(
        infra, prefix + contracts.INVOICE_ISSUED.topic, "invoice-issued.v1", "pt-hindoli", body, envelope
    )
    [row] = await settled(infra)
    assert row["status"] == "delivered" and row["attempts"] == 3 and row["company_id"] == "pt-hindoli"
    assert len(seen.requests) == 3 and all(r["verified"] for r in seen.requests)
    ids = {r["headers"]["webhook-id"] for r in seen.requests}
    assert ids == {str(row["idempotency_key"])}  # one id across the attempts
    [(webhook_id, payload)] = seen.accepted.items()
    assert webhook_id == str(row["idempotency_key"])
    assert payload["event"] == "invoice_issued" and payload["total_idr"] == 33_600
    assert json.loads(seen.requests[-1]["body"]) == payload
    # what another company's secret makes of the same request: nothing
    other = Webhook(company_secret(KEY.encode(), "pt-medco"))
    with pytest.raises(WebhookVerificationError):
        other.verify(seen.requests[-1]["body"], seen.requests[-1]["headers"])


async def test_a_refusal_for_good_fails_the_webhook_at_once(
    infra: Infra, notifications_with_webhooks: str, endpoint: tuple[Endpoint, str]
) -> None:
    prefix, (seen, url) = notifications_with_webhooks, endpoint
    seen.answers = [410]  # the company removed the endpoint
    await publish(
        infra, prefix + contracts.INVOICE_ISSUED.topic, "invoice-issued.v1", "pt-hindoli", invoice(url)
    )
    [row] = await settled(infra)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "410" in row["last_error"] and "127.0.0.1" not in row["last_error"]
    await asyncio.sleep(1.0)  # no second attempt comes
    assert len(seen.requests) == 1 and seen.accepted == {}


# --- the secret, handed over by the API ------------------------------------------------------------


@pytest.fixture
async def served(infra: Infra, tmp_path: Path) -> AsyncIterator[int]:
    """Notifications with signed webhooks, served over HTTP with the office's, an auditor's and
    Medco's tokens (tests/services/test_sponsorship_tariffs.py)."""
    await truncate_schema(infra, "notifications")
    (tmp_path / "api-tokens").write_text(TOKENS_FILE)
    (tmp_path / "webhook-key").write_text(KEY)
    app = create_app(
        NotificationsSettings(
            database_url=infra.database_urls["notifications"],
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            topic_prefix=unique_prefix(),
            api_tokens_file=str(tmp_path / "api-tokens"),
            webhook_delivery=True,
            webhook_key_file=str(tmp_path / "webhook-key"),
        )
    )
    async with served_over_http(app, "notifications") as port:
        yield port


async def test_the_office_hands_each_company_its_secret_and_a_company_reads_only_its_own(served: int) -> None:
    office = await call(served, "GET", "/api/webhook-secret?company_id=pt-hindoli", OFFICE)
    assert office.status == 200
    assert office.body["secret"] == company_secret(KEY.encode(), "pt-hindoli")
    own = await call(served, "GET", "/api/webhook-secret", MEDCO)
    assert own.status == 200 and own.body == {
        "company_id": "medco",
        "secret": company_secret(KEY.encode(), "medco"),
        "scheme": own.body["scheme"],
    }
    assert (await call(served, "GET", "/api/webhook-secret?company_id=pt-hindoli", MEDCO)).status == 400
    assert (await call(served, "GET", "/api/webhook-secret?company_id=pt-hindoli", AUDITOR)).status == 403
    assert (await call(served, "GET", "/api/webhook-secret?company_id=pt-hindoli", "x" * 40)).status == 401
    assert (await call(served, "GET", "/api/webhook-secret", OFFICE)).status == 400
