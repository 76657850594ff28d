"""Wiring of the BPJS simulator: the services' runtime (shared/runtime.py) with one subscriber."""

from pathlib import Path

from faststream.asgi import AsgiFastStream

from shared import contracts
from shared.runtime import ServiceRuntime, conn_store
from simulators.bpjs.handlers import BpjsHandlers
from simulators.bpjs.settings import SimulatorSettings

SERVICE = "bpjs-simulator"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: SimulatorSettings | None = None) -> AsgiFastStream:
    settings = settings or SimulatorSettings()
    runtime = ServiceRuntime(SERVICE, settings, MIGRATIONS, store=conn_store)
    handlers = BpjsHandlers(settings.rules())
    runtime.subscribe(
        contracts.ENROLLMENT_REQUESTED, handlers.on_enrollment_requested, group_id=settings.group_id
    )
    return runtime.asgi_app()
