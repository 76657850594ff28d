"""The sender's pure parts: retry delays, masked errors, how HTTP answers are classified, and the
gateway simulator's request checks. In memory (httpx's in-memory transport for the HTTP gateway)."""

import json
import math

import httpx
import pytest

from services.notifications.delivery import (
    HttpGateway,
    PermanentRefusal,
    TemporaryFailure,
    masked_error,
    retry_delay,
)
from services.notifications.repository import StoredNotification
from simulators.gateway.simulator import BadMessage, parse_message, share

PHONE = "+6281234567890"
KEY = "6f1c1f0e-8a4b-4d53-a0c2-3c1f5a9e7b21"


def notification(channel: str = "sms", recipient: str = PHONE) -> StoredNotification:
    return StoredNotification(
        7, None, "worker_waitlisted", "worker", channel, recipient, None, "Yth. Budi, ...", 1, KEY
    )


@pytest.mark.parametrize("attempts", [-5, 0, 1, 2, 3, 12, 1_020, 1_100, 10**6, 2**31 - 1, 10**30])
def test_retry_delay_is_finite_and_bounded_for_any_number_of_attempts(attempts: int) -> None:
    for rand in (lambda: 0.0, lambda: 0.5, lambda: 0.999999):
        delay = retry_delay(attempts, 30.0, 3600.0, rand)
        assert math.isfinite(delay) and 0 < delay <= 3600.0


def test_retry_delay_doubles_then_stays_at_the_ceiling_with_jitter_in_the_upper_half() -> None:
    def top(n: int) -> float:
        return retry_delay(n, 30.0, 3600.0, lambda: 1.0)

    def bottom(n: int) -> float:
        return retry_delay(n, 30.0, 3600.0, lambda: 0.0)

    assert [top(n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert [bottom(n) for n in (1, 2, 8, 5000)] == [15, 30, 1800, 1800]
    assert retry_delay(1100, 30.0, 3600.0) >= 1800  # the draw, not a fixed value


def test_masked_error_never_carries_the_address_or_another_phone_number() -> None:
    n = notification()
    text = masked_error(PermanentRefusal(f"recipient {PHONE} unknown; try 0812-3456-7891"), n)
    assert PHONE not in text and "0812-3456-7891" not in text
    assert text.startswith("PermanentRefusal: recipient +62812****7890 unknown")
    email = notification("email", "siti.aminah@hindoli.co.id")
    assert masked_error("bounce for siti.aminah@hindoli.co.id", email) == "bounce for s***@hindoli.co.id"
    hook = notification("webhook", "https://hooks.hindoli.co.id/bpjs?token=s3cret")
    assert "s3cret" not in masked_error(ConnectionError(f"{hook.recipient} refused"), hook)
    assert len(masked_error("x" * 5000, n)) == 500
    assert masked_error(TimeoutError(), n) == "TimeoutError"


async def send_with(handler: httpx.MockTransport) -> None:
    gateway = HttpGateway("http://gateway.test/messages", transport=handler)
    try:
        await gateway.send(notification())
    finally:
        await gateway.stop()


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_http_gateway_2xx_is_delivered_with_the_idempotency_key_and_the_message(status: int) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    await send_with(httpx.MockTransport(answer))
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "http://gateway.test/messages"
    assert request.headers["idempotency-key"] == KEY
    assert json.loads(request.content) == {
        "notification_id": 7,
        "idempotency_key": KEY,
        "channel": "sms",
        "recipient": PHONE,
        "subject": None,
        "body": "Yth. Budi, ...",
        "template": "worker_waitlisted",
        "audience": "worker",
    }


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 413, 422])
async def test_http_gateway_4xx_is_refused_for_good(status: int) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(status, text="no such number"))
    with pytest.raises(PermanentRefusal, match=f"HTTP {status}: no such number"):
        await send_with(transport)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (408, None, None),
        (429, "7", 7.0),
        (500, None, None),
        (503, "2.5", 2.5),
        (503, "soon", None),
        (302, None, None),
    ],
)
async def test_http_gateway_408_429_5xx_and_others_are_tried_again(
    status: int, retry_after: str | None, expected: float | None
) -> None:
    headers = {"retry-after": retry_after} if retry_after else {}
    transport = httpx.MockTransport(lambda r: httpx.Response(status, headers=headers))
    with pytest.raises(TemporaryFailure) as raised:
        await send_with(transport)
    assert raised.value.retry_after_s == expected
    assert f"HTTP {status}" in str(raised.value)


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")]
)
async def test_http_gateway_transport_errors_are_tried_again(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(TemporaryFailure):
        await send_with(httpx.MockTransport(fail))


def test_http_gateway_wants_an_http_url() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpGateway("gateway.test:8005")


def message(**overrides: object) -> bytes:
    body = HttpGateway.payload(notification()) | overrides
    return json.dumps(body).encode()


def test_simulator_accepts_what_the_sender_sends_and_names_what_is_wrong_otherwise() -> None:
    assert parse_message(message(), KEY)["recipient"] == PHONE
    for body, key, problem in (
        (b"\xff", KEY, "not JSON"),
        (b"[]", KEY, "not a JSON object"),
        (message(recipient=""), KEY, "recipient"),
        (message(notification_id="7"), KEY, "notification_id"),
        (message(subject=3), KEY, "subject"),
        (message(), None, "Idempotency-Key"),
        (message(), "another", "Idempotency-Key"),
    ):
        with pytest.raises(BadMessage, match=problem):
            parse_message(body, key)


def test_simulator_share_is_stable_and_spread() -> None:
    assert share(KEY) == share(KEY)
    values = [share(f"key-{i}") for i in range(2000)]
    assert all(0 <= v < 100 for v in values)
    assert 400 < sum(v < 25 for v in values) < 600
