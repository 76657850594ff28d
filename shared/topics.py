"""Kafka topic names: the public contract. A breaking change to a payload means a new `.vN` topic."""

from typing import Final

# Partner-facing: partner systems and companies publish plain JSON here, no headers required.
REGISTRATION_SUBMITTED: Final = "registry.registration-submitted.v1"
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


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX
