"""Kafka topic names: the public contract. A breaking change to a payload means a new `.vN` topic.

The catalogue at the end (`CATALOGUE`) lists every topic the system uses with its size: the
brokers never create topics on their own (auto-create is off), `shared.kafka_admin.provision_topics`
creates these.
"""

import re
from dataclasses import dataclass
from typing import Final

# Partner-facing: plain JSON, no headers required.
# Each partner system writes registrations to an intake topic of its own,
# `registry.registration-submitted.v1.<partner>` (`intake_topic`), which only that partner's
# principal may write (shared/access.py): the registry takes a registration's `source` from the
# topic, which a partner cannot forge, not from the body, which it can.
REGISTRATION_SUBMITTED: Final = "registry.registration-submitted.v1"
# The office (the CLI's `operator` principal) writes commitments on behalf of companies.
COMMITMENT_SUBMITTED: Final = "sponsorship.commitment-submitted.v1"

# Published by the registry.
WORKER_REGISTERED: Final = "registry.worker-registered.v1"
REGISTRATION_REJECTED: Final = "registry.registration-rejected.v1"

# Published by sponsorship.
COMMITMENT_ACCEPTED: Final = "sponsorship.commitment-accepted.v1"
COMMITMENT_REJECTED: Final = "sponsorship.commitment-rejected.v1"
SPONSOR_MATCHED: Final = "sponsorship.sponsor-matched.v1"
WORKER_WAITLISTED: Final = "sponsorship.worker-waitlisted.v1"
ENROLLMENT_COMPLETED: Final = "sponsorship.enrollment-completed.v1"
ENROLLMENT_FAILED: Final = "sponsorship.enrollment-failed.v1"

# Exchanged with the BPJS Ketenagakerjaan side.
ENROLLMENT_REQUESTED: Final = "bpjs.enrollment-requested.v1"
ENROLLMENT_CONFIRMED: Final = "bpjs.enrollment-confirmed.v1"
ENROLLMENT_REJECTED: Final = "bpjs.enrollment-rejected.v1"

# Published by notifications.
NOTIFICATION_SENT: Final = "notifications.notification-sent.v1"

DEAD_LETTER_SUFFIX: Final = ".dlq"
# The consumer group `muba dlq` reads dead-letter topics in (what was replayed is committed).
REPLAY_GROUP: Final = "muba-dlq-replay"


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


# A partner's name: its intake topic's last part and its principal `partner-<name>`.
PARTNER_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
PARTNER_PRINCIPAL_PREFIX: Final = "partner-"


def intake_topic(partner: str) -> str:
    """The topic only `partner` writes its registrations to."""
    if not PARTNER_NAME.fullmatch(partner):
        raise ValueError(
            f"partner {partner!r}: lower-case letters, digits and '-', starting with a letter or digit,"
            " at most 63 characters"
        )
    return f"{REGISTRATION_SUBMITTED}.{partner}"


def intake_pattern(prefix: str = "") -> str:
    """Every partner's intake topic (and no dead-letter topic): what the registry subscribes to."""
    return f"^{re.escape(prefix + REGISTRATION_SUBMITTED)}\\.{PARTNER_NAME.pattern}$"


def partner_of(topic: str, prefix: str = "") -> str | None:
    """The partner whose intake `topic` is, or None when it is no intake topic."""
    head = prefix + REGISTRATION_SUBMITTED + "."
    if not topic.startswith(head):
        return None
    partner = topic[len(head) :]
    return partner if PARTNER_NAME.fullmatch(partner) else None


def partner_in(topic: str) -> str | None:
    """The partner whose intake `topic` is, under whatever TOPIC_PREFIX, or None."""
    head = topic.rfind(REGISTRATION_SUBMITTED + ".")
    return partner_of(topic[head:]) if head >= 0 else None


def partner_principal(partner: str) -> str:
    intake_topic(partner)  # the same rule for the name
    return PARTNER_PRINCIPAL_PREFIX + partner


# --- the catalogue --------------------------------------------------------------------------------

KIB: Final = 1024
MIB: Final = 1024 * KIB

