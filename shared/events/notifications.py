"""Events of the notifications service."""

from datetime import datetime
from typing import Literal

from shared.events import EventModel


class NotificationSent(EventModel):
    """`notifications.notification-sent.v1`, key = worker_id (or the submission for rejections)."""

    notification_id: str
    worker_id: str | None
    template: str
    audience: Literal["worker", "company", "office"]
    channel: Literal["sms", "whatsapp", "email", "webhook"]
    recipient_masked: str
    sent_at: datetime
