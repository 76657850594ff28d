"""Wiring of the notifications service."""

from pathlib import Path

from faststream.asgi import AsgiFastStream

from services.notifications.delivery import DeliveryWorker, Gateway, LoggingGateway
from services.notifications.handlers import NotificationsHandlers
from services.notifications.settings import NotificationsSettings
from shared import topics
from shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: NotificationsSettings | None = None, gateway: Gateway | None = None
) -> AsgiFastStream:
    settings = settings or NotificationsSettings()
    runtime = ServiceRuntime("notifications", settings, MIGRATIONS)
    handlers = NotificationsHandlers(settings)
    subscriptions = (
        (topics.REGISTRATION_REJECTED, handlers.on_registration_rejected),
        (topics.WORKER_WAITLISTED, handlers.on_worker_waitlisted),
        (topics.ENROLLMENT_COMPLETED, handlers.on_enrollment_completed),
        (topics.ENROLLMENT_FAILED, handlers.on_enrollment_failed),
    )
    # One consumer group per topic: every subscriber is a Kafka consumer of its own, and four
    # consumers in one group would share one static member id (INSTANCE_ID) and every rebalance.
    for topic, handler in subscriptions:
        runtime.subscribe(topic, handler, group_id=f"notifications.{topic}")
    app = runtime.asgi_app()

    # The runtime's lifespan has opened the pool before FastStream's startup hooks run and
    # closes it after the shutdown hooks: the sender lives in between.
    delivery = DeliveryWorker(lambda: runtime.pool, gateway or LoggingGateway())

    async def start_delivery() -> None:
        runtime.pool  # noqa: B018 - fails loudly if the pool is not open yet
        delivery.start()

    async def stop_delivery() -> None:
        await delivery.stop()

    app.on_startup(start_delivery)
    app.on_shutdown(stop_delivery)
    return app
