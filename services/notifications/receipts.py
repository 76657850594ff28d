"""Delivery receipts: the SMS/WhatsApp provider's status callbacks (`POST /receipts/twilio`).

A receipt is believed only with the provider's signature over the URL we gave it (403 without);
a final one (delivered, failed) is kept (`delivery_receipt`, the same report twice is one row)
and closes its message in the same transaction that writes notification-delivered.v1 or
notification-failed.v1 to the outbox. A receipt for a message we have not recorded as sent yet
(the provider answered the callback before our send's own commit) waits in the table; the
sender's record of the acceptance applies it. Answers: 204 taken (also a status that is not
final), 400 unreadable (which field), 403 signature, 503 database away (the provider tries again).
"""

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

import asyncpg
from faststream.asgi import AsgiResponse
from faststream.asgi.types import ASGIApp, Receive, Scope, Send

from services.notifications import repository, twilio
from services.notifications.delivery import publish_events, receipt_event
from shared.events import EventModel
from shared.http_access import MAX_CALLBACK_BODY_BYTES, read_body, refusal

log = logging.getLogger(__name__)

TWILIO_PATH = "/receipts/twilio"


def _form(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise twilio.ReceiptError(
            "body: a form (application/x-www-form-urlencoded, UTF-8) expected"
        ) from None
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=100)
    except ValueError:
        raise twilio.ReceiptError("body: not a form (application/x-www-form-urlencoded)") from None


def twilio_receipts(
    pool: Callable[[], asyncpg.Pool], *, auth_token: str, receipt_url: str, topic_prefix: str
) -> ASGIApp:
    """The ASGI app of TWILIO_PATH; `receipt_url` is the StatusCallback we give the provider."""

    async def answer(scope: Scope, receive: Receive) -> AsgiResponse:
        body = await read_body(receive, MAX_CALLBACK_BODY_BYTES)
        if len(body) > MAX_CALLBACK_BODY_BYTES:
            return refusal(413, f"body: at most {MAX_CALLBACK_BODY_BYTES} bytes", "body")
        try:
            fields = _form(body)
        except twilio.ReceiptError as exc:
            return refusal(400, str(exc), "body")
        headers = dict(scope.get("headers") or [])
        given = headers.get(twilio.SIGNATURE_HEADER.encode(), b"").decode("latin-1")
        if not twilio.signature_is_valid(auth_token, receipt_url, fields, given):
            log.warning(
                "delivery receipt refused: bad or missing signature", extra={"client": scope.get("client")}
            )
            return refusal(403, "X-Twilio-Signature: missing or not the provider's", "x-twilio-signature")
        try:
            receipt = twilio.parse_receipt(fields)
        except twilio.ReceiptError as exc:
            return refusal(400, str(exc), str(exc).partition(":")[0])
        if receipt is None:
            return AsgiResponse(b"", 204)
        try:
            async with pool().acquire() as conn, conn.transaction():
                await repository.record_receipt(
                    conn, twilio.PROVIDER, receipt.message_id, receipt.status, receipt.error_code
                )
                applied = await repository.apply_receipts(conn, twilio.PROVIDER, receipt.message_id)
                events: list[EventModel] = [receipt_event(applied)] if applied is not None else []
                await publish_events(conn, topic_prefix, events)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(
                "delivery receipt not recorded; the provider will send it again",
                extra={"error": repr(exc)[:300]},
            )
            return refusal(503, "the receipt cannot be recorded now; try again")
        log.info(
            "delivery receipt",
            extra={
                "message_sid": receipt.message_id,
                "status": receipt.status,
                "error_code": receipt.error_code,
                "applied": applied is not None,
            },
        )
        return AsgiResponse(b"", 204)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            response = refusal(405, "method: only POST is served", "method", Allow="POST")
        else:
            response = await answer(scope, receive)
        await response(scope, receive, send)

    return app
