from typing import Literal

from pydantic import Field

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    # NOTIFICATIONS_DATABASE_URL, or its parts NOTIFICATIONS_DB_HOST/_PORT/_NAME/_USER/_PASSWORD(_FILE).
    database_env_prefix = "NOTIFICATIONS"
    database_url: str = Field(
        "postgresql://notifications:notifications@127.0.0.1:5432/muba",
        validation_alias="NOTIFICATIONS_DATABASE_URL",
    )
    http_port: int = Field(8003, validation_alias="NOTIFICATIONS_HTTP_PORT")
    # Where the office (Disnakertrans Muba) is told about rejections.
    office_email: str = Field("disnakertrans@mubakab.go.id", validation_alias="NOTIFICATIONS_OFFICE_EMAIL")
    # How workers are reached: SMS, or WhatsApp where the programme has a WhatsApp Business sender.
    worker_channel: Literal["sms", "whatsapp"] = Field("sms", validation_alias="NOTIFICATIONS_WORKER_CHANNEL")

    # The sender (services/notifications/delivery.py). Empty gateway URL: the logging stand-in.
    gateway_url: str = Field("", validation_alias="NOTIFICATIONS_GATEWAY_URL")
    send_timeout_s: float = Field(10.0, gt=0, validation_alias="NOTIFICATIONS_SEND_TIMEOUT_S")
    # Attempts per message before it is closed as `failed` (with the base and ceiling below, about
    # a day of trying at the hourly ceiling); a refusal for good (HTTP 4xx) fails it at once.
    max_attempts: int = Field(30, ge=1, validation_alias="NOTIFICATIONS_MAX_ATTEMPTS")
    retry_base_delay_s: float = Field(30.0, gt=0, validation_alias="NOTIFICATIONS_RETRY_BASE_DELAY_S")
    retry_max_delay_s: float = Field(3600.0, gt=0, validation_alias="NOTIFICATIONS_RETRY_MAX_DELAY_S")
    # How long a claimed message is kept from other senders: longer than a send. A sender that
    # dies mid-send leaves its messages for this long; a clean stop hands them back at once.
    delivery_lease_s: float = Field(60.0, gt=0, validation_alias="NOTIFICATIONS_DELIVERY_LEASE_S")
    # Sends in flight at once per instance.
    delivery_concurrency: int = Field(50, ge=1, validation_alias="NOTIFICATIONS_DELIVERY_CONCURRENCY")
    # Where a company downloads its invoice's CSV (sponsorship's GET /api/invoices.csv, with its
    # company token): named in the invoice message, followed by ?invoice_id=<id>.
    invoice_csv_url: str = Field(
        "http://127.0.0.1:8002/api/invoices.csv", validation_alias="NOTIFICATIONS_INVOICE_CSV_URL"
    )

    # E-mail (services/notifications/smtp.py). Empty host: e-mails go the way of the other
    # channels (the provider gateway, or the logging stand-in).
    smtp_host: str = Field("", validation_alias="NOTIFICATIONS_SMTP_HOST")
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias="NOTIFICATIONS_SMTP_PORT")
    # starttls (submission, 587), tls (implicit TLS, 465) or none (a local relay, a test server).
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", validation_alias="NOTIFICATIONS_SMTP_SECURITY"
    )
    smtp_username: str | None = Field(None, validation_alias="NOTIFICATIONS_SMTP_USERNAME")
    smtp_password: str | None = Field(None, validation_alias="NOTIFICATIONS_SMTP_PASSWORD", repr=False)
    smtp_from: str = Field(
        "Program BPJS Ketenagakerjaan Muba <bpjs-muba@mubakab.go.id>",
        validation_alias="NOTIFICATIONS_SMTP_FROM",
    )

    # SMS and WhatsApp through a provider speaking Twilio's Messages API (services/notifications/
    # twilio.py). Empty account SID: SMS and WhatsApp go the way of the other channels.
    twilio_account_sid: str = Field("", validation_alias="NOTIFICATIONS_TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field("", validation_alias="NOTIFICATIONS_TWILIO_AUTH_TOKEN", repr=False)
    twilio_api_url: str = Field("https://api.twilio.com", validation_alias="NOTIFICATIONS_TWILIO_API_URL")
    # The programme's sender number (E.164) for SMS, and its WhatsApp Business number.
    twilio_sms_from: str = Field("", validation_alias="NOTIFICATIONS_TWILIO_SMS_FROM")
    twilio_whatsapp_from: str = Field("", validation_alias="NOTIFICATIONS_TWILIO_WHATSAPP_FROM")
    # Where the provider posts its delivery receipts, as it reaches this service from outside
    # (…/receipts/twilio); the receipts' signatures are made over exactly this URL. Empty: no
    # receipts are asked for, and SMS/WhatsApp stay `sent`.
    receipt_url: str = Field("", validation_alias="NOTIFICATIONS_RECEIPT_URL")

    # Webhooks to companies (services/notifications/webhooks.py): signed POSTs to each company's
    # URL. Off: webhooks go the way of the other channels (the provider gateway or the log).
    webhook_delivery: bool = Field(False, validation_alias="NOTIFICATIONS_WEBHOOK_DELIVERY")
    # The key the companies' secrets are derived from; empty: $MUBA_SECRETS_DIR/notifications/
    # webhook-key, which `make infra-up` and deploy/compose/secrets.sh make. Keep it: a new key
    # gives every company a new secret.
    webhook_key_file: str | None = Field(None, validation_alias="NOTIFICATIONS_WEBHOOK_KEY_FILE")
