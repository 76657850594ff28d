"""Where the running system is: read from the environment, with the defaults of `make infra-up`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from shared.kafka_security import KafkaConnection

# = shared.http_access.DEFAULT_OPERATOR_TOKEN (not imported: the CLI stays free of the ASGI stack).
DEFAULT_TOKEN: Final = "muba-local-operator"


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        from muba.errors import UsageError

        raise UsageError(f"{name} must be a whole number, got {raw!r}") from None


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        from muba.errors import UsageError

        raise UsageError(f"{name} must be a number of seconds, got {raw!r}") from None


def _operator_token(environ: Mapping[str, str]) -> str:
    """The office token: MUBA_OPERATOR_TOKEN, or the file MUBA_OPERATOR_TOKEN_FILE names (a
    secret mounted by compose, or a file of mode 0600), else the local default."""
    from muba.errors import UsageError

    token = environ.get("MUBA_OPERATOR_TOKEN", "").strip()
    token_file = environ.get("MUBA_OPERATOR_TOKEN_FILE", "").strip()
    if token and token_file:
        raise UsageError("set MUBA_OPERATOR_TOKEN or MUBA_OPERATOR_TOKEN_FILE, not both")
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"MUBA_OPERATOR_TOKEN_FILE: cannot read {token_file}: {type(exc).__name__}"
            ) from None
        if not token:
            raise UsageError(f"MUBA_OPERATOR_TOKEN_FILE: {token_file} is empty")
    return token or DEFAULT_TOKEN


@dataclass(frozen=True)
class Config:
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8001"
    sponsorship_url: str = "http://127.0.0.1:8002"
    notifications_url: str = "http://127.0.0.1:8003"
    operator_token: str = DEFAULT_TOKEN
    # Kafka as the office's `operator` principal, or as the partner whose registrations
    # `muba register --source NAME` uploads (`partner-NAME`); see shared/kafka_security.py.
    kafka_environ: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    topic_prefix: str = ""
    http_timeout_s: float = 10.0
    # The registry's age limits (REGISTRY_MIN_AGE / REGISTRY_MAX_AGE), for the local check.
    min_age: int = 15
    max_age: int = 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ

        def text(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        return cls(
            kafka_bootstrap_servers=text("KAFKA_BOOTSTRAP_SERVERS", cls.kafka_bootstrap_servers),
            registry_url=text("REGISTRY_URL", cls.registry_url).rstrip("/"),
            sponsorship_url=text("SPONSORSHIP_URL", cls.sponsorship_url).rstrip("/"),
            notifications_url=text("NOTIFICATIONS_URL", cls.notifications_url).rstrip("/"),
            operator_token=_operator_token(env),
            topic_prefix=env.get("TOPIC_PREFIX", ""),
            kafka_environ=tuple(
                (k, v)
                for k, v in env.items()
                if k.startswith("KAFKA_") or k in ("MUBA_SECRETS_DIR", "MUBA_CACHE")
            ),
            http_timeout_s=_float(env, "MUBA_HTTP_TIMEOUT", cls.http_timeout_s),
            min_age=_int(env, "REGISTRY_MIN_AGE", cls.min_age),
            max_age=_int(env, "REGISTRY_MAX_AGE", cls.max_age),
        )

    def topic(self, name: str) -> str:
        """The topic as this deployment names it (TOPIC_PREFIX + name)."""
        return self.topic_prefix + name

    def kafka(self, principal: str = "operator") -> KafkaConnection:
        """How the CLI connects: as KAFKA_USERNAME if set, else as `principal`."""
        return KafkaConnection.from_env(
            principal, dict(self.kafka_environ), bootstrap_servers=self.kafka_bootstrap_servers
        )
