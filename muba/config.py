"""Where the running system is: read from the environment, with the defaults of `make infra-up`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from muba.errors import UsageError
from shared.kafka_security import KafkaConnection

# = shared.http_access.DEFAULT_OPERATOR_TOKEN (not imported: the CLI stays free of the ASGI stack).
DEFAULT_TOKEN: Final = "muba-local-operator"
# What the Kafka client reads itself (shared/kafka_security.py), copied from the environment.
KAFKA_CLIENT_VARIABLES: Final = ("MUBA_SECRETS_DIR", "MUBA_CACHE")
# How a value that does not parse is explained, by pydantic's error type.
_EXPECTED: Final = {"int_parsing": "a whole number", "float_parsing": "a number of seconds"}


class Config(BaseSettings):
    """The CLI's settings. A blank variable counts as unset."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    registry_url: str = Field("http://127.0.0.1:8001", validation_alias="REGISTRY_URL")
    sponsorship_url: str = Field("http://127.0.0.1:8002", validation_alias="SPONSORSHIP_URL")
    notifications_url: str = Field("http://127.0.0.1:8003", validation_alias="NOTIFICATIONS_URL")
    # The office token: MUBA_OPERATOR_TOKEN, or the file MUBA_OPERATOR_TOKEN_FILE names (a secret
    # mounted by compose, or a file of mode 0600), else the local default.
    operator_token: str = Field(DEFAULT_TOKEN, validation_alias="MUBA_OPERATOR_TOKEN", repr=False)
    operator_token_file: str | None = Field(None, validation_alias="MUBA_OPERATOR_TOKEN_FILE")
    # Kafka as the office's `operator` principal, or as the partner whose registrations
    # `muba register --source NAME` uploads (`partner-NAME`); see shared/kafka_security.py.
    kafka_environ: tuple[tuple[str, str], ...] = Field((), repr=False)
    topic_prefix: str = Field("", validation_alias="TOPIC_PREFIX")
    http_timeout_s: float = Field(10.0, validation_alias="MUBA_HTTP_TIMEOUT")
    # The registry's age limits (REGISTRY_MIN_AGE / REGISTRY_MAX_AGE), for the local check.
    min_age: int = Field(15, validation_alias="REGISTRY_MIN_AGE")
    max_age: int = Field(60, validation_alias="REGISTRY_MAX_AGE")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """The settings from `environ` (the process's environment if None); a value that does not
        parse is a UsageError naming its variable."""
        values = _Environment(cls, os.environ if environ is None else environ)()
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"])
            expected = _EXPECTED.get(error["type"])
            if expected is None:
                raise UsageError(f"{name}: {error['msg']}") from None
            raise UsageError(f"{name} must be {expected}, got {error['input']!r}") from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Config() reads the environment as from_env() does.
        return (init_settings, _Environment(settings_cls, os.environ))

    @field_validator("kafka_bootstrap_servers", "registry_url", "sponsorship_url", "notifications_url")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _token_from_its_file(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        token_file = str(data.get("MUBA_OPERATOR_TOKEN_FILE") or data.get("operator_token_file") or "")
        if not token_file:
            return data
        if data.get("MUBA_OPERATOR_TOKEN") or data.get("operator_token"):
            raise UsageError("set MUBA_OPERATOR_TOKEN or MUBA_OPERATOR_TOKEN_FILE, not both")
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"MUBA_OPERATOR_TOKEN_FILE: cannot read {token_file}: {type(exc).__name__}"
            ) from None
        if not token:
            raise UsageError(f"MUBA_OPERATOR_TOKEN_FILE: {token_file} is empty")
        return {**data, "MUBA_OPERATOR_TOKEN": token}

    def topic(self, name: str) -> str:
        """The topic as this deployment names it (TOPIC_PREFIX + name)."""
        return self.topic_prefix + name

    def kafka(self, principal: str = "operator") -> KafkaConnection:
        """How the CLI connects: as KAFKA_USERNAME if set, else as `principal`."""
        return KafkaConnection.from_env(
            principal, dict(self.kafka_environ), bootstrap_servers=self.kafka_bootstrap_servers
        )


class _Environment(PydanticBaseSettingsSource):
    """Each setting by its variable from one environment mapping (blank is unset), and a copy of
    the variables the Kafka client reads for itself (KAFKA_*, MUBA_SECRETS_DIR, MUBA_CACHE)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field in self.settings_cls.model_fields.values():
            variable = field.validation_alias
            if isinstance(variable, str) and (raw := self.environ.get(variable, "")).strip():
                values[variable] = raw if variable == "TOPIC_PREFIX" else raw.strip()
        values["kafka_environ"] = tuple(
            (k, v) for k, v in self.environ.items() if k.startswith("KAFKA_") or k in KAFKA_CLIENT_VARIABLES
        )
        return values
