"""The settings every service shares; each service adds its own in services/<name>/settings.py."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.db import DatabaseUrlSource
from shared.kafka_security import KafkaConnection


class ServiceSettings(BaseSettings):
    """Read from environment variables; the defaults match `make infra-up`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # The prefix of this service's database settings: <PREFIX>_DATABASE_URL and the parts
    # <PREFIX>_DB_HOST/_PORT/_NAME/_USER/_PASSWORD/_PASSWORD_FILE (shared.db.database_url_from_env).
    # Empty: the process has no database.
    database_env_prefix: ClassVar[str] = ""

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    # SASL/SCRAM-SHA-512 as this process's principal (shared/kafka_security.py, shared/access.py).
    kafka_security_protocol: str = Field("SASL_PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL")
    kafka_username: str | None = Field(None, validation_alias="KAFKA_USERNAME")
    kafka_password: str | None = Field(None, validation_alias="KAFKA_PASSWORD", repr=False)
    kafka_password_file: str | None = Field(None, validation_alias="KAFKA_PASSWORD_FILE")
    kafka_ssl_cafile: str | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")
    # Tests and local runs with their own TOPIC_PREFIX only: at start, provision this service's
    # topics and the ACLs of its prefix as the `admin` principal. In production an operator
    # provisions (python -m shared.kafka_admin provision) and a service only waits for its topics.
    kafka_provision_at_start: bool = Field(False, validation_alias="KAFKA_PROVISION_AT_START")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    http_host: str = Field("127.0.0.1", validation_alias="HTTP_HOST")
    db_pool_min_size: int = Field(2, validation_alias="DB_POOL_MIN_SIZE")
    db_pool_max_size: int = Field(8, validation_alias="DB_POOL_MAX_SIZE")
    consumer_batch_size: int = Field(200, validation_alias="CONSUMER_BATCH_SIZE")
    handler_max_attempts: int = Field(3, validation_alias="HANDLER_MAX_ATTEMPTS")
    instance_id: str | None = Field(None, validation_alias="INSTANCE_ID")
    # How often (real seconds) the scheduler looks for due jobs (shared/scheduler.py); 0: 30 s at
    # real time, more often on an accelerated programme clock (shared.scheduler.default_poll_s).
    scheduler_poll_s: float = Field(0.0, ge=0, validation_alias="MUBA_SCHEDULER_POLL_S")
    scheduler_max_runs_per_poll: int = Field(100, gt=0, validation_alias="MUBA_SCHEDULER_MAX_RUNS_PER_POLL")
    # Who may call /api/* and /docs (shared/http_access.py): the office token from the environment
    # or a file, and/or a tokens file with roles. None of the three set: the local default token,
    # which a service bound to anything but loopback refuses.
    operator_token: str | None = Field(None, validation_alias="MUBA_OPERATOR_TOKEN")
    operator_token_file: str | None = Field(None, validation_alias="MUBA_OPERATOR_TOKEN_FILE")
    api_tokens_file: str | None = Field(None, validation_alias="MUBA_API_TOKENS_FILE")
    # Empty in production. Tests give each run its own prefix so topics never mix between tests.
    topic_prefix: str = Field("", validation_alias="TOPIC_PREFIX")
    # Filled in by each service's settings class.
    database_url: str = ""
    http_port: int = 0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The DSN from its parts sits between the constructor's arguments and the plain
        # environment: the parts are put into <PREFIX>_DATABASE_URL (or the default URL).
        return (
            init_settings,
            DatabaseUrlSource(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def kafka(self, principal: str) -> KafkaConnection:
        """How this process connects: as KAFKA_USERNAME, else as `principal` (its service)."""
        return KafkaConnection.build(
            bootstrap_servers=self.kafka_bootstrap_servers,
            username=self.kafka_username or principal,
            password=self.kafka_password,
            password_file=self.kafka_password_file,
            security_protocol=self.kafka_security_protocol,
            cafile=self.kafka_ssl_cafile,
        )


def read_key_file(path: Path, setting: str, error: type[Exception], keep: str) -> bytes:
    """A service's secret key from its file (the NIK key, the feed key): `error` names the setting
    and says how to make the file, and `keep` why it must be kept once made."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise error(
            f"{setting}: {path} does not exist. `make infra-up` (deploy/local/kafka.sh) makes it"
            f" locally, `bash deploy/compose/secrets.sh` for compose; keep it: {keep}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{setting}: cannot read {path}: {type(exc).__name__}") from None
    return text.encode("utf-8")
