"""`make demo`'s catcher (deploy/catcher.py) is what the demo counts delivered messages by, so it
is held to it here: e-mails from our SMTP gateway land in its mailbox (and as .eml files), signed
webhooks from our gateway verify and are kept once per webhook-id, and a request signed with
another company's secret, or not signed, is refused and counted."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from deploy.catcher import Catcher
from services.notifications.smtp import SmtpGateway
from services.notifications.webhooks import WebhookGateway, company_secret, signed_headers
from tests.services.test_db_dsn import free_port
from tests.services.test_smtp import notification
from tests.unit.test_webhooks import BODY, KEY, hook


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[Catcher]:
    made = Catcher(KEY, tmp_path / "mailbox", free_port(), free_port())
    made.start()
    try:
        yield made
    finally:
        made.stop()
        made.stop()  # idempotent: the demo stops it on every way out


async def test_what_our_gateways_send_arrives_and_forgeries_do_not(catcher: Catcher) -> None:
    await SmtpGateway("127.0.0.1", catcher.smtp_port, sender="bpjs-muba@mubakab.go.id", security="none").send(
        notification()
    )
    gateway = WebhookGateway(KEY)
    url = catcher.hook_url("pt-hindoli")
    try:
        await gateway.send(hook(recipient=url))
        await gateway.send(hook(recipient=url, attempts=2))  # a repeat under the same webhook-id
    finally:
        await gateway.stop()
    async with httpx.AsyncClient() as client:
        forged = signed_headers(company_secret(KEY, "pt-medco"), "forged-1", BODY, datetime.now(UTC))
        assert (await client.post(url, content=BODY, headers=forged)).status_code == 401
        assert (await client.post(url, content=BODY)).status_code == 401
    received = catcher.received
    assert len(received.emails) == 1 and len(list(catcher.mailbox_dir.glob("*.eml"))) == 1
    assert received.emails[0]["X-Muba-Notification-Id"] == "4711"
    assert list(received.webhooks) == [hook().idempotency_key]
    assert received.webhooks[hook().idempotency_key]["company_id"] == "pt-hindoli"
    assert (received.attempts, received.unverified) == (4, 2)
