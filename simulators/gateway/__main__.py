"""`python -m simulators.gateway`: the provider gateway stand-in until SIGTERM/SIGINT."""

import uvicorn

from shared.logging import setup_logging
from simulators.gateway.settings import GatewaySimulatorSettings
from simulators.gateway.simulator import SERVICE, GatewaySimulator


def main() -> None:
    settings = GatewaySimulatorSettings()
    setup_logging(SERVICE, settings.log_level)
    uvicorn.run(
        GatewaySimulator(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
