"""Publishing to the partner-facing topics, as a partner system would (JSON body, CloudEvents headers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from muba.errors import NotRunning, not_running
from shared.contracts import Contract
from shared.envelope import new_envelope
from shared.kafka_security import KafkaConnection, kafka_producer

CE_SOURCE = "muba-cli"


def kafka_not_running(kafka: KafkaConnection, exc: BaseException) -> NotRunning:
    detail = str(exc) or type(exc).__name__
    return not_running(f"Kafka {kafka.bootstrap_servers}", detail.removeprefix("KafkaConnectionError: "))


async def ping(kafka: KafkaConnection, timeout_s: float = 15.0) -> None:
    """Raise NotRunning unless the broker answers (before handing it to code that would leak clients)."""
    admin = AIOKafkaAdminClient(**kafka.options(), request_timeout_ms=int(timeout_s * 1000))
    try:
        async with asyncio.timeout(timeout_s + 5):
            await admin.start()
    except (KafkaConnectionError, KafkaTimeoutError, TimeoutError, OSError) as exc:
        raise kafka_not_running(kafka, exc) from None
    finally:
        await admin.close()


def _headers(contract: Contract[Any], subject: str | None) -> list[tuple[str, bytes]]:
    envelope = new_envelope(contract.event_type, CE_SOURCE, subject=subject)
    return [(k, v.encode()) for k, v in envelope.headers().items()]


async def publish(
    kafka: KafkaConnection,
    topic: str,
    contract: Contract[Any],
    messages: Sequence[tuple[str | None, dict[str, Any]]],
    on_delivered: Callable[[int], None] | None = None,
    timeout_s: float = 15.0,
) -> int:
    """Publish `messages` (key, JSON body) to `topic` with an idempotent, acks=all producer; returns
    how many the broker confirmed. `on_delivered(1)` is called as each one is confirmed."""
    producer = kafka_producer(kafka, request_timeout_ms=int(timeout_s * 1000), client_id=CE_SOURCE)
    try:
        async with asyncio.timeout(timeout_s + 5):
            await producer.start()
    except (KafkaConnectionError, KafkaTimeoutError, TimeoutError, OSError) as exc:
        await producer.stop()
        raise kafka_not_running(kafka, exc) from None
    delivered = 0
    try:
        futures: list[asyncio.Future[Any]] = []
        for key, body in messages:
            future = await producer.send(
                topic,
                value=json.dumps(body, ensure_ascii=False).encode(),
                key=key.encode() if key is not None else None,
                headers=_headers(contract, None),
            )
            if on_delivered is not None:
                future.add_done_callback(
                    lambda f: None if f.cancelled() or f.exception() else on_delivered(1)
                )
            futures.append(future)
        results = await asyncio.gather(*futures, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        delivered = len(results) - len(errors)
        if errors:
            first = errors[0]
            raise NotRunning(
                f"Kafka {kafka.bootstrap_servers} confirmed {delivered} of {len(results)} message(s) on {topic}; "
                f"the others failed ({type(first).__name__}: {first}). Run the same command again: "
                "what was delivered is not sent twice."
            )
    except (KafkaConnectionError, KafkaTimeoutError) as exc:
        raise kafka_not_running(kafka, exc) from None
    except KafkaError as exc:
        raise NotRunning(f"Kafka {kafka.bootstrap_servers} refused the messages for {topic}: {exc}") from None
    finally:
        await producer.stop()
    return delivered
