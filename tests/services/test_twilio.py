"""SMS and WhatsApp through the Twilio API, against the provider stand-in (simulators/gateway)
served over HTTP, with the notifications service served over HTTP too, so that the stand-in's
signed delivery receipts reach it as a provider's would. Checked from outside: what the provider
received and billed, the events on the topics, the row's state; and what a forged, replayed or
early receipt does."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.notifications import domain
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared import contracts
from simulators.gateway.settings import GatewaySimulatorSettings
from simulators.gateway.simulator import GatewaySimulator, serve_in_process
from simulators.gateway.twilio import sign
from testkit.infra import Infra
from testkit.kafka import RecordedEvent, record_events
from testkit.samples import enrollment_completed, sample_phone
from tests.services.test_notifications import publish, rows
from tests.support import free_port, served, truncate_schema

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "provider-token-of-this-test"
LONG_NAME = "Siti Nurhaliza binti Abdul Rahman Kusumawardhani Wijayakusuma"


class Stack:
    def __init__(self, prefix: str, simulator: GatewaySimulator, receipt_url: str) -> None:
        self.prefix = prefix
        self.simulator = simulator
        self.receipt_url = receipt_url

    def topic(self, contract: contracts.Contract[Any]) -> str:
        return self.prefix + contract.topic

    def messages(self) -> list[dict[str, Any]]:
        return [e for e in self.simulator.received() if e.get("provider") == "twilio"]

    def receipts(self) -> list[dict[str, Any]]:
        return [e for e in self.simulator.received() if "receipt" in e]


@pytest.fixture
def stack_of(infra: Infra, service_env: Callable[..., dict[str, Any]], tmp_path: Path) -> Callable[..., Any]:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(channel: str = "sms", **faults: Any) -> AsyncIterator[Stack]:
        simulator = GatewaySimulator(
            GatewaySimulatorSettings(
                **{
                    "GATEWAY_SIMULATOR_RECORD": str(tmp_path / f"received-{uuid.uuid4().hex[:6]}.jsonl"),
                    "GATEWAY_SIMULATOR_TWILIO_ACCOUNT_SID": SID,
                    "GATEWAY_SIMULATOR_TWILIO_AUTH_TOKEN": TOKEN,
                    "GATEWAY_SIMULATOR_RECEIPT_DELAY_MS": "50",
                    **faults,
                }
            )
        )
        port = free_port()
        receipt_url = f"http://127.0.0.1:{port}/receipts/twilio"
        async with serve_in_process(simulator) as provider_url:
            env = service_env(
                NOTIFICATIONS_DATABASE_URL=infra.database_urls["notifications"],
                NOTIFICATIONS_WORKER_CHANNEL=channel,
                NOTIFICATIONS_TWILIO_ACCOUNT_SID=SID,
                NOTIFICATIONS_TWILIO_AUTH_TOKEN=TOKEN,
                NOTIFICATIONS_TWILIO_API_URL=provider_url,
                NOTIFICATIONS_TWILIO_SMS_FROM="+6281100000000",
                NOTIFICATIONS_TWILIO_WHATSAPP_FROM="+6281100000001",
                NOTIFICATIONS_RECEIPT_URL=receipt_url,
                NOTIFICATIONS_RETRY_BASE_DELAY_S="0.2",
                NOTIFICATIONS_RETRY_MAX_DELAY_S="0.5",
            )
            await truncate_schema(infra, "notifications")
            async with served(create_app(NotificationsSettings()), "notifications", port):
                yield Stack(env["prefix"], simulator, receipt_url)

    return start


async def settled(infra: Infra, channel: str, timeout_s: float = 20.0) -> asyncpg.Record:
    """The worker's message once a receipt closed it (delivered or failed)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await rows(infra, "channel = $1", channel)
        if found and found[0]["status"] in ("delivered", "failed"):
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, [(r["id"], r["status"]) for r in found]
        await asyncio.sleep(0.1)


def of(events: list[RecordedEvent], topic: str, channel: str = "sms") -> list[dict[str, Any]]:
    """The events of `topic` about the worker's message (the company's and office's e-mails go
    to the logging stand-in)."""
    return [e.payload for e in events if e.topic == topic and e.payload["channel"] == channel]


