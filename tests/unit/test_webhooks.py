"""Signed webhooks, in memory: each company's secret, the Standard Webhooks headers as the
specification's reference library verifies them, and what each HTTP answer means."""

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.delivery import PermanentRefusal, TemporaryFailure
from services.notifications.repository import StoredNotification
from services.notifications.webhooks import WebhookGateway, company_secret, load_key, signed_headers

KEY = b"k" * 32
BODY = '{"event": "invoice_issued", "invoice_number": "INV-PT-HINDOLI-2026-12", "total_idr": 33600}'


def hook(**changes: object) -> StoredNotification:
    fields: dict[str, object] = {
        "id": 7,
        "worker_id": None,
        "template": "invoice_issued",
        "audience": "company",
        "channel": "webhook",
        "recipient": "https://hooks.hindoli.co.id/bpjs",
        "subject": None,
        "body": BODY,
        "attempts": 1,
        "idempotency_key": "0f0e0d0c-0b0a-0908-0706-050403020100",
        "company_id": "pt-hindoli",
    }
    return StoredNotification(**(fields | changes))  # type: ignore[arg-type]


def test_each_company_has_a_secret_of_its_own_and_keeps_it() -> None:
    hindoli, medco = company_secret(KEY, "pt-hindoli"), company_secret(KEY, "pt-medco")
    assert hindoli.startswith("whsec_") and len(base64.b64decode(hindoli.removeprefix("whsec_"))) == 32
    assert hindoli == company_secret(KEY, "pt-hindoli") != medco
    assert company_secret(b"another key of 32 bytes........", "pt-hindoli") != hindoli
    with pytest.raises(ValueError):
        company_secret(KEY, "")


def test_the_reference_library_verifies_the_headers_and_refuses_changes() -> None:
    secret = company_secret(KEY, "pt-hindoli")
    now = datetime.now(UTC)
    headers = signed_headers(secret, "msg-1", BODY, now)
    assert headers["webhook-id"] == "msg-1" and headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(BODY, headers)["total_idr"] == 33600
    with pytest.raises(WebhookVerificationError):  # the body changed on the way
        Webhook(secret).verify(BODY.replace("33600", "336000"), headers)
    with pytest.raises(WebhookVerificationError):  # another company's secret
        Webhook(company_secret(KEY, "pt-medco")).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):  # another id with the same signature
        Webhook(secret).verify(BODY, headers | {"webhook-id": "msg-2"})
    old = signed_headers(secret, "msg-1", BODY, now - timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError):  # a captured request replayed later
        Webhook(secret).verify(BODY, old)
    # a zone other than UTC signs the same instant
    wib = signed_headers(secret, "msg-1", BODY, now.astimezone(ZoneInfo("Asia/Jakarta")))
    assert wib == headers


class Receiver:
    """An in-memory endpoint: answers `statuses` in turn and keeps what it was sent."""

    def __init__(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        self.statuses = list(statuses)
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0), headers=self.headers)


async def send(receiver: Receiver, notification: StoredNotification | None = None) -> None:
    gateway = WebhookGateway(KEY, transport=httpx.MockTransport(receiver))
    try:
        await gateway.send(notification or hook())
    finally:
        await gateway.stop()


async def test_an_accepted_webhook_is_posted_signed_with_its_companys_secret() -> None:
    receiver = Receiver(204)
    await send(receiver)
    [request] = receiver.requests
    assert request.method == "POST" and str(request.url) == "https://hooks.hindoli.co.id/bpjs"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["webhook-id"] == hook().idempotency_key
    payload = Webhook(company_secret(KEY, "pt-hindoli")).verify(request.content, dict(request.headers))
    assert payload["invoice_number"] == "INV-PT-HINDOLI-2026-12"


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429, 301])
async def test_answers_worth_another_attempt(status: int) -> None:
    with pytest.raises(TemporaryFailure, match=str(status)):
        await send(Receiver(status))


async def test_retry_after_is_honoured() -> None:
    with pytest.raises(TemporaryFailure) as raised:
        await send(Receiver(429, headers={"retry-after": "120"}))
    assert raised.value.retry_after_s == 120.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_other_4xx_are_refusals_for_good(status: int) -> None:
    with pytest.raises(PermanentRefusal, match=str(status)):
        await send(Receiver(status))


async def test_a_webhook_without_its_company_or_url_is_never_sent() -> None:
    receiver = Receiver()
    with pytest.raises(PermanentRefusal, match="company"):
        await send(receiver, hook(company_id=None))
    with pytest.raises(PermanentRefusal, match="URL"):
        await send(receiver, hook(recipient="ftp://hooks.hindoli.co.id"))
    assert receiver.requests == []


async def test_a_timeout_or_a_refused_connection_is_tried_again() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    gateway = WebhookGateway(KEY, transport=httpx.MockTransport(down))
    with pytest.raises(TemporaryFailure, match="unreachable"):
        await gateway.send(hook())
    await gateway.stop()


def test_the_key_is_read_from_its_file_and_refused_when_short(tmp_path: Path) -> None:
    (tmp_path / "notifications").mkdir()
    (tmp_path / "notifications" / "webhook-key").write_text("x" * 43 + "\n")
    assert load_key(None, tmp_path) == b"x" * 43
    short = tmp_path / "short"
    short.write_text("tiny")
    with pytest.raises(RuntimeError, match="shorter"):
        load_key(str(short), tmp_path)
    with pytest.raises(RuntimeError, match="cannot be read"):
        load_key(str(tmp_path / "missing"), tmp_path)
