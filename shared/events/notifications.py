"""Events of the notifications service."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events import EventModel


class NotificationSent(EventModel):
    """`notifications.notification-sent.v1`, key = worker_id (or the submission for rejections)."""

    notification_id: str
    worker_id: str | None
    # The rejected submission a message is about (a registration rejected has no worker yet).
    submission: str | None = Field(
        default=None, description="`<source>/<submission_id>` of a rejected registration, else none"
    )
    template: str
    audience: Literal["worker", "company", "office"]
    channel: Literal["sms", "whatsapp", "email", "webhook"]
    recipient_masked: str
    sent_at: datetime
