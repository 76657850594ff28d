"""`python -m simulators.bpjs [migrate]`: the simulated BPJS side, served like the services."""

from shared.runner import main
from simulators.bpjs.app import MIGRATIONS, SERVICE, create_app
from simulators.bpjs.settings import SimulatorSettings

main(SERVICE, SimulatorSettings, create_app, MIGRATIONS)
