"""Wiring of the BPJS simulator: the services' runtime (shared/runtime.py), enrollment requests and
paid contributions in."""

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
    # A group of its own (within the principal's `bpjs-simulator*`): a consumer joining one
    # subscription does not rebalance the other.
    runtime.subscribe(
        contracts.CONTRIBUTION_PAID,
        handlers.on_contribution_paid,
        group_id=f"{settings.group_id}.{contracts.CONTRIBUTION_PAID.topic}",
    )
    return runtime.asgi_app()
