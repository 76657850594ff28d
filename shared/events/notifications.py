"""Events of the notifications service.

A message's way out, one event per step (each keyed like the others, so a subscriber sees a
worker's messages in order):

    notification-sent.v1       stored for sending (deprecated: its old meaning, kept until the
                               date shared/contracts.py names, then removed)
    notification-sent.v2       the provider accepted the message (SMTP server, SMS/WhatsApp
                               provider, the company's webhook receiver)
    notification-delivered.v1  it reached the recipient: the provider's delivery receipt, or the
                               company's own receiver answered 2xx to its webhook
    notification-failed.v1     it never will: refused for good, out of attempts, or the receipt
                               says it could not be delivered
"""

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events import EventModel

# Who a notification is for, and how it leaves.
Audience = Literal["worker", "company", "office"]
Channel = Literal["sms", "whatsapp", "email", "webhook"]
# Who took the message from us: the SMTP server, the SMS/WhatsApp provider (Twilio's API), the
# company's webhook receiver, the generic provider gateway, or nobody (the logging stand-in).
Provider = Literal["smtp", "twilio", "webhook", "gateway", "log"]
FailedStage = Literal["refused", "exhausted", "undelivered"]

_SUBMISSION = Field(
    default=None, description="`<source>/<submission_id>` of a rejected registration, else none"
)


class NotificationStored(EventModel):
    """Deprecated: a message was stored for sending; it says nothing of whether it left. Its
    successor says the provider accepted it; the delivered and failed events follow that."""

    notification_id: str
    worker_id: str | None
    # The rejected submission a message is about (a registration rejected has no worker yet).
    submission: str | None = _SUBMISSION
    template: str
    audience: Audience
    channel: Channel
    recipient_masked: str
    sent_at: datetime = Field(description="When the message was stored for sending (not when it left).")


class NotificationSent(EventModel):
    """The provider accepted the message: it left the programme."""

    notification_id: str
    worker_id: str | None
    submission: str | None = _SUBMISSION
    template: str
    audience: Audience
    channel: Channel
    recipient_masked: str
    provider: Provider
    provider_message_id: str | None = Field(
        description="The provider's id of the message (Twilio's SID, the e-mail's Message-ID), if it gave one."
    )
    sms_segments: int | None = Field(
        description="SMS segments billed (GSM-7: 160 a message, 153 each when concatenated; UCS-2: 70/67)."
    )
    attempts: int = Field(ge=1, description="The attempt the provider accepted (1 = the first).")
    sent_at: datetime = Field(description="When the provider accepted it (UTC).")


class NotificationDelivered(EventModel):
    """The message reached the recipient (the provider's receipt, or the receiver's own 2xx)."""

    notification_id: str
    worker_id: str | None
    submission: str | None = _SUBMISSION
    template: str
    audience: Audience
    channel: Channel
    provider: Provider
    provider_message_id: str | None
    delivered_at: datetime = Field(description="When the receipt (or the receiver's answer) came (UTC).")


class NotificationFailed(EventModel):
    """The message will not reach the recipient: the final state, with the reason (addresses masked)."""

    notification_id: str
    worker_id: str | None
    submission: str | None = _SUBMISSION
    template: str
    audience: Audience
    channel: Channel
    provider: Provider | None = Field(
        description="Who refused or reported it; none when no provider answered."
    )
    stage: FailedStage = Field(
        description="refused: by the provider, for good; exhausted: no acceptance after the last attempt;"
        " undelivered: accepted, then the provider's receipt said it could not be delivered."
    )
    reason: str = Field(max_length=500)
    attempts: int = Field(ge=0)
    failed_at: datetime
