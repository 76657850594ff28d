"""The BPJS Ketenagakerjaan side, simulated: `bpjs.enrollment-requested.v1` in, one answer out on
`bpjs.enrollment-confirmed.v1` or `bpjs.enrollment-rejected.v1`.

It has no database, so it is idempotent by construction: everything in an answer follows from the
request and the rules. The answer's CloudEvents id is uuid5(NAMESPACE, "bpjs-answer:" +
enrollment_id), the KPJ number is a hash of the enrollment id and the answer's time is the
request's `requested_at` plus the simulated processing time; a redelivered request therefore
yields a byte-identical answer, which the consumers' inboxes drop.

The rules (`decide`), in order; the serials and the percentage are settings:
1. NIK not 16 digits, or its serial (last 4 digits) is 9999 -> rejected NIK_NOT_FOUND.
2. NIK serial 9998 -> rejected ALREADY_MEMBER.
3. SIMULATOR_REJECT_PERCENT of the remaining requests, chosen by a hash of the enrollment id
   (so the same ones every time) -> rejected with SIMULATOR_REJECT_REASON_CODE (DATA_MISMATCH).
4. Otherwise confirmed: a KPJ number of SIMULATOR_KPJ_DIGITS digits (11), coverage from the
   requested coverage_start for `months` calendar months: it ends the day before the same day
   `months` later, or on the last day of that month when it has no such day (31 Jan + 1 month ->
   28/29 Feb).

A request that breaks the contract (not JSON, not the model, months < 1) goes to
"<topic>.dlq" with the dead-letter headers shared/consumer.py writes, and the loop moves on.
Offsets are committed only after every answer of the batch has been acknowledged (acks=all).
"""

import asyncio
import calendar
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError, KafkaError

from shared import access, contracts, topics
from shared.consumer import Incoming, PoisonMessage, dead_letter_headers
from shared.envelope import H_CORRELATION, Envelope, event_type
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected, EnrollmentRequested
from shared.kafka_admin import provision_until_done, wait_for_topics
from shared.kafka_security import kafka_producer
from simulators.bpjs.settings import SimulatorSettings

log = logging.getLogger(__name__)

SERVICE: Final = "bpjs-simulator"
SOURCE: Final = "/bpjs-ketenagakerjaan/kc-musi-banyuasin"
# The namespace of the answers' event ids; changing it would make every answer look new downstream.
NAMESPACE: Final = uuid.uuid5(
    uuid.NAMESPACE_URL, "https://www.bpjsketenagakerjaan.go.id/simulator/kc-musi-banyuasin"
)

CONFIRMED_EVENT: Final = "enrollment-confirmed.v1"
REJECTED_EVENT: Final = "enrollment-rejected.v1"

NIK_NOT_FOUND: Final = "NIK_NOT_FOUND"
ALREADY_MEMBER: Final = "ALREADY_MEMBER"
DATA_MISMATCH: Final = "DATA_MISMATCH"
REASON_MESSAGES: Final[Mapping[str, str]] = {
    NIK_NOT_FOUND: "NIK tidak ditemukan di Dukcapil",
    ALREADY_MEMBER: "Pekerja sudah terdaftar sebagai peserta BPJS Ketenagakerjaan",
    DATA_MISMATCH: "Data pekerja tidak sesuai dengan data kependudukan (Dukcapil)",
}
DEFAULT_REASON_MESSAGE: Final = "Pendaftaran ditolak oleh BPJS Ketenagakerjaan"
_HTTP_REASONS: Final = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


# --- the rules (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rules:
    nik_not_found_serial: str = "9999"
    already_member_serial: str = "9998"
    reject_percent: float = 0.0
    reject_reason_code: str = DATA_MISMATCH
    kpj_digits: int = 11
    processing_time: timedelta = timedelta(0)

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> "Rules":
        return cls(
            nik_not_found_serial=settings.nik_not_found_serial,
            already_member_serial=settings.already_member_serial,
            reject_percent=settings.reject_percent,
            reject_reason_code=settings.reject_reason_code,
            kpj_digits=settings.kpj_digits,
            processing_time=timedelta(milliseconds=settings.delay_ms),
        )


Answer = EnrollmentConfirmed | EnrollmentRejected


def _digest(label: str, enrollment_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{label}:{enrollment_id}".encode()).digest()[:16], "big")


def kpj_number(enrollment_id: str, digits: int = 11) -> str:
    """The member number BPJS gives this enrollment: `digits` digits, never a leading zero."""
    if not 2 <= digits <= 30:
        raise ValueError(f"a KPJ number of {digits} digits is not supported")
    lowest = 10 ** (digits - 1)
    return str(lowest + _digest("kpj", enrollment_id) % (9 * lowest))


def answer_id(enrollment_id: str) -> str:
    """The CloudEvents id of the answer to an enrollment: the same on every redelivery."""
    return str(uuid.uuid5(NAMESPACE, "bpjs-answer:" + enrollment_id))


def rejection_score(enrollment_id: str) -> float:
    """A fixed point in [0, 100) per enrollment: rejected when below SIMULATOR_REJECT_PERCENT."""
    return (_digest("reject", enrollment_id) % 10_000) / 100


def coverage_end(start: date, months: int) -> date:
    """The last covered day of `months` calendar months from `start` (inclusive)."""
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day > last_day:  # no such day in the last month: cover it to its end
        return date(year, month, last_day)
    return date(year, month, start.day) - timedelta(days=1)


def answered_at(request: EnrollmentRequested, rules: Rules) -> datetime:
    requested = request.requested_at
    if requested.tzinfo is None:  # the contract's times are UTC
        requested = requested.replace(tzinfo=UTC)
    return requested.astimezone(UTC) + rules.processing_time


def _rejected(request: EnrollmentRequested, code: str, at: datetime) -> EnrollmentRejected:
    return EnrollmentRejected(
        enrollment_id=request.enrollment_id,
        worker_id=request.worker_id,
        reason_code=code,
        reason_message=REASON_MESSAGES.get(code, DEFAULT_REASON_MESSAGE),
        rejected_at=at,
    )


DEFAULT_RULES: Final = Rules()


def decide(request: EnrollmentRequested, rules: Rules = DEFAULT_RULES) -> Answer:
    """BPJS's answer to one enrollment request. Raises ValueError when the request is unusable."""
    end = coverage_end(request.coverage_start, request.months)
    at = answered_at(request, rules)
    nik = request.nik.strip()
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit() or nik[-4:] == rules.nik_not_found_serial:
        return _rejected(request, NIK_NOT_FOUND, at)
    if nik[-4:] == rules.already_member_serial:
        return _rejected(request, ALREADY_MEMBER, at)
    if rejection_score(request.enrollment_id) < rules.reject_percent:
        return _rejected(request, rules.reject_reason_code, at)
    return EnrollmentConfirmed(
        enrollment_id=request.enrollment_id,
        worker_id=request.worker_id,
        kpj_number=kpj_number(request.enrollment_id, rules.kpj_digits),
        coverage_start=request.coverage_start,
        coverage_end=end,
        confirmed_at=at,
    )


@dataclass(frozen=True, slots=True)
class AnswerMessage:
    topic: str  # the contract's name, without TOPIC_PREFIX
    key: str
    headers: dict[str, str]
    body: bytes


def answer_message(answer: Answer, correlation_id: str) -> AnswerMessage:
    """The Kafka message of an answer: key = worker_id, CloudEvents headers, the model's JSON."""
    if isinstance(answer, EnrollmentConfirmed):
        topic, name, at = contracts.ENROLLMENT_CONFIRMED.topic, CONFIRMED_EVENT, answer.confirmed_at
    else:
        topic, name, at = contracts.ENROLLMENT_REJECTED.topic, REJECTED_EVENT, answer.rejected_at
    envelope = Envelope(
        id=answer_id(answer.enrollment_id),
        type=event_type(name),
        source=SOURCE,
        time=at,
        correlation_id=correlation_id,
        subject=answer.worker_id,
    )
    return AnswerMessage(topic, answer.worker_id, envelope.headers(), answer.model_dump_json().encode())


def parse_request(message: Incoming) -> EnrollmentRequested:
    """The request in a message, or PoisonMessage (NOT_JSON, NOT_A_JSON_OBJECT, CONTRACT_VIOLATION)."""
    message.json_object()
    return message.parse(EnrollmentRequested)


def correlation_id(message: Incoming) -> str:
    return message.headers.get(H_CORRELATION) or message.correlation_id


# --- the consumer loop ---------------------------------------------------------------------------


@dataclass
class SimulatorStats:
    received: int = 0
    confirmed: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    batches: int = 0
    send_failures: int = 0
    commit_failures: int = 0


@dataclass(frozen=True, slots=True)
class _Pending:
    sent: "asyncio.Future[Any]"
    outcome: str


class BpjsSimulator:
    """Consumes enrollment requests in batches and answers them; see the module docstring.

    `start()` / `stop()` for tests (stop finishes the batch in hand, commits and leaves the group);
    `run()` for the process: serves until `request_stop()` (SIGTERM/SIGINT) or a fatal error.
    """

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.rules = Rules.from_settings(settings)
        self.request_topic = settings.topic(contracts.ENROLLMENT_REQUESTED.topic)
        self.group_id = settings.topic_prefix + settings.group_id
        self.stats = SimulatorStats()
        self.http_port: int | None = None
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # lifecycle

    async def start(self) -> None:
        s = self.settings
        kafka = s.kafka(access.BPJS)
        if s.kafka_provision_at_start:
            await provision_until_done(kafka.as_principal(access.ADMIN), s.topic_prefix, SERVICE)
        else:
            # The BPJS side keeps no dead letters of ours: it waits for what it reads and answers.
            answers = (
                contracts.ENROLLMENT_REQUESTED.topic,
                contracts.ENROLLMENT_CONFIRMED.topic,
                contracts.ENROLLMENT_REJECTED.topic,
            )
            await wait_for_topics(kafka, s.topic_prefix, SERVICE, only=answers)
        producer = kafka_producer(kafka, client_id=f"muba-{SERVICE}")
        consumer = AIOKafkaConsumer(
            self.request_topic,
            **kafka.options(),
            client_id=f"muba-{SERVICE}",
            group_id=self.group_id,
            group_instance_id=f"{self.group_id}-{s.instance_id}" if s.instance_id else None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            session_timeout_ms=15_000,
            heartbeat_interval_ms=3_000,
            metadata_max_age_ms=30_000,
        )
        await producer.start()
        try:
            await consumer.start()
            if s.http_port >= 0:
                self._server = await asyncio.start_server(self._serve_http, s.http_host, s.http_port)
                self.http_port = int(self._server.sockets[0].getsockname()[1])
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            await producer.stop()
            raise
        self._producer, self._consumer = producer, consumer
        self._task = asyncio.create_task(self._consume(consumer, producer), name=SERVICE)
        log.info(
            "simulator started",
            extra={
                "topic": self.request_topic,
                "group_id": self.group_id,
                "http_port": self.http_port,
                "rules": {k: str(v) for k, v in asdict(self.rules).items()},
            },
        )

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the batch in hand, commit it, leave the group and close."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                log.warning("the batch in hand did not finish in time; it will be answered again")
                self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        log.info("simulator stopped", extra=asdict(self.stats))

    async def run(self) -> None:
        """The process: start (retrying while Kafka is away), serve until asked to stop, stop."""
        backoff = 0.5
        while True:
            try:
                await self.start()
                break
            except KafkaConnectionError as exc:
                if self._stopping.is_set():
                    return
                log.warning("Kafka unreachable; retrying", extra={"error": repr(exc), "retry_in_s": backoff})
                await self._pause(backoff)
                backoff = min(backoff * 2, 10.0)
        assert self._task is not None
        task = self._task
        stop_requested = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({task, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_requested.cancel()
            await self.stop()
        if not task.cancelled() and task.exception() is not None:
            raise RuntimeError("the simulator's consumer loop failed") from task.exception()

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: on 3.11 it may swallow a cancellation
                await self._stopping.wait()

    # consuming

    async def _consume(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        backoff = 0.2
        batch_size = self.settings.consumer_batch_size
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=250, max_records=batch_size)
                if not batches:
                    continue
                self.stats.received += sum(len(records) for records in batches.values())
                try:
                    offsets, outcomes = await self._answer_batch(batches, producer)
                except KafkaError as exc:
                    # Some answer was not acknowledged: commit nothing, read the batch again. The
                    # idempotent producer may be fenced after a refused send (OutOfOrderSequence on
                    # every later one): answer with a new one.
                    self.stats.send_failures += 1
                    log.warning(
                        "answers not acknowledged; the batch is read again with a new producer",
                        extra={"error": repr(exc), "retry_in_s": backoff},
                    )
                    for tp, records in batches.items():
                        with contextlib.suppress(IllegalStateError, KafkaError):
                            consumer.seek(tp, records[0].offset)
                    await self._pause(backoff)
                    backoff = min(backoff * 2, 5.0)
                    producer = await self._renew_producer(producer)
                    continue
                backoff = 0.2
                for outcome in outcomes:
                    setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
                self.stats.batches += 1
                await self._commit(consumer, offsets)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the consumer loop failed")
            raise

    async def _renew_producer(self, old: AIOKafkaProducer) -> AIOKafkaProducer:
        with contextlib.suppress(Exception):
            await old.stop()
        backoff = 0.5
        while True:
            producer = kafka_producer(self.settings.kafka(access.BPJS), client_id=f"muba-{SERVICE}")
            try:
                await producer.start()
            except KafkaError as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("Kafka unreachable; retrying", extra={"error": repr(exc), "retry_in_s": backoff})
                await self._pause(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._producer = producer
            return producer

    async def _answer_batch(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]], producer: AIOKafkaProducer
    ) -> tuple[dict[TopicPartition, int], list[str]]:
        """Send an answer (or a dead letter) per record and wait until all are acknowledged.
        Returns the offsets to commit: past the records answered (all, unless stopping mid-delay)."""
        pending: list[_Pending] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batches.items():
            for record in records:
                if not await self._processing_time_elapsed(record):
                    break  # stopping: the rest is answered by whoever reads it next
                pending.append(await self._answer(record, producer))
                offsets[tp] = record.offset + 1
        results = await asyncio.gather(*(p.sent for p in pending), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return offsets, [p.outcome for p in pending]

    async def _processing_time_elapsed(self, record: ConsumerRecord[Any, Any]) -> bool:
        """Hold the answer until SIMULATOR_DELAY_MS after the request was written; False if stopping."""
        delay_s = self.settings.delay_ms / 1000
        if delay_s <= 0:
            return True
        wait_s = min(record.timestamp / 1000 + delay_s - time.time(), delay_s)
        if wait_s > 0:
            await self._pause(wait_s)
        return not self._stopping.is_set()

    async def _answer(self, record: ConsumerRecord[Any, Any], producer: AIOKafkaProducer) -> _Pending:
        message = Incoming.from_record(record)
        try:
            request = parse_request(message)
            try:
                answer = decide(request, self.rules)
            except (ValueError, OverflowError) as exc:
                raise PoisonMessage("CONTRACT_VIOLATION", str(exc)) from None
        except PoisonMessage as exc:
            return _Pending(await self._dead_letter(message, exc, producer), "dead_lettered")
        out = answer_message(answer, correlation_id(message))
        sent = await producer.send(
            self.settings.topic(out.topic),
            value=out.body,
            key=out.key.encode(),
            headers=[(k, v.encode()) for k, v in out.headers.items()],
        )
        outcome = "confirmed" if isinstance(answer, EnrollmentConfirmed) else "rejected"
        log.info(
            "enrollment answered",
            extra={
                "enrollment_id": request.enrollment_id,
                "worker_id": request.worker_id,
                "outcome": outcome,
                "reason_code": getattr(answer, "reason_code", None),
                "event_id": out.headers["ce_id"],
                "correlation_id": out.headers[H_CORRELATION],
            },
        )
        return _Pending(sent, outcome)

    async def _dead_letter(
        self, message: Incoming, exc: PoisonMessage, producer: AIOKafkaProducer
    ) -> "asyncio.Future[Any]":
        """The request byte for byte (key, headers, body), then the dlq_* headers (shared.consumer)."""
        consumer = f"{self.group_id}:{contracts.ENROLLMENT_REQUESTED.topic}"
        headers = dead_letter_headers(message, consumer, exc.reason, exc.detail, 1)
        log.warning(
            "request breaks the contract; dead-lettered",
            extra={
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "event_id": message.event_id,
                "reason": exc.reason,
                "error": exc.detail[:500],
            },
        )
        sent: asyncio.Future[Any] = await producer.send(
            topics.dead_letter_topic(message.topic),
            value=message.body,
            key=message.raw_key,
            headers=[*message.raw_headers, *((k, v.encode()) for k, v in headers.items())],
        )
        return sent

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance took a partition: its new owner answers the batch again, identically.
            self.stats.commit_failures += 1
            log.warning("offset commit failed", extra={"error": repr(exc)})

    # health

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """GET /healthz (200 while the consumer loop runs, else 503) and GET /stats; HTTP/1.0 style."""
        try:
            async with asyncio.timeout(5.0):
                request_line = await reader.readline()
                while await reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # the headers: nothing here needs them
                parts = request_line.decode("latin-1").split()
                method, path = (parts[0], parts[1].split("?", 1)[0]) if len(parts) >= 2 else ("", "")
                if method not in ("GET", "HEAD"):
                    status, body = 405, {"error": "method not allowed"}
                elif path == "/healthz":
                    healthy = self.healthy
                    status, body = (
                        (200 if healthy else 503),
                        {"status": "up" if healthy else "down", "service": SERVICE},
                    )
                elif path == "/stats":
                    status, body = 200, asdict(self.stats)
                else:
                    status, body = 404, {"error": "not found"}
                payload = json.dumps(body).encode()
                reason = _HTTP_REASONS[status]
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                    + (payload if method != "HEAD" else b"")
                )
                await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a slow, broken or oversized request: just close
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