async def test_an_sms_is_sent_billed_and_its_receipt_makes_it_delivered(infra: Infra, stack_of: Any) -> None:
    worker_id = str(uuid.uuid4())
    async with stack_of("sms") as stack:
        watched = (
            contracts.NOTIFICATION_SENT,
            contracts.NOTIFICATION_DELIVERED,
            contracts.NOTIFICATION_FAILED,
        )
        async with record_events(infra.kafka, *(stack.topic(c) for c in watched)) as recorder:
            body = enrollment_completed(worker_id, full_name=LONG_NAME).model_dump(mode="json")
            await publish(
                infra, stack.topic(contracts.ENROLLMENT_COMPLETED), "enrollment-completed.v1", worker_id, body
            )
            row = await settled(infra, "sms")
            await recorder.wait_for(1, topic=stack.topic(contracts.NOTIFICATION_DELIVERED))
            await recorder.wait_for(3, topic=stack.topic(contracts.NOTIFICATION_SENT))  # + 2 e-mails
            events = recorder.events
        [message] = stack.messages()
    assert row["status"] == "delivered" and row["provider"] == "twilio"
    assert row["sent_at"] <= row["delivered_at"]
    # What the provider received: the worker's number, our sender, the text; and what it billed.
    assert message["recipient"] == sample_phone(1) and message["channel"] == "sms"
    assert message["body"] == row["body"] and message["sid"] == row["provider_message_id"]
    assert int(message["segments"]) == row["sms_segments"] == domain.sms_segments(row["body"])
    assert [(r["receipt"], r["answered"]) for r in stack.receipts()] == [("sent", 204), ("delivered", 204)]
    [sent] = of(events, stack.topic(contracts.NOTIFICATION_SENT))
    assert (sent["provider"], sent["provider_message_id"], sent["sms_segments"]) == (
        "twilio",
        row["provider_message_id"],
        row["sms_segments"],
    )
    assert sent["worker_id"] == worker_id and sent["recipient_masked"] != sample_phone(1)
    [delivered] = of(events, stack.topic(contracts.NOTIFICATION_DELIVERED))
    assert (
        delivered["notification_id"] == str(row["id"]) and delivered["provider_message_id"] == message["sid"]
    )
    assert of(events, stack.topic(contracts.NOTIFICATION_FAILED)) == []
    assert sample_phone(1) not in str(events)


async def test_a_whatsapp_message_the_phone_never_got_ends_failed_with_the_providers_code(
    infra: Infra, stack_of: Any
) -> None:
    worker_id = str(uuid.uuid4())
    async with stack_of("whatsapp", GATEWAY_SIMULATOR_UNDELIVERED_PERCENT="100") as stack:
        async with record_events(infra.kafka, stack.topic(contracts.NOTIFICATION_FAILED)) as recorder:
            body = enrollment_completed(worker_id).model_dump(mode="json")
            await publish(
                infra, stack.topic(contracts.ENROLLMENT_COMPLETED), "enrollment-completed.v1", worker_id, body
            )
            row = await settled(infra, "whatsapp")
            [failed] = [e.payload for e in await recorder.wait_for(1)]
            assert failed["channel"] == "whatsapp"
        [message] = stack.messages()
    assert message["channel"] == "whatsapp" and message["recipient"] == sample_phone(1)
    assert row["status"] == "failed" and row["sms_segments"] is None and "30003" in row["last_error"]
    assert (failed["stage"], failed["provider"], failed["notification_id"]) == (
        "undelivered",
        "twilio",
        str(row["id"]),
    )
    assert "30003" in failed["reason"]


async def test_a_forged_receipt_is_refused_and_a_replayed_one_changes_nothing(
    infra: Infra, stack_of: Any
) -> None:
    worker_id = str(uuid.uuid4())
    async with stack_of("sms", GATEWAY_SIMULATOR_RECEIPT_DELAY_MS="60000") as stack:
        body = enrollment_completed(worker_id).model_dump(mode="json")
        await publish(
            infra, stack.topic(contracts.ENROLLMENT_COMPLETED), "enrollment-completed.v1", worker_id, body
        )
        deadline = asyncio.get_running_loop().time() + 20
        while not (found := await rows(infra, "channel = 'sms' AND status = 'sent'")):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        sid = found[0]["provider_message_id"]
        undelivered = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30005"}
        delivered = {"MessageSid": sid, "MessageStatus": "delivered"}
        async with (
            httpx.AsyncClient() as client,
            record_events(infra.kafka, stack.topic(contracts.NOTIFICATION_DELIVERED)) as recorder,
        ):

            async def post(fields: dict[str, str], signature: str | None, **extra: Any) -> int:
                headers = {"X-Twilio-Signature": signature} if signature is not None else {}
                answer = await client.post(stack.receipt_url, data=fields, headers=headers, **extra)
                return answer.status_code

            # Someone who does not hold the provider's token: no signature, a wrong one, one made
            # with another token, one made for other fields, one over another URL.
            assert await post(undelivered, None) == 403
            assert await post(undelivered, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 403
            assert await post(undelivered, sign("not-the-token", stack.receipt_url, undelivered)) == 403
            assert await post(undelivered, sign(TOKEN, stack.receipt_url, delivered)) == 403
            assert (
                await post(undelivered, sign(TOKEN, "http://elsewhere/receipts/twilio", undelivered)) == 403
            )
            assert (await rows(infra, "channel = 'sms'"))[0]["status"] == "sent"
            # Careless bytes: not a form, no SID, and a body far too large.
            assert await post({}, sign(TOKEN, stack.receipt_url, {})) == 400
            raw = await client.post(
                stack.receipt_url, content=b"\xff\xfe\x00", headers={"X-Twilio-Signature": "x"}
            )
            assert raw.status_code == 400
            big = await client.post(stack.receipt_url, content=b"a=" + b"b" * 20_000)
            assert big.status_code == 413
            # The real one, three times over: one state change, one event.
            for _ in range(3):
                assert await post(delivered, sign(TOKEN, stack.receipt_url, delivered)) == 204
            await recorder.wait_for(1)
            await asyncio.sleep(1.0)
            assert len(recorder.events) == 1
            # A later, contradicting receipt does not reopen it.
            assert await post(undelivered, sign(TOKEN, stack.receipt_url, undelivered)) == 204
        [row] = await rows(infra, "channel = 'sms'")
    assert row["status"] == "delivered" and row["last_error"] is None
