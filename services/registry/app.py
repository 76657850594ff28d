"""Wiring of the registry service."""

from pathlib import Path

from faststream.asgi import AsgiFastStream

from services.registry import api
from services.registry.handlers import RegistryHandlers
from services.registry.settings import RegistrySettings
from shared import topics
from shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: RegistrySettings | None = None) -> AsgiFastStream:
    settings = settings or RegistrySettings()
    runtime = ServiceRuntime("registry", settings, MIGRATIONS)
    handlers = RegistryHandlers(settings)
    runtime.subscribe(
        topics.REGISTRATION_SUBMITTED,
        handlers.on_registration_submitted,
        every_partner=True,
        description="Registrations from each partner's own intake topic"
        " (registry.registration-submitted.v1.<partner>; the partner is the source).",
    )
    api.register(runtime)
    return runtime.asgi_app()
