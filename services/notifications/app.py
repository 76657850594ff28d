"""Wiring of the notifications service."""

from pathlib import Path

from faststream.asgi import AsgiFastStream

from services.notifications import api, receipts
from services.notifications.delivery import (
    ChannelGateway,
    DeliveryWorker,
    Gateway,
    HttpGateway,
    LoggingGateway,
)
from services.notifications.handlers import NotificationsHandlers
from services.notifications.repository import NotificationsStore, PgNotificationsStore
from services.notifications.settings import NotificationsSettings
from services.notifications.smtp import AttachmentSource, SmtpGateway
from services.notifications.twilio import TwilioGateway
from services.notifications.webhooks import WebhookGateway, load_key
from shared import contracts
from shared.http_access import office_token
from shared.kafka_security import secrets_dir
from shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: NotificationsSettings | None = None, gateway: Gateway | None = None
) -> AsgiFastStream:
    settings = settings or NotificationsSettings()
    runtime: ServiceRuntime[NotificationsStore] = ServiceRuntime(
        "notifications", settings, MIGRATIONS, store=PgNotificationsStore
    )
    handlers = NotificationsHandlers(settings)
    runtime.subscribe(contracts.REGISTRATION_REJECTED, handlers.on_registration_rejected)
    runtime.subscribe(contracts.WORKER_WAITLISTED, handlers.on_worker_waitlisted)
    runtime.subscribe(contracts.ENROLLMENT_COMPLETED, handlers.on_enrollment_completed)
    runtime.subscribe(contracts.ENROLLMENT_FAILED, handlers.on_enrollment_failed)
    runtime.subscribe(contracts.INVOICE_ISSUED, handlers.on_invoice_issued)
    runtime.subscribe(contracts.INVOICE_REMINDER, handlers.on_invoice_reminder)
    runtime.subscribe(contracts.COVERAGE_ENDING, handlers.on_coverage_ending)
    runtime.subscribe(contracts.COVERAGE_EXTENDED, handlers.on_coverage_extended)
    runtime.subscribe(contracts.COVERAGE_ENDED, handlers.on_coverage_ended)
    webhook_key = load_key(settings.webhook_key_file, secrets_dir()) if settings.webhook_delivery else None
    if gateway is None:
        gateway = _gateway(settings, runtime, webhook_key)
    runtime.add_background(
        DeliveryWorker(
            lambda: runtime.pool,
            gateway,
            batch_size=settings.delivery_concurrency,
            send_timeout_s=settings.send_timeout_s,
            lease_s=settings.delivery_lease_s,
            max_attempts=settings.max_attempts,
            retry_base_delay_s=settings.retry_base_delay_s,
            retry_max_delay_s=settings.retry_max_delay_s,
            topic_prefix=settings.topic_prefix,
        )
    )
    api.register(runtime, webhook_key)
    if settings.twilio_account_sid and settings.receipt_url:
        runtime.callback(
            receipts.TWILIO_PATH,
            receipts.twilio_receipts(
                lambda: runtime.pool,
                auth_token=settings.twilio_auth_token,
                receipt_url=settings.receipt_url,
                topic_prefix=settings.topic_prefix,
            ),
        )
    return runtime.asgi_app()


def _gateway(
    settings: NotificationsSettings, runtime: ServiceRuntime[NotificationsStore], webhook_key: bytes | None
) -> Gateway:
    """The provider gateway (NOTIFICATIONS_GATEWAY_URL) or the logging stand-in for every channel;
    SMTP for e-mail when NOTIFICATIONS_SMTP_HOST is set, Twilio's API for SMS and WhatsApp when
    NOTIFICATIONS_TWILIO_ACCOUNT_SID is, signed webhooks when NOTIFICATIONS_WEBHOOK_DELIVERY is on.
    Each is started before the sender and closed after it."""
    default: Gateway = LoggingGateway()
    if settings.gateway_url:
        http = HttpGateway(settings.gateway_url, timeout_s=settings.send_timeout_s)
        runtime.add_background(http)
        default = http
    by_channel: dict[str, Gateway] = {}
    if settings.smtp_host:
        # An invoice's CSV is read from sponsorship with the office's token (the one this
        # service's own API admits), as the office would download it.
        token = office_token(settings.operator_token, settings.operator_token_file, settings.api_tokens_file)
        by_channel["email"] = SmtpGateway(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_s=settings.send_timeout_s,
            attachments=AttachmentSource(token, settings.send_timeout_s) if token else None,
        )
    if settings.twilio_account_sid:
        messaging = TwilioGateway(
            api_url=settings.twilio_api_url,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            sms_from=settings.twilio_sms_from,
            whatsapp_from=settings.twilio_whatsapp_from,
            status_callback_url=settings.receipt_url or None,
            timeout_s=settings.send_timeout_s,
        )
        runtime.add_background(messaging)
        by_channel["sms"] = by_channel["whatsapp"] = messaging
    if webhook_key is not None:
        webhooks = WebhookGateway(webhook_key, timeout_s=settings.send_timeout_s)
        runtime.add_background(webhooks)
        by_channel["webhook"] = webhooks
    return ChannelGateway(default, by_channel) if by_channel else default
