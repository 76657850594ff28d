"""The topic catalogue: every topic the system uses, with its size, derived from the contracts.

The brokers never create topics on their own (auto-create is off): `shared.kafka_admin.provision_topics`
creates what `catalogue()` lists. Dead-letter topics and the partners' intakes are named here.
"""

import re
from dataclasses import dataclass
from typing import Any, Final

from shared import contracts
from shared.validation import PARTNER_NAME

# The topics' names come from the contract registry (shared/contracts.py). Each partner system
# writes registrations to an intake topic of its own, `registry.registration-submitted.v1.<partner>`
# (`intake_topic`), which only that partner's principal may write (shared/access.py): the registry
# takes a registration's `source` from the topic, which a partner cannot forge, not from the body.
INTAKE: Final = contracts.REGISTRATION_SUBMITTED.topic

DEAD_LETTER_SUFFIX: Final = ".dlq"
# The consumer group `muba dlq` reads dead-letter topics in (what was replayed is committed).
REPLAY_GROUP: Final = "muba-dlq-replay"


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


# A partner's name (shared.validation): its intake topic's last part and its principal `partner-<name>`.
PARTNER_PRINCIPAL_PREFIX: Final = "partner-"


def intake_topic(partner: str) -> str:
    """The topic only `partner` writes its registrations to."""
    if not PARTNER_NAME.fullmatch(partner):
        raise ValueError(
            f"partner {partner!r}: lower-case letters, digits and '-', starting with a letter or digit,"
            " at most 63 characters"
        )
    return f"{INTAKE}.{partner}"


def intake_pattern(prefix: str = "") -> str:
    """Every partner's intake topic (and no dead-letter topic): what the registry subscribes to."""
    return f"^{re.escape(prefix + INTAKE)}\\.{PARTNER_NAME.pattern}$"


def partner_of(topic: str, prefix: str = "") -> str | None:
    """The partner whose intake `topic` is, or None when it is no intake topic."""
    head = prefix + INTAKE + "."
    if not topic.startswith(head):
        return None
    partner = topic[len(head) :]
    return partner if PARTNER_NAME.fullmatch(partner) else None


def split_intake(topic: str) -> tuple[str, str] | None:
    """(TOPIC_PREFIX, partner) of a partner's intake topic under whatever prefix, or None: the one
    place that reads a partner out of a topic name."""
    head = topic.rfind(INTAKE + ".")
    if head < 0:
        return None
    partner = partner_of(topic[head:])
    return None if partner is None else (topic[:head], partner)


def partner_in(topic: str) -> str | None:
    """The partner whose intake `topic` is, under whatever TOPIC_PREFIX, or None."""
    found = split_intake(topic)
    return None if found is None else found[1]


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


def _event_topic(contract: contracts.Contract[Any]) -> TopicSpec:
    """`published_by` "" means partner systems and companies publish it (a partner-facing topic)."""
    published_by = "" if contract.partner_facing else contract.producer
    return TopicSpec(
        contract.topic,
        partner_facing=contract.partner_facing,
        consumed_by=contract.consumers,
        published_by=published_by,
    )


# Every contract's topic but the partners' intakes (one per partner, `intake_specs`).
EVENT_TOPICS: Final[tuple[TopicSpec, ...]] = tuple(
    _event_topic(c) for c in contracts.CONTRACTS if not c.per_partner
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
    intake = split_intake(topic.removesuffix(DEAD_LETTER_SUFFIX))
    if intake is not None:
        return spec_for(topic, intake[0])
    matches = [spec for name, spec in _BY_NAME.items() if topic.endswith(name)]
    return max(matches, key=lambda spec: len(spec.name), default=None)