# The largest record any topic of ours accepts: what partners may publish (the brokers'
# message.max.bytes is the same 2 MiB) and what our producers send (max_request_size).
RECORD_MAX_BYTES: Final = 2 * MIB
# The dead-letter headers (reason, error text, original topic/partition/offset, consumer, time,
# the partner's own headers kept) are capped at about 4 KiB; a dead letter carries the original
# record whole, so a `.dlq` topic must take a 2 MiB record plus those headers. 4 MiB leaves room.
DEAD_LETTER_HEADERS_MAX_BYTES: Final = 4 * KIB
DEAD_LETTER_MAX_BYTES: Final = 4 * MIB
# Dead letters wait for a person to look at them and replay them: keep them longer than events.
DEAD_LETTER_RETENTION_MS: Final = 30 * 24 * 3600 * 1000
DEFAULT_PARTITIONS: Final = 4


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the project provisions it (without TOPIC_PREFIX)."""

    name: str
    partitions: int = DEFAULT_PARTITIONS
    max_message_bytes: int = RECORD_MAX_BYTES
    retention_ms: int | None = None  # None: the brokers' log.retention (7 days)
    partner_facing: bool = False
    consumed_by: tuple[str, ...] = ()
    # Who writes it: a service or the BPJS side; "" for partner systems and companies.
    published_by: str = ""

    @property
    def configs(self) -> dict[str, str]:
        """Topic-level configs, as Kafka spells them (min.insync.replicas is set by provisioning)."""
        found = {"max.message.bytes": str(self.max_message_bytes)}
        if self.retention_ms is not None:
            found["retention.ms"] = str(self.retention_ms)
        return found


def _event(name: str, published_by: str, *consumed_by: str) -> TopicSpec:
    """`published_by` "" means partner systems and companies publish it (a partner-facing topic)."""
    return TopicSpec(
        name, partner_facing=not published_by, consumed_by=consumed_by, published_by=published_by
    )


EVENT_TOPICS: Final[tuple[TopicSpec, ...]] = (
    _event(COMMITMENT_SUBMITTED, "", "sponsorship"),
    _event(WORKER_REGISTERED, "registry", "sponsorship"),
    _event(REGISTRATION_REJECTED, "registry", "notifications"),
    _event(COMMITMENT_ACCEPTED, "sponsorship"),
    _event(COMMITMENT_REJECTED, "sponsorship"),
    _event(SPONSOR_MATCHED, "sponsorship"),
    _event(WORKER_WAITLISTED, "sponsorship", "notifications"),
    _event(ENROLLMENT_COMPLETED, "sponsorship", "notifications"),
    _event(ENROLLMENT_FAILED, "sponsorship", "notifications"),
    _event(ENROLLMENT_REQUESTED, "sponsorship", "bpjs-simulator"),
    _event(ENROLLMENT_CONFIRMED, "bpjs-simulator", "sponsorship"),
    _event(ENROLLMENT_REJECTED, "bpjs-simulator", "sponsorship"),
    _event(NOTIFICATION_SENT, "notifications"),
)


def _dead_letters_of(spec: TopicSpec) -> TopicSpec:
    # As many partitions as the original: a dead letter keeps its key and so its partition's order.
    return TopicSpec(
        dead_letter_topic(spec.name),
        partitions=spec.partitions,
        max_message_bytes=DEAD_LETTER_MAX_BYTES,
        retention_ms=DEAD_LETTER_RETENTION_MS,
    )


# Every topic the system uses but the partners' intakes: the events, and a `.dlq` for each topic
# someone consumes.
CATALOGUE: Final[tuple[TopicSpec, ...]] = EVENT_TOPICS + tuple(
    _dead_letters_of(spec) for spec in EVENT_TOPICS if spec.consumed_by
)
_BY_NAME: Final = {spec.name: spec for spec in CATALOGUE}


def intake_specs(partner: str) -> tuple[TopicSpec, TopicSpec]:
    """A partner's intake topic and its dead-letter topic."""
    intake = TopicSpec(
        intake_topic(partner),
        partner_facing=True,
        consumed_by=("registry",),
        published_by=partner_principal(partner),
    )
    return intake, _dead_letters_of(intake)


def catalogue(partners: tuple[str, ...] | list[str] = ()) -> tuple[TopicSpec, ...]:
    """CATALOGUE and the intake topics of `partners`."""
    return CATALOGUE + tuple(spec for partner in partners for spec in intake_specs(partner))


def used_by(service: str) -> tuple[TopicSpec, ...]:
    """The topics a service reads or writes (partners' intakes aside), with the dead-letter topics
    of what it reads: what provisioning at start-up creates for a test's prefix."""
    consumed = {spec.name for spec in EVENT_TOPICS if service in spec.consumed_by}
    return tuple(
        spec
        for spec in CATALOGUE
        if spec.name in consumed
        or spec.published_by == service
        or spec.name.removesuffix(DEAD_LETTER_SUFFIX) in consumed
    )


def spec_for(topic: str, prefix: str = "") -> TopicSpec | None:
    """The catalogue entry of a topic as it is named on the broker (with `prefix`), if any."""
    if not topic.startswith(prefix):
        return None
    name = topic[len(prefix) :]
    partner = partner_of(name.removesuffix(DEAD_LETTER_SUFFIX))
    if partner is not None:
        intake, dead_letters = intake_specs(partner)
        return dead_letters if name.endswith(DEAD_LETTER_SUFFIX) else intake
    return _BY_NAME.get(name)


def find_spec(topic: str) -> TopicSpec | None:
    """The catalogue entry whose name ends `topic` (which may carry any TOPIC_PREFIX), if any."""
    head = topic.find(REGISTRATION_SUBMITTED + ".")
    if head >= 0:
        found = spec_for(topic[head:])
        if found is not None:
            return found
    matches = [spec for name, spec in _BY_NAME.items() if topic.endswith(name)]
    return max(matches, key=lambda spec: len(spec.name), default=None)
