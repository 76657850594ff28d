"""`python -m simulators.bpjs`: the simulated BPJS side until SIGTERM/SIGINT."""

import asyncio
import signal

from shared.logging import setup_logging
from simulators.bpjs.settings import SimulatorSettings
from simulators.bpjs.simulator import SERVICE, BpjsSimulator


async def serve(settings: SimulatorSettings) -> None:
    simulator = BpjsSimulator(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, simulator.request_stop)
    await simulator.run()


def main() -> None:
    settings = SimulatorSettings()
    setup_logging(SERVICE, settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
