"""Where the real servers are (the environment `make infra-up` exports) and the rooms tests and
the benchmark start from: an emptied schema, a topic prefix of their own."""

import uuid
from dataclasses import dataclass

import asyncpg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.kafka_security import KafkaConnection

SERVICES = ("registry", "sponsorship", "notifications")
# Every login role with a schema of its own: the services and the BPJS simulator (its inbox and outbox).
SCHEMAS = (*SERVICES, "bpjs")


class _Exported(BaseSettings):
    """What `make infra-up` exports; no defaults: tests never guess where the servers are."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    kafka_bootstrap_servers: str = Field("", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    admin_database_url: str = Field("", validation_alias="MUBA_ADMIN_DATABASE_URL")
    registry_database_url: str = Field("", validation_alias="REGISTRY_DATABASE_URL")
    sponsorship_database_url: str = Field("", validation_alias="SPONSORSHIP_DATABASE_URL")
    notifications_database_url: str = Field("", validation_alias="NOTIFICATIONS_DATABASE_URL")
    bpjs_database_url: str = Field("", validation_alias="BPJS_DATABASE_URL")


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    admin_database_url: str
    database_urls: dict[str, str]

    @classmethod
    def from_env(cls) -> "Infra | None":
        """The servers `make infra-up` started (the Makefile exports these), or None."""
        found = _Exported()
        urls = {s: getattr(found, f"{s}_database_url") for s in SCHEMAS}
        if not found.kafka_bootstrap_servers or not found.admin_database_url or not all(urls.values()):
            return None
        return cls(found.kafka_bootstrap_servers, found.admin_database_url, urls)

    @property
    def kafka(self) -> KafkaConnection:
        """The `admin` principal (a super user): what tests observe and provision with."""
        return self.kafka_as("admin")

    def kafka_as(self, principal: str, password: str | None = None) -> KafkaConnection:
        """The same brokers as `principal` (its password from the secrets dir unless given)."""
        return KafkaConnection.from_env("admin", bootstrap_servers=self.kafka_bootstrap_servers).as_principal(
            principal, password
        )


async def empty_schema(database_url: str) -> None:
    """Empty every table of the role's own schema but the migrations' record (tests, benchmark)."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename <> 'schema_migrations'"
            )
        ]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."
