"""Where the real servers are (the environment `make infra-up` exports) and the rooms tests and
the benchmark start from: an emptied schema, a topic prefix of their own."""

import os
import uuid
from dataclasses import dataclass

import asyncpg

from shared.kafka_security import KafkaConnection

SERVICES = ("registry", "sponsorship", "notifications")


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    admin_database_url: str
    database_urls: dict[str, str]

    @classmethod
    def from_env(cls) -> "Infra | None":
        """The servers `make infra-up` started (the Makefile exports these), or None."""
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        admin = os.environ.get("MUBA_ADMIN_DATABASE_URL")
        if not bootstrap or not admin:
            return None
        urls = {s: os.environ.get(f"{s.upper()}_DATABASE_URL", "") for s in SERVICES}
        if not all(urls.values()):
            return None
        return cls(bootstrap, admin, urls)

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
