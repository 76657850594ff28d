"""Start and stop the whole stack's processes (the three services and the BPJS simulator, and the
dashboard over their APIs) on this machine: used by `make demo`, `make up`, the end-to-end tests,
the chaos run and the benchmark."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("registry", "sponsorship", "notifications")
# The processes built on shared/runtime.py: /readyz, /stats and /metrics, a schema each.
ON_THE_RUNTIME = (*SERVICES, "bpjs-simulator")
MODULES = {
    "registry": "services.registry",
    "sponsorship": "services.sponsorship",
    "notifications": "services.notifications",
    "bpjs-simulator": "simulators.bpjs",
    # The SMS/e-mail/webhook providers' stand-in (the chaos campaign reads what it recorded).
    "gateway": "simulators.gateway",
    # The office's and the companies' web pages, over the services' APIs (no Kafka, no database).
    "dashboard": "services.dashboard",
}
# What `start_all` starts: the services and the BPJS side.
STACK = ("registry", "sponsorship", "notifications", "bpjs-simulator")
PORT_VARIABLES = {
    "registry": "REGISTRY_HTTP_PORT",
    "sponsorship": "SPONSORSHIP_HTTP_PORT",
    "notifications": "NOTIFICATIONS_HTTP_PORT",
    "bpjs-simulator": "BPJS_SIMULATOR_HTTP_PORT",
    "gateway": "GATEWAY_SIMULATOR_HTTP_PORT",
    "dashboard": "DASHBOARD_PORT",
}
# The variables the dashboard finds each service's API by (the CLI's too).
API_URL_VARIABLES = {
    "registry": "REGISTRY_URL",
    "sponsorship": "SPONSORSHIP_URL",
    "notifications": "NOTIFICATIONS_URL",
}


class UsualPorts(BaseSettings):
    """The ports of `make up` and `make demo` (the first instance of each), from the variable each
    process reads for its own port; read when a stack starts a process, never at import."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    registry: int = Field(8001, validation_alias=PORT_VARIABLES["registry"])
    sponsorship: int = Field(8002, validation_alias=PORT_VARIABLES["sponsorship"])
    notifications: int = Field(8003, validation_alias=PORT_VARIABLES["notifications"])
    bpjs_simulator: int = Field(8004, validation_alias=PORT_VARIABLES["bpjs-simulator"])
    gateway: int = Field(8005, validation_alias=PORT_VARIABLES["gateway"])
    dashboard: int = Field(8007, validation_alias=PORT_VARIABLES["dashboard"])

    def of(self, name: str) -> int:
        return int(getattr(self, name.replace("-", "_")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    name: str
    instance: int
    port: int
    popen: subprocess.Popen[bytes]
    log_path: Path
    instance_id: str = ""
    paused: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}#{self.instance}"


@dataclass
class Stack:
    """The processes of one run. `env` is added to the environment of each (e.g. TOPIC_PREFIX)."""

    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path = ROOT / ".cache" / "logs"
    fixed_ports: bool = False
    processes: list[Process] = field(default_factory=list)

    def start(
        self,
        name: str,
        instance: int = 1,
        *,
        instance_id: str | None = None,
        extra_env: dict[str, str] | None = None,
        port: int = 0,
    ) -> Process:
        """Start one process. `instance_id` (default `<name>-<instance>`) is its static group
        membership: a restart under another id is a new member (a real rebalance)."""
        if self.fixed_ports and instance == 1 and not port:
            port = UsualPorts().of(name)
        port = port or free_port()
        instance_id = instance_id or f"{name}-{instance}"
        env = {
            **os.environ,
            **self._links(name),
            **self.env,
            **(extra_env or {}),
            PORT_VARIABLES[name]: str(port),
            "INSTANCE_ID": instance_id,
        }
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{instance_id}.log"
        log = log_path.open("ab")
        popen = subprocess.Popen(
            [sys.executable, "-m", MODULES[name]],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        process = Process(name, instance, port, popen, log_path, instance_id)
        self.processes.append(process)
        return process

    def _links(self, name: str) -> dict[str, str]:
        """Where one process finds another of this stack over HTTP when the ports are free ones:
        notifications fetches an invoice's CSV from sponsorship (to attach it to the e-mail)."""
        sponsorship = next((p for p in self.processes if p.name == "sponsorship"), None)
        if name == "notifications" and sponsorship is not None:
            return {"NOTIFICATIONS_INVOICE_CSV_URL": f"http://127.0.0.1:{sponsorship.port}/api/invoices.csv"}
        return {}

    def start_all(self, instances: int = 1, names: tuple[str, ...] = STACK) -> None:
        for name in names:
            for i in range(1, instances + 1):
                self.start(name, i)

    def api_urls(self) -> dict[str, str]:
        """REGISTRY_URL, SPONSORSHIP_URL, NOTIFICATIONS_URL of the first instance of each service
        this stack started: what the dashboard and the CLI read."""
        urls: dict[str, str] = {}
        for p in self.processes:
            variable = API_URL_VARIABLES.get(p.name)
            if variable and variable not in urls:
                urls[variable] = f"http://127.0.0.1:{p.port}"
        return urls

    def start_dashboard(self, extra_env: dict[str, str] | None = None) -> Process:
        """The dashboard, pointed at the services this stack started (start them first)."""
        return self.start("dashboard", extra_env={**self.api_urls(), **(extra_env or {})})

    def pause(self, process: Process) -> None:
        """SIGSTOP: the process holds its sockets, locks and sessions but does nothing (a freeze)."""
        process.popen.send_signal(signal.SIGSTOP)
        process.paused = True

    def resume(self, process: Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.popen.send_signal(signal.SIGCONT)
        process.paused = False

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, dict[str, object]]:
        """Wait until every process on the shared runtime (the services and the BPJS simulator)
        answers /readyz, the gateway stand-in /healthz."""
        deadline = time.monotonic() + timeout_s
        status: dict[str, dict[str, object]] = {}
        for p in self.processes:
            path = "/readyz" if p.name in ON_THE_RUNTIME else "/healthz"
            while True:
                if p.popen.poll() is not None:
                    raise RuntimeError(f"{p.label} exited with {p.popen.returncode}; see {p.log_path}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{p.port}{path}", timeout=2) as response:
                        body = response.read()
                        status[p.label] = (
                            json.loads(body) if body.strip().startswith(b"{") else {"status": "up"}
                        )
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{p.label} is not ready after {timeout_s:.0f} s; see {p.log_path}"
                        ) from None
                    time.sleep(0.2)
        return status

    def kill(self, process: Process) -> None:
        """SIGKILL: no chance to clean up (what the chaos run does)."""
        with contextlib.suppress(ProcessLookupError):
            process.popen.send_signal(signal.SIGKILL)
        process.popen.wait()
        self.processes.remove(process)

    def stop(self, process: Process, timeout_s: float = 15.0) -> int:
        """SIGTERM and wait: the process finishes what it holds and leaves."""
        if process.paused:
            self.resume(process)  # a stopped process would not see SIGTERM
        with contextlib.suppress(ProcessLookupError):
            process.popen.send_signal(signal.SIGTERM)
        try:
            code = process.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            code = process.popen.wait()
        if process in self.processes:
            self.processes.remove(process)
        return code

    def stop_all(self) -> None:
        for p in list(self.processes):
            if p.paused:
                self.resume(p)
            with contextlib.suppress(ProcessLookupError):
                p.popen.send_signal(signal.SIGTERM)
        for p in list(self.processes):
            self.stop(p)

    def stats(self, name: str) -> list[dict[str, object]]:
        found = []
        for p in self.processes:
            if p.name == name:
                with urllib.request.urlopen(f"http://127.0.0.1:{p.port}/stats", timeout=5) as response:
                    found.append(json.loads(response.read()))
        return found

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def main() -> None:
    """`make up`: the services, the simulator and the dashboard in the foreground, on their usual
    ports."""
    import signal as signals

    stopping: list[int] = []
    signals.signal(signals.SIGTERM, lambda signum, frame: stopping.append(signum))
    with Stack(fixed_ports=True) as stack:
        stack.start_all()
        stack.start_dashboard()
        for label, status in stack.wait_ready().items():
            port = next(p.port for p in stack.processes if p.label == label)
            print(f"  {label:<18} http://127.0.0.1:{port:<5}  {status.get('status')}", flush=True)
        print(
            f"The dashboard: http://127.0.0.1:{UsualPorts().dashboard}/ (log in with an office or company token)",
            flush=True,
        )
        print("Running; Ctrl+C stops them (logs in .cache/logs/).", flush=True)
        try:
            while not stopping:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
