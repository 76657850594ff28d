"""The provider gateway, simulated: the HTTP API `services.notifications.delivery.HttpGateway` speaks.

    POST <any path>   JSON {notification_id, idempotency_key, channel, recipient, subject, body,
                      template, audience} with header `Idempotency-Key` (the same key)
                      -> 200 accepted | 503 try again | 422 refused for good | 400 not a message
    POST /2010-04-01/Accounts/<sid>/Messages.json
                      Twilio's Messages API (simulators/gateway/twilio.py): Basic auth, a form,
                      Twilio's answers and error codes; a signed status callback follows
    GET /received     every request recorded so far (JSON list, oldest first)
    GET /healthz, /readyz, /stats

Every request is appended to the record file (one JSON line: time, idempotency key, notification
id, channel, recipient, template, audience, the status answered and the outcome) and the line
is written out before the answer leaves, so a 2xx the sender saw is always on record, also when
the simulator is killed right after. A request whose client hung up before the answer (a sender
that timed out or stopped) is recorded as `abandoned`: the provider never accepted it.
`repeat` counts how often the same idempotency key was accepted before (a real provider would
drop such a repeat; the checker counts them).

Faults (settings): a share of requests answered 503, drawn per request; a share of messages
refused for good (422), chosen by a hash of the idempotency key so every attempt of it is
refused; a delay before answering for a share of requests. Subclasses may override `plan`.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import uvicorn

from simulators.gateway.settings import GatewaySimulatorSettings
from simulators.gateway.twilio import MESSAGES_PATH, TwilioApi, parse_form

log = logging.getLogger(__name__)

SERVICE: Final = "gateway-simulator"
MAX_BODY_BYTES: Final = 1 << 20
REQUIRED_TEXT: Final = ("idempotency_key", "channel", "recipient", "body", "template", "audience")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Plan:
    """How to answer one valid message: the status (200, 503, 422, ...) and a delay before it."""

    status: int
    delay_s: float = 0.0


class BadMessage(Exception):
    pass


def parse_message(body: bytes, header_key: str | None) -> dict[str, Any]:
    """The sender's JSON, checked: what a provider gateway would refuse with 400."""
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadMessage("not a JSON object")
    missing = [f for f in REQUIRED_TEXT if not isinstance(message.get(f), str) or not message[f]]
    if missing:
        raise BadMessage(f"missing or empty: {', '.join(missing)}")
    if not isinstance(message.get("notification_id"), int):
        raise BadMessage("notification_id: an integer is required")
    if message.get("subject") is not None and not isinstance(message["subject"], str):
        raise BadMessage("subject: text or null")
    if header_key != message["idempotency_key"]:
        raise BadMessage("the Idempotency-Key header must equal the body's idempotency_key")
    return message


def share(value: str) -> float:
    """A stable number in [0, 100) for a text: who falls into a percentage, every time."""
    return int(hashlib.sha256(value.encode()).hexdigest()[:8], 16) % 10_000 / 100


