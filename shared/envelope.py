"""CloudEvents 1.0 metadata in Kafka headers (binary content mode): the body is the JSON payload.

Partner-facing topics accept messages without headers: the consumer then knows a message by its
content (shared.consumer.event_identity).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from shared import clock

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"

H_ID: Final = "ce_id"
H_TYPE: Final = "ce_type"
H_SOURCE: Final = "ce_source"
H_SPECVERSION: Final = "ce_specversion"
H_TIME: Final = "ce_time"
H_SUBJECT: Final = "ce_subject"
H_CORRELATION: Final = "ce_correlationid"
H_CONTENT_TYPE: Final = "content-type"

EVENT_TYPE_PREFIX: Final = "id.go.mubakab.disnaker."
# Set by a dead-letter replay (shared.dlq) to the letter's dlq_id: part of the replayed message's identity.
REPLAY_HEADER: Final = "muba_replay_of"
# ...and to the consumer that dead-lettered it: other consumers of the topic see the original again.
REPLAY_FOR_HEADER: Final = "muba_replay_for"


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    type: str
    source: str
    time: datetime
    correlation_id: str
    subject: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            H_ID: self.id,
            H_TYPE: self.type,
            H_SOURCE: self.source,
            H_SPECVERSION: SPEC_VERSION,
            H_TIME: self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            H_CORRELATION: self.correlation_id,
            H_CONTENT_TYPE: CONTENT_TYPE,
        }
        if self.subject is not None:
            headers[H_SUBJECT] = self.subject
        return headers


def new_envelope(
    event_type: str,
    source: str,
    correlation_id: str | None = None,
    subject: str | None = None,
    event_id: str | None = None,
) -> Envelope:
    event_id = event_id or str(uuid.uuid4())
    return Envelope(
        id=event_id,
        type=event_type,
        source=source,
        time=clock.now(),
        correlation_id=correlation_id or event_id,
        subject=subject,
    )


def parse_envelope(headers: dict[str, str]) -> Envelope | None:
    """The envelope of a message, or None when it carries no (complete) CloudEvents headers."""
    if not all(headers.get(h) for h in (H_ID, H_TYPE, H_SOURCE)):
        return None
    try:
        time = datetime.fromisoformat(headers.get(H_TIME, "").replace("Z", "+00:00"))
    except ValueError:
        time = clock.now()
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    return Envelope(
        id=headers[H_ID],
        type=headers[H_TYPE],
        source=headers[H_SOURCE],
        time=time,
        correlation_id=headers.get(H_CORRELATION) or headers[H_ID],
        subject=headers.get(H_SUBJECT),
    )


def event_type(name: str) -> str:
    """`worker-registered.v1` -> `id.go.mubakab.disnaker.worker-registered.v1`."""
    return EVENT_TYPE_PREFIX + name
