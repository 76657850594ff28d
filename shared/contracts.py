"""The contract registry: every event the programme exchanges, declared once.

A contract names an event's topic, model, name, version, producer, consumers and Kafka key. Everything
else is derived from it: the topic catalogue and the ACLs (shared/topics.py, shared/access.py), what
a handler publishes (`MessageContext.publish(event)` finds the contract by the event's class),
what a consumer parses (`MessageContext.event`), the version check on a consumed event, and the
AsyncAPI documents (shared/asyncapi.py). No other module spells an event's name.

    topic      = "<area>.<name>.v<version>"   e.g. registry.worker-registered.v1
    event type = "id.go.mubakab.disnaker.<name>.v<version>"   (CloudEvents `type`)

A breaking change to a payload is a new contract with the next version (and so a new topic).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Generic, Literal, TypeVar

from shared.envelope import event_type
from shared.events import EventModel
from shared.events.bpjs import (
    ContributionConfirmed,
    ContributionPaid,
    EnrollmentConfirmed,
    EnrollmentRejected,
    EnrollmentRequested,
)
from shared.events.feed import FeedCoverageEnded, FeedWorkerEnrolled, FeedWorkerWaitlisted
from shared.events.notifications import (
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationStored,
)
from shared.events.registry import (
    RegistrationRejected,
    RegistrationSubmitted,
    WorkerFundedElsewhere,
    WorkerRegistered,
)
from shared.events.sponsorship import (
    CommitmentAccepted,
    CommitmentExtended,
    CommitmentExtensionRejected,
    CommitmentExtensionSubmitted,
    CommitmentRejected,
    CommitmentSubmitted,
    CoverageEnded,
    CoverageEnding,
    CoverageExtended,
    CoverageReported,
    EnrollmentCompleted,
    EnrollmentFailed,
    InvoiceIssued,
    InvoiceReminder,
    PaymentRecorded,
    PaymentRejected,
    PaymentSubmitted,
    SponsorMatched,
    WorkerWaitlisted,
)

E = TypeVar("E", bound=EventModel)

# Who puts events on a topic: a service of ours, the BPJS side (simulated here by the service
# `bpjs-simulator`), or the partners and the office (partner-facing topics, plain JSON accepted).
Producer = Literal["registry", "sponsorship", "notifications", "bpjs-simulator", "partner"]

# CloudEvents `source` of what each producer of ours publishes.
SOURCES: Final[dict[str, str]] = {
    "registry": "/muba/registry",
    "sponsorship": "/muba/sponsorship",
    "notifications": "/muba/notifications",
    "bpjs-simulator": "/bpjs-ketenagakerjaan/kc-musi-banyuasin",
}

WORKER_KEY: Final = "The worker's `worker_id` (UUID): all of a worker's events share a partition, in order."


@dataclass(frozen=True, slots=True)
class Deprecation:
    """A version on its way out: still published, side by side with its successor, until `until`
    (then removed); subscribers move to `superseded_by` (an event name, `<name>.v<N>`)."""

    superseded_by: str
    until: date
    why: str


@dataclass(frozen=True, slots=True)
class Contract(Generic[E]):
    """One event type on one topic."""

    area: str  # the topic's first part: the service whose vocabulary the event belongs to
    name: str
    version: int
    model: type[E]
    producer: Producer
    consumers: tuple[str, ...]
    key_of: Callable[[E], str | None]
    key_doc: str
    key_format: str | None = None
    # Partners write it on a topic of their own, `<topic>.<partner>` (shared/topics.intake_topic).
    per_partner: bool = False
    deprecation: Deprecation | None = None
    # The CloudEvents type names the area too (`<area>.<name>.v<N>`): the feed's events share
    # their names with the internal events they are made from.
    typed_by_area: bool = False

    @property
    def topic(self) -> str:
        return f"{self.area}.{self.name}.v{self.version}"

    @property
    def event_name(self) -> str:
        return f"{self.name}.v{self.version}"

    @property
    def event_type(self) -> str:
        return event_type(f"{self.area}.{self.event_name}" if self.typed_by_area else self.event_name)

    @property
    def partner_facing(self) -> bool:
        return self.producer == "partner"

    @property
    def source(self) -> str | None:
        """The CloudEvents `source` of events we publish on it (None: partners give their own)."""
        return SOURCES.get(self.producer)

    def key(self, event: E) -> str | None:
        return self.key_of(event)


def _worker(event: Any) -> str:
    return str(event.worker_id)


def _commitment(event: Any) -> str | None:
    return event.commitment_id  # type: ignore[no-any-return]


def _rejected_submission(event: RegistrationRejected) -> str:
    return f"{event.source}/{event.submission_id}"


def _notification(
    event: NotificationStored | NotificationSent | NotificationDelivered | NotificationFailed,
) -> str:
    return event.worker_id or event.submission or event.notification_id


def _no_key(event: Any) -> None:
    return None


def _company(event: Any) -> str | None:
    return event.company_id  # type: ignore[no-any-return]


COMPANY_KEY: Final = "The `company_id`: a company's invoices and payments share a partition, in order."


REGISTRATION_SUBMITTED: Final = Contract(
    "registry",
    "registration-submitted",
    1,
    RegistrationSubmitted,
    "partner",
    ("registry",),
    _no_key,
    "Optional and not read: the registry recognises a repeated submission by `source` + `submission_id`.",
    per_partner=True,
)
COMMITMENT_SUBMITTED: Final = Contract(
    "sponsorship",
    "commitment-submitted",
    1,
    CommitmentSubmitted,
    "partner",
    ("sponsorship",),
    _commitment,
    "Optional and not read: sponsorship recognises a repeated commitment by `commitment_id`.",
)
WORKER_REGISTERED: Final = Contract(
    "registry",
    "worker-registered",
    1,
    WorkerRegistered,
    "registry",
    ("sponsorship",),
    _worker,
    WORKER_KEY,
    "uuid",
)
REGISTRATION_REJECTED: Final = Contract(
    "registry",
    "registration-rejected",
    1,
    RegistrationRejected,
    "registry",
    ("notifications",),
    _rejected_submission,
    "`<source>/<submission_id>` of the rejected submission.",
)
WORKER_FUNDED_ELSEWHERE: Final = Contract(
    "registry",
    "worker-funded-elsewhere",
    1,
    WorkerFundedElsewhere,
    "registry",
    ("sponsorship",),
    _worker,
    WORKER_KEY,
    "uuid",
)
COMMITMENT_ACCEPTED: Final = Contract(
    "sponsorship",
    "commitment-accepted",
    1,
    CommitmentAccepted,
    "sponsorship",
    (),
    _commitment,
    "The `commitment_id`.",
)
COMMITMENT_REJECTED: Final = Contract(
    "sponsorship",
    "commitment-rejected",
    1,
    CommitmentRejected,
    "sponsorship",
    (),
    _commitment,
    "The `commitment_id` (none when the submission had none).",
)
SPONSOR_MATCHED: Final = Contract(
    "sponsorship", "sponsor-matched", 1, SponsorMatched, "sponsorship", (), _worker, WORKER_KEY, "uuid"
)
WORKER_WAITLISTED: Final = Contract(
    "sponsorship",
    "worker-waitlisted",
    1,
    WorkerWaitlisted,
    "sponsorship",
    ("notifications",),
    _worker,
    WORKER_KEY,
    "uuid",
)
ENROLLMENT_REQUESTED: Final = Contract(
    "bpjs",
    "enrollment-requested",
    1,
    EnrollmentRequested,
    "sponsorship",
    ("bpjs-simulator",),
    _worker,
    WORKER_KEY,
    "uuid",
)
ENROLLMENT_CONFIRMED: Final = Contract(
    "bpjs",
    "enrollment-confirmed",
    1,
    EnrollmentConfirmed,
    "bpjs-simulator",
    ("sponsorship",),
    _worker,
    WORKER_KEY,
    "uuid",
)
ENROLLMENT_REJECTED: Final = Contract(
    "bpjs",
    "enrollment-rejected",
    1,
    EnrollmentRejected,
    "bpjs-simulator",
    ("sponsorship",),
    _worker,
    WORKER_KEY,
    "uuid",
)
ENROLLMENT_COMPLETED: Final = Contract(
    "sponsorship",
    "enrollment-completed",
    1,
    EnrollmentCompleted,
    "sponsorship",
    ("notifications",),
    _worker,
    WORKER_KEY,
    "uuid",
)
ENROLLMENT_FAILED: Final = Contract(
    "sponsorship",
    "enrollment-failed",
    1,
    EnrollmentFailed,
    "sponsorship",
    ("notifications",),
    _worker,
    WORKER_KEY,
    "uuid",
)
# Invoices and payments: notifications tells the company of its invoice (sponsorship will
# consume PAYMENT_SUBMITTED).
INVOICE_ISSUED: Final = Contract(
    "sponsorship",
    "invoice-issued",
    1,
    InvoiceIssued,
    "sponsorship",
    ("notifications",),
    _company,
    COMPANY_KEY,
)
# One topic, written by the office (the `operator` principal, `muba payments record`) on a
# company's behalf: no company writes it, so none can pay "for" another (shared/access.py).
PAYMENT_SUBMITTED: Final = Contract(
    "sponsorship",
    "payment-submitted",
    1,
    PaymentSubmitted,
    "partner",
    ("sponsorship",),
    _company,
    "Optional and not read: sponsorship recognises a repeated payment by `company_id` + `reference`.",
)
PAYMENT_RECORDED: Final = Contract(
    "sponsorship", "payment-recorded", 1, PaymentRecorded, "sponsorship", (), _company, COMPANY_KEY
)
PAYMENT_REJECTED: Final = Contract(
    "sponsorship",
    "payment-rejected",
    1,
    PaymentRejected,
    "sponsorship",
    (),
    _company,
    "The `company_id` (none when the submission had none).",
)
# Keyed by worker, as the enrollment's events: a worker's months (of every enrollment, whose KPJ
# number may differ) stay in order on one partition.
CONTRIBUTION_PAID: Final = Contract(
    "bpjs",
    "contribution-paid",
    1,
    ContributionPaid,
    "sponsorship",
    ("bpjs-simulator",),
    _worker,
    WORKER_KEY,
    "uuid",
)
CONTRIBUTION_CONFIRMED: Final = Contract(
    "bpjs",
    "contribution-confirmed",
    1,
    ContributionConfirmed,
    "bpjs-simulator",
    ("sponsorship",),
    _worker,
    WORKER_KEY,
    "uuid",
)
INVOICE_REMINDER: Final = Contract(
    "sponsorship",
    "invoice-reminder",
    1,
    InvoiceReminder,
    "sponsorship",
    ("notifications",),
    _company,
    COMPANY_KEY,
)
# Renewals, like payments, are written by the office on a company's behalf.
COMMITMENT_EXTENSION_SUBMITTED: Final = Contract(
    "sponsorship",
    "commitment-extension-submitted",
    1,
    CommitmentExtensionSubmitted,
    "partner",
    ("sponsorship",),
    _commitment,
    "Optional and not read: sponsorship recognises a repeated renewal by `commitment_id` + `reference`.",
)
COMMITMENT_EXTENDED: Final = Contract(
    "sponsorship",
    "commitment-extended",
    1,
    CommitmentExtended,
    "sponsorship",
    (),
    _commitment,
    "The `commitment_id`.",
)
COMMITMENT_EXTENSION_REJECTED: Final = Contract(
    "sponsorship",
    "commitment-extension-rejected",
    1,
    CommitmentExtensionRejected,
    "sponsorship",
    (),
    _commitment,
    "The `commitment_id` (none when the submission had none).",
)
COVERAGE_ENDING: Final = Contract(
    "sponsorship",
    "coverage-ending",
    1,
    CoverageEnding,
    "sponsorship",
    ("notifications",),
    _worker,
    WORKER_KEY,
    "uuid",
)
COVERAGE_EXTENDED: Final = Contract(
    "sponsorship",
    "coverage-extended",
    1,
    CoverageExtended,
    "sponsorship",
    ("notifications",),
    _worker,
    WORKER_KEY,
    "uuid",
)
COVERAGE_ENDED: Final = Contract(
    "sponsorship",
    "coverage-ended",
    1,
    CoverageEnded,
    "sponsorship",
    ("notifications",),
    _worker,
    WORKER_KEY,
    "uuid",
)
COVERAGE_REPORTED: Final = Contract(
    "sponsorship",
    "coverage-reported",
    1,
    CoverageReported,
    "sponsorship",
    (),
    _no_key,
    "None: one record a day, read in order of the day.",
)
# The public outcome feed (shared/events/feed.py): no personal data, read by subscribers outside
# the programme (the Kafka principal `subscriber`, shared/access.py), who may read nothing else;
# no service of ours consumes it.
FEED_KEY: Final = "The `worker_ref` (a pseudonym): all of a worker's feed events share a partition, in order."


def _worker_ref(event: Any) -> str:
    return str(event.worker_ref)


FEED_WORKER_ENROLLED: Final = Contract(
    "feed",
    "worker-enrolled",
    1,
    FeedWorkerEnrolled,
    "sponsorship",
    (),
    _worker_ref,
    FEED_KEY,
    typed_by_area=True,
)
FEED_WORKER_WAITLISTED: Final = Contract(
    "feed",
    "worker-waitlisted",
    1,
    FeedWorkerWaitlisted,
    "sponsorship",
    (),
    _worker_ref,
    FEED_KEY,
    typed_by_area=True,
)
FEED_COVERAGE_ENDED: Final = Contract(
    "feed",
    "coverage-ended",
    1,
    FeedCoverageEnded,
    "sponsorship",
    (),
    _worker_ref,
    FEED_KEY,
    typed_by_area=True,
)
FEED: Final = (FEED_WORKER_ENROLLED, FEED_WORKER_WAITLISTED, FEED_COVERAGE_ENDED)

NOTIFICATION_KEY: Final = "The `worker_id`, or `<source>/<submission_id>` for a rejected registration."
# The way out of a message (shared/events/notifications.py): stored, accepted by the provider,
# delivered or failed. v1 of notification-sent meant "stored for sending"; it stays for the
# deprecation period (README, "Versions and deprecation") beside v2, which means "accepted".
NOTIFICATION_SENT_V1: Final = Contract(
    "notifications",
    "notification-sent",
    1,
    NotificationStored,
    "notifications",
    (),
    _notification,
    NOTIFICATION_KEY,
    deprecation=Deprecation(
        "notification-sent.v2",
        date(2027, 6, 30),
        "v1 is published when a message is stored for sending, before any provider saw it; v2 when"
        " the provider accepted it (notification-delivered.v1 and notification-failed.v1 follow).",
    ),
)
NOTIFICATION_SENT: Final = Contract(
    "notifications",
    "notification-sent",
    2,
    NotificationSent,
    "notifications",
    (),
    _notification,
    NOTIFICATION_KEY,
)
NOTIFICATION_DELIVERED: Final = Contract(
    "notifications",
    "notification-delivered",
    1,
    NotificationDelivered,
    "notifications",
    (),
    _notification,
    NOTIFICATION_KEY,
)
NOTIFICATION_FAILED: Final = Contract(
    "notifications",
    "notification-failed",
    1,
    NotificationFailed,
    "notifications",
    (),
    _notification,
    NOTIFICATION_KEY,
)

# In the order of the flow (the documents list channels in this order).
CONTRACTS: Final[tuple[Contract[Any], ...]] = (
    REGISTRATION_SUBMITTED,
    COMMITMENT_SUBMITTED,
    WORKER_REGISTERED,
    REGISTRATION_REJECTED,
    WORKER_FUNDED_ELSEWHERE,
    COMMITMENT_ACCEPTED,
    COMMITMENT_REJECTED,
    SPONSOR_MATCHED,
    WORKER_WAITLISTED,
    ENROLLMENT_REQUESTED,
    ENROLLMENT_CONFIRMED,
    ENROLLMENT_REJECTED,
    ENROLLMENT_COMPLETED,
    ENROLLMENT_FAILED,
    INVOICE_ISSUED,
    PAYMENT_SUBMITTED,
    PAYMENT_RECORDED,
    PAYMENT_REJECTED,
    CONTRIBUTION_PAID,
    CONTRIBUTION_CONFIRMED,
    INVOICE_REMINDER,
    COMMITMENT_EXTENSION_SUBMITTED,
    COMMITMENT_EXTENDED,
    COMMITMENT_EXTENSION_REJECTED,
    COVERAGE_ENDING,
    COVERAGE_EXTENDED,
    COVERAGE_ENDED,
    COVERAGE_REPORTED,
    NOTIFICATION_SENT_V1,
    NOTIFICATION_SENT,
    NOTIFICATION_DELIVERED,
    NOTIFICATION_FAILED,
    *FEED,
)
_BY_MODEL: Final[dict[type[EventModel], Contract[Any]]] = {c.model: c for c in CONTRACTS}
_BY_TOPIC: Final[dict[str, Contract[Any]]] = {c.topic: c for c in CONTRACTS}
_BY_TYPE: Final[dict[str, Contract[Any]]] = {c.event_type: c for c in CONTRACTS}


def of(event: E) -> Contract[E]:
    """The contract of an event (by its model class): what `publish` derives topic, key and type from."""
    try:
        return _BY_MODEL[type(event)]
    except KeyError:
        raise TypeError(f"{type(event).__name__} is not the model of any contract") from None


def by_topic(topic: str) -> Contract[Any] | None:
    """The contract of a topic named without TOPIC_PREFIX (a partner's intake included)."""
    found = _BY_TOPIC.get(topic)
    if found is not None:
        return found
    head, _, partner = topic.rpartition(".")
    per_partner = _BY_TOPIC.get(head)
    return per_partner if per_partner is not None and per_partner.per_partner and partner else None


def by_event_type(event_type: str) -> Contract[Any] | None:
    return _BY_TYPE.get(event_type)


def published_by(service: str) -> tuple[Contract[Any], ...]:
    return tuple(c for c in CONTRACTS if c.producer == service)


def consumed_by(service: str) -> tuple[Contract[Any], ...]:
    return tuple(c for c in CONTRACTS if service in c.consumers)


def _check(contracts: tuple[Contract[Any], ...]) -> None:
    """One model per contract and one contract per topic and type: what `of` and `by_topic` need."""
    for found, what in ((_BY_MODEL, "model"), (_BY_TOPIC, "topic"), (_BY_TYPE, "event type")):
        if len(found) != len(contracts):
            raise RuntimeError(f"two contracts share a {what}")


_check(CONTRACTS)