class GatewaySimulator:
    """An ASGI application; `python -m simulators.gateway` serves it with uvicorn."""

    def __init__(self, settings: GatewaySimulatorSettings) -> None:
        self.settings = settings
        self.record_path = Path(settings.record_path)
        self.stats: Counter[str] = Counter()
        self._random = random.Random(settings.seed)
        self._accepted: Counter[str] = Counter()
        self._fd: int | None = None
        self.twilio = TwilioApi(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            receipt_delay_s=settings.receipt_delay_ms / 1000,
            undelivered_percent=settings.undelivered_percent,
            share=share,
            record=self.record,
        )

    # --- what to answer -------------------------------------------------------------------------

    def plan(self, message: dict[str, Any]) -> Plan:
        s = self.settings
        delay = s.delay_ms / 1000 if s.delay_ms and self._random.random() * 100 < s.delay_percent else 0.0
        if share(message["idempotency_key"]) < s.refuse_percent:
            return Plan(422, delay)
        if self._random.random() * 100 < s.fail_percent:
            return Plan(503, delay)
        return Plan(200, delay)

    # --- the record -----------------------------------------------------------------------------

    def open(self) -> None:
        """Open the record file (append) and count what it already holds as accepted."""
        if self._fd is not None:
            return
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        for entry in self.received():
            if entry.get("outcome") == "accepted" and entry.get("idempotency_key"):
                self._accepted[entry["idempotency_key"]] += 1
        self._fd = os.open(self.record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def record(self, entry: dict[str, Any]) -> None:
        """One line, one write(2) on an O_APPEND file: out of the process once this returns
        (several simulators may share the file), on disk too with GATEWAY_SIMULATOR_FSYNC."""
        self.open()
        assert self._fd is not None
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"short write to {self.record_path}: {written} of {len(line)} bytes")
        if self.settings.fsync:
            os.fsync(self._fd)

    def received(self) -> list[dict[str, Any]]:
        """Every request recorded in the file, oldest first (a torn last line is skipped)."""
        try:
            lines = self.record_path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
        return entries

    # --- HTTP -------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        twilio = MESSAGES_PATH.match(path)
        if method == "POST" and twilio:
            await self._twilio_message(scope, receive, send, twilio["sid"])
        elif method == "POST":
            await self._message(scope, receive, send)
        elif method not in ("GET", "HEAD"):
            await _answer(send, 405, {"error": "method not allowed"})
        elif path in ("/healthz", "/readyz"):
            await _answer(send, 200, {"status": "up", "service": SERVICE})
        elif path == "/stats":
            await _answer(send, 200, dict(self.stats))
        elif path == "/received":
            await _answer(send, 200, self.received())
        else:
            await _answer(send, 404, {"error": "not found"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                try:
                    self.open()
                except OSError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                log.info(
                    "gateway simulator started",
                    extra={
                        "record": str(self.record_path),
                        "fail_percent": self.settings.fail_percent,
                        "refuse_percent": self.settings.refuse_percent,
                        "delay_ms": self.settings.delay_ms,
                    },
                )
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await self.twilio.close()
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read(
        self, scope: Scope, receive: Receive, send: Send
    ) -> tuple[str, dict[str, str], bytes] | None:
        """When the request came, its headers and its body; None when it was answered already
        (too large) or the client went away."""
        received_at = datetime.now(UTC).isoformat(timespec="microseconds")
        self.stats["received"] += 1
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body = b""
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                return None
            body += event.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await self._refuse_invalid(send, received_at, headers, 413, "body too large")
                return None
            if not event.get("more_body"):
                return received_at, headers, body

    async def _message(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = await self._read(scope, receive, send)
        if read is None:
            return
        received_at, headers, body = read
        try:
            message = parse_message(body, headers.get("idempotency-key"))
        except BadMessage as exc:
            await self._refuse_invalid(send, received_at, headers, 400, str(exc))
            return
        plan = self.plan(message)
        entry = {
            "received_at": received_at,
            "idempotency_key": message["idempotency_key"],
            "notification_id": message["notification_id"],
            "channel": message["channel"],
            "recipient": message["recipient"],
            "template": message["template"],
            "audience": message["audience"],
        }
        if plan.delay_s > 0 and await _hangs_up_within(receive, plan.delay_s):
            self.stats["abandoned"] += 1
            self.record(entry | {"status": None, "outcome": "abandoned"})
            return
        outcome = {200: "accepted", 503: "failed", 422: "refused"}.get(plan.status, f"http_{plan.status}")
        key = message["idempotency_key"]
        repeat = self._accepted[key]
        try:
            self.record(
                entry
                | {"answered_at": datetime.now(UTC).isoformat(timespec="microseconds")}
                | {"status": plan.status, "outcome": outcome, "repeat": repeat}
            )
        except OSError as exc:
            log.error("could not record a request; answering 500", extra={"error": repr(exc)})
            await _answer(send, 500, {"error": "could not record the message"})
            return
        if outcome == "accepted":
            self._accepted[key] += 1
        self.stats[outcome] += 1
        answer: dict[str, Any] = {"status": outcome, "idempotency_key": key, "repeat": repeat > 0}
        if outcome == "refused":
            # As real providers do, the refusal names the address: the sender must mask it.
            answer["error"] = (
                f"{message['channel']} recipient {message['recipient']} does not accept messages"
            )
        await _answer(send, plan.status, answer, {"retry-after": "1"} if plan.status == 503 else None)

    async def _twilio_message(self, scope: Scope, receive: Receive, send: Send, account: str) -> None:
        """One message through the Twilio API (simulators/gateway/twilio.py): recorded as the
        others are, with its SID and the segments billed; receipts follow when it is taken."""
        read = await self._read(scope, receive, send)
        if read is None:
            return
        received_at, headers, body = read
        api = self.twilio
        if not api.authorised(account, headers.get("authorization")):
            self.stats["unauthorised"] += 1
            await _answer(send, 401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        form = parse_form(body)
        refused = api.check(form)
        if refused is not None:
            await self._refuse_invalid(send, received_at, headers, 400, refused["message"])
            return
        to = form["To"]
        key = headers.get("idempotency-key") or hashlib.sha256(f"{to}\n{form['Body']}".encode()).hexdigest()
        message = {
            "idempotency_key": key,
            "channel": "whatsapp" if to.startswith("whatsapp:") else "sms",
            "recipient": to.removeprefix("whatsapp:"),
        }
        plan = self.plan(message)
        entry = {"received_at": received_at, "provider": "twilio", **message, "body": form["Body"]}
        if plan.delay_s > 0 and await _hangs_up_within(receive, plan.delay_s):
            self.stats["abandoned"] += 1
            self.record(entry | {"status": None, "outcome": "abandoned"})
            return
        if plan.status == 422:
            answer: dict[str, Any] = {
                "code": 21610,
                "message": f"Attempt to send to unsubscribed recipient {to}",
                "status": 400,
            }
            status, outcome = 400, "refused"
        elif plan.status == 503:
            answer, status, outcome = (
                {"code": 20503, "message": "Service unavailable", "status": 503},
                503,
                "failed",
            )
        else:
            answer, status, outcome = api.accepted(form, key), 201, "accepted"
        repeat = self._accepted[key]
        try:
            self.record(
                entry
                | {"answered_at": datetime.now(UTC).isoformat(timespec="microseconds"), "status": status}
                | {
                    "outcome": outcome,
                    "repeat": repeat,
                    "sid": answer.get("sid"),
                    "segments": answer.get("num_segments"),
                }
            )
        except OSError as exc:
            log.error("could not record a request; answering 500", extra={"error": repr(exc)})
            await _answer(
                send, 500, {"code": 20500, "message": "could not record the message", "status": 500}
            )
            return
        self.stats[outcome] += 1
        if outcome == "accepted":
            self._accepted[key] += 1
            if form.get("StatusCallback"):
                api.send_receipts(answer, form["StatusCallback"], key)
        await _answer(send, status, answer, {"retry-after": "1"} if status == 503 else None)

    async def _refuse_invalid(
        self, send: Send, received_at: str, headers: dict[str, str], status: int, error: str
    ) -> None:
        self.stats["invalid"] += 1
        with contextlib.suppress(OSError):
            self.record(
                {
                    "received_at": received_at,
                    "idempotency_key": headers.get("idempotency-key"),
                    "status": status,
                    "outcome": "invalid",
                    "error": error[:300],
                }
            )
        await _answer(send, status, {"error": error})


async def _hangs_up_within(receive: Receive, seconds: float) -> bool:
    """Wait `seconds`; True when the client disconnected meanwhile (the request is fully read,
    so the next event the server can deliver is the disconnect)."""
    disconnect = asyncio.ensure_future(receive())
    try:
        done, _ = await asyncio.wait({disconnect}, timeout=seconds)
        return bool(done) and disconnect.result().get("type") == "http.disconnect"
    finally:
        disconnect.cancel()


async def _answer(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class _Server(uvicorn.Server):
    """uvicorn inside a running event loop (tests): the caller owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_in_process(simulator: GatewaySimulator, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve `simulator` on an ephemeral port of this process and yield its base URL."""
    server = _Server(uvicorn.Config(simulator, host=host, port=0, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the gateway simulator did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
