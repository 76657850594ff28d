"""`python -m services.<name> [migrate]` (and `python -m simulators.bpjs`): one way to start any service."""

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from faststream.asgi import AsgiFastStream

from shared.db import migrate
from shared.http_access import AccessConfigError
from shared.logging import setup_logging
from shared.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def main(
    name: str,
    settings_type: type[SettingsT],
    create_app: Callable[[SettingsT], AsgiFastStream],
    migrations: Path,
) -> None:
    settings = settings_type()
    setup_logging(name, settings.log_level)
    if sys.argv[1:] == ["migrate"]:
        applied = asyncio.run(migrate(settings.database_url, migrations))
        print(f"{name}: {len(applied)} migration(s) applied" + (f": {', '.join(applied)}" if applied else ""))
        return
    if sys.argv[1:]:
        sys.exit(f"usage: python -m {create_app.__module__.rsplit('.', 1)[0]} [migrate]")
    try:
        app = create_app(settings)
    except AccessConfigError as exc:
        sys.exit(f"{name}: refusing to start: {exc}")
    _install_uvloop()
    serve(app, settings.http_host, settings.http_port)


def serve(app: Any, host: str, port: int, grace_s: int = 10) -> None:
    """Serve an ASGI app the way every process of ours does: our JSON logs, no access log."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=grace_s,
        lifespan="on",
    )


def _install_uvloop() -> None:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    uvloop.install()
