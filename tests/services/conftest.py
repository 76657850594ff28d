"""Run one service in-process against the real Kafka and PostgreSQL, in a fresh topic namespace."""

from collections.abc import Callable
from typing import Any

import pytest

from shared.testing import Infra


@pytest.fixture
def service_env(
    infra: Infra, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dict[str, Any]]:
    def env(**extra: Any) -> dict[str, Any]:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
        monkeypatch.setenv("TOPIC_PREFIX", topic_prefix)
        for key, value in extra.items():
            monkeypatch.setenv(key, str(value))
        return {"prefix": topic_prefix}

    return env
