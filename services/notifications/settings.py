from typing import Literal

from pydantic import Field

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    database_url: str = Field(
        "postgresql://notifications:notifications@127.0.0.1:5432/muba",
        validation_alias="NOTIFICATIONS_DATABASE_URL",
    )
    http_port: int = Field(8003, validation_alias="NOTIFICATIONS_HTTP_PORT")
    # Where the office (Disnakertrans Muba) is told about rejections.
    office_email: str = Field("disnakertrans@mubakab.go.id", validation_alias="NOTIFICATIONS_OFFICE_EMAIL")
    # How workers are reached: SMS, or WhatsApp where the programme has a WhatsApp Business sender.
    worker_channel: Literal["sms", "whatsapp"] = Field("sms", validation_alias="NOTIFICATIONS_WORKER_CHANNEL")
