"""Wiring of the registry service."""

from pathlib import Path

from faststream.asgi import AsgiFastStream

from services.registry import api
from services.registry.handlers import RegistryHandlers
from services.registry.repository import PgRegistryStore, RegistryStore
from services.registry.settings import RegistrySettings
from shared import contracts
from shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: RegistrySettings | None = None) -> AsgiFastStream:
    settings = settings or RegistrySettings()
    # Handlers see the protocol (RegistryStore); the runtime makes the asyncpg one per transaction.
    runtime = ServiceRuntime[RegistryStore]("registry", settings, MIGRATIONS, store=PgRegistryStore)
    handlers = RegistryHandlers(settings)
    runtime.subscribe(contracts.REGISTRATION_SUBMITTED, handlers.on_registration_submitted)
    api.register(runtime, handlers.nik_key)
    return runtime.asgi_app()
