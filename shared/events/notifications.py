"""Events of the notifications service."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events import EventModel

# Who a notification is for, and how it leaves.
Audience = Literal["worker", "company", "office"]
Channel = Literal["sms", "whatsapp", "email", "webhook"]


class NotificationSent(EventModel):
    """A message was stored for sending (the delivery worker hands it to the gateway)."""

    notification_id: str
    worker_id: str | None
    # The rejected submission a message is about (a registration rejected has no worker yet).
    submission: str | None = Field(
        default=None, description="`<source>/<submission_id>` of a rejected registration, else none"
    )
    template: str
    audience: Audience
    channel: Channel
    recipient_masked: str
    sent_at: datetime
