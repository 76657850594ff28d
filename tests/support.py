"""Helpers the service and end-to-end tests share."""

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
from faststream.asgi import AsgiFastStream

from shared import access, topics
from shared.access import Grant
from shared.db import database_url
from shared.kafka_admin import create_acls, ensure_topic, set_passwords
from shared.kafka_security import KafkaConnection
from testkit.infra import Infra, empty_schema
from testkit.kafka import ensure_partner


@asynccontextmanager
async def running(app: AsgiFastStream) -> AsyncIterator[AsgiFastStream]:
    """Run the app (lifespan + broker) in a task of its own: anyio's scopes must be entered and
    left by the same task, and pytest-asyncio tears fixtures down from another one."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.start_lifespan_context():
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield app
    finally:
        stop.set()
        await task


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def served(app: AsgiFastStream, name: str, port: int | None = None) -> AsyncIterator[int]:
    """The app served over HTTP by uvicorn on a loopback port (a free one unless given; lifespan
    on), for as long as the block runs; yields the port."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(900):
        if server.started or task.done():
            break
        await asyncio.sleep(0.1)
    if task.done():
        task.result()
    assert server.started, f"{name} did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def truncate_schema(infra: Infra, service: str) -> None:
    """Service tests start from an empty schema (the tables are the service's, kept by migrations)."""
    await empty_schema(infra.database_urls[service])


@asynccontextmanager
async def scratch_role(
    infra: Infra, admin_db: asyncpg.Connection, prefix: str, password: str | None = None
) -> AsyncIterator[str]:
    """A throw-away login role with a schema of its own (its DSN), dropped afterwards: tests of the
    plumbing (migrations, the outbox relay) never touch a service's schema. The password defaults
    to the role's name; any other is quoted as a literal and percent-encoded in the DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create = await admin_db.fetchval(
        "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)", name, password or name
    )
    await admin_db.execute(create)
    await admin_db.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
    await admin_db.execute(f"ALTER ROLE {name} SET search_path = {name}")
    db = await admin_db.fetchval("SELECT current_database()")
    await admin_db.execute(f"GRANT CONNECT ON DATABASE {db} TO {name}")
    try:
        yield database_url(infra.admin_database_url, user=name, password=password or name)
    finally:
        await admin_db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await admin_db.execute(f"DROP SCHEMA {name} CASCADE")
        await admin_db.execute(f"REVOKE ALL ON DATABASE {db} FROM {name}")
        await admin_db.execute(f"DROP ROLE {name}")


async def provision_like_the_catalogue(
    infra: Infra, prefix: str, topic: str, consumer: str, groups: Sequence[str] = ()
) -> None:
    """A test's own topic (outside shared/topics.py) as `provision` would make a catalogue topic
    that `consumer` consumes: the topic and its dead-letter topic, and the ACLs: `consumer` reads
    it (in `groups` too, named without the prefix) and writes its dead letters; operators read
    those and replay them."""
    name, letters = prefix + topic, prefix + topics.dead_letter_topic(topic)
    await ensure_topic(infra.kafka, name)
    await ensure_topic(infra.kafka, letters)
    grants = [
        Grant(consumer, "TOPIC", "LITERAL", name, "READ"),
        Grant(consumer, "TOPIC", "LITERAL", letters, "WRITE"),
        Grant(access.OPERATOR, "TOPIC", "LITERAL", letters, "READ"),
        Grant(access.OPERATOR, "TOPIC", "LITERAL", name, "WRITE"),
        *(Grant(consumer, "GROUP", "LITERAL", prefix + group, "READ") for group in groups),
    ]
    await create_acls(infra.kafka, grants)


async def new_partner(infra: Infra, prefix: str) -> tuple[str, KafkaConnection]:
    """A partner of this test's own, as `muba partners add` makes one: its principal (a SCRAM
    credential with a password kept in memory, never in the secrets dir), its intake under `prefix`
    and its ACLs. Returns its name and its connection; `drop_partner` deletes the credential.

    The name is new each time: a principal is not namespaced by the prefix, so a test must not
    change the password of a partner someone else uses (partner-desa-online)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    principal = topics.partner_principal(name)
    password = secrets.token_urlsafe(24)
    await set_passwords(infra.kafka, {principal: password})
    await ensure_partner(infra.kafka, prefix, name)
    return name, infra.kafka_as(principal, password)


async def drop_partner(infra: Infra, name: str) -> None:
    await asyncio.to_thread(_delete_credential, infra.kafka, topics.partner_principal(name))


@asynccontextmanager
async def a_partner(infra: Infra, prefix: str) -> AsyncIterator[tuple[str, KafkaConnection]]:
    """`new_partner` for the length of a block."""
    name, connection = await new_partner(infra, prefix)
    try:
        yield name, connection
    finally:
        await drop_partner(infra, name)


def _delete_credential(kafka: KafkaConnection, principal: str) -> None:
    """Revoke by a random password nobody keeps, not by deletion: Kafka 4.1.1 loses every SCRAM
    credential on its next restart once a deletion is in its metadata log (admin and broker too)."""
    import secrets

    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient({**kafka.librdkafka(), "log_level": 3})
    revoked = UserScramCredentialUpsertion(
        principal, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), secrets.token_bytes(24)
    )
    for future in admin.alter_user_scram_credentials([revoked], request_timeout=30).values():
        future.result(timeout=30)
