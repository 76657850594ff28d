"""`python -m services.dashboard`: the dashboard on HTTP_HOST:DASHBOARD_PORT (127.0.0.1:8007)."""

import sys

from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from shared.http_access import AccessConfigError
from shared.logging import setup_logging
from shared.runner import serve


def main() -> None:
    settings = DashboardSettings()
    setup_logging("dashboard", settings.log_level)
    if sys.argv[1:]:
        sys.exit("usage: python -m services.dashboard")
    try:
        app = create_app(settings)
    except AccessConfigError as exc:
        sys.exit(f"dashboard: refusing to start: {exc}")
    serve(app, settings.http_host, settings.http_port, grace_s=5)


main()
