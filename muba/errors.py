"""Expected failures and the exit codes they end with (no traceback for any of them)."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_DATA: Final = 1  # the operator's input or the data is wrong, or something was not found
EXIT_USAGE: Final = 2  # wrong command line (typer/click use 2 as well)
EXIT_NOT_RUNNING: Final = 3  # the system (HTTP APIs or Kafka) is not reachable

START_HINT: Final = "start it with `make demo` (KEEP_RUNNING=1) or `make up`"


class CliError(Exception):
    """An expected failure: its message is printed, then the CLI exits with `exit_code`."""

    exit_code: int = EXIT_DATA

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class DataError(CliError):
    exit_code = EXIT_DATA


class UsageError(CliError):
    exit_code = EXIT_USAGE


class NotRunning(CliError):
    """The system does not answer: connection refused, timeout, or it answers 5xx."""

    exit_code = EXIT_NOT_RUNNING


def not_running(where: str, detail: str | None = None) -> NotRunning:
    message = f"the system is not running at {where}: {START_HINT}"
    return NotRunning(message, hint=detail)
