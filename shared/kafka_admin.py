"""The project creates its Kafka topics: our brokers never auto-create one.

    python -m shared.kafka_admin provision [--bootstrap-servers HOST:PORT] [--prefix PREFIX]

`provision_topics` creates every topic of `shared.topics.CATALOGUE` (with a TOPIC_PREFIX if one is
given), idempotently, and brings the configs of topics that already exist in line. Replication
follows the size of the cluster: factor min(3, brokers), and `min.insync.replicas` 2 once the
factor is 3 (an `acks=all` write is then on two disks before it is acknowledged), else 1. With one
broker that is factor 1, where `acks=all` means no more than `acks=1`: fine for a laptop, not for
the programme's real data (see README, "Durability").

The size of the cluster is the larger of the brokers registered now and the brokers'
`default.replication.factor` (the size the operator set it up for): a 3-broker cluster with one
node down still gets factor 3 topics, and creating them waits for the node rather than quietly
creating under-replicated topics.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    InvalidReplicationFactorError,
    KafkaConnectionError,
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)
from aiokafka.protocol.metadata import MetadataRequest

from shared import access, topics
from shared.backoff import Backoff
from shared.kafka_security import KafkaConnection
from shared.topics import TopicSpec

log = logging.getLogger(__name__)

MAX_REPLICATION_FACTOR = 3
# DescribeConfigs: where a value comes from. 1 = set on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of `brokers` brokers."""
    factor = max(1, min(MAX_REPLICATION_FACTOR, brokers))
    return factor, 2 if factor >= 3 else 1


@dataclass
class ProvisionReport:
    replication_factor: int
    min_insync_replicas: int
    created: list[str] = field(default_factory=list)
    altered: dict[str, dict[str, str]] = field(default_factory=dict)  # topic -> configs set
    unchanged: list[str] = field(default_factory=list)
    # What provisioning cannot fix on its own: fewer partitions or replicas than the catalogue says.
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Wanted:
    name: str  # as on the broker, prefix included
    partitions: int
    configs: dict[str, str]


@asynccontextmanager
async def _clients(
    kafka: KafkaConnection, deadline: float
) -> AsyncIterator[tuple[AIOKafkaAdminClient, AIOKafkaClient]]:
    """A started admin client and a plain client (to ask each broker); waits for the cluster to
    answer until `deadline` (monotonic)."""
    while True:
        admin = AIOKafkaAdminClient(**kafka.options(), request_timeout_ms=15000)
        client = AIOKafkaClient(**kafka.options(), request_timeout_ms=15000)
        try:
            await admin.start()
            await client.bootstrap()
            break
        except KafkaConnectionError:
            await admin.close()
            await client.close()
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(1)
    try:
        yield admin, client
    finally:
        await admin.close()
        await client.close()


async def cluster_size(admin: AIOKafkaAdminClient) -> int:
    """Brokers this cluster is meant to have: registered now, or its default.replication.factor."""
    brokers = (await admin.describe_cluster())["brokers"]
    configured = 1
    if brokers:
        values = await broker_configs(admin, int(brokers[0]["node_id"]), ["default.replication.factor"])
        configured = int(values.get("default.replication.factor") or 1)
    return max(len(brokers), configured)


async def broker_configs(admin: AIOKafkaAdminClient, node_id: int, names: Sequence[str]) -> dict[str, str]:
    """Effective values of broker configs (DescribeConfigs on that broker)."""
    resource = ConfigResource(ConfigResourceType.BROKER, str(node_id), dict.fromkeys(names))
    found: dict[str, str] = {}
    for response in await admin.describe_configs([resource]):
        for entry in response.to_object()["resources"]:
            _raise_for(entry["error_code"], entry.get("error_message"), f"broker {node_id}")
            for config in entry["config_entries"]:
                found[config["config_names"]] = config["config_value"]
    return found


async def topic_configs(
    admin: AIOKafkaAdminClient, names: Iterable[str]
) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """topic -> (effective configs, configs set on the topic itself)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    if not resources:
        return found
    for response in await admin.describe_configs(resources):
        for entry in response.to_object()["resources"]:
            _raise_for(entry["error_code"], entry.get("error_message"), entry["resource_name"])
            effective: dict[str, str] = {}
            overrides: dict[str, str] = {}
            for config in entry["config_entries"]:
                effective[config["config_names"]] = config["config_value"]
                if config["config_source"] == _DYNAMIC_TOPIC_CONFIG:
                    overrides[config["config_names"]] = config["config_value"]
            found[entry["resource_name"]] = (effective, overrides)
    return found


def _raise_for(code: int, message: str | None, what: str) -> None:
    if code:
        error = for_code(code)
        raise error(f"{what}: {message or error.__name__}")


async def _create(admin: AIOKafkaAdminClient, wanted: Sequence[_Wanted], factor: int) -> list[str]:
    """Create the topics; returns those created by this call. Already existing ones are fine."""
    response = await admin.create_topics(
        [
            NewTopic(w.name, num_partitions=w.partitions, replication_factor=factor, topic_configs=w.configs)
            for w in wanted
        ]
    )
    created: list[str] = []
    for result in response.to_object()["topic_errors"]:
        code = result["error_code"]
        if code == 0:
            created.append(result["topic"])
        elif for_code(code) is not TopicAlreadyExistsError:
            _raise_for(code, result.get("error_message"), result["topic"])
    return created


def min_insync_for(replicas: int) -> int:
    """min.insync.replicas for a topic with `replicas` replicas: 2 from three on, else 1.

    Never more than a topic can reach: an old factor-1 topic given 2 would refuse every write.
    """
    return 2 if replicas >= 3 else 1


async def _metadata_everywhere(client: AIOKafkaClient, names: Sequence[str]) -> list[dict[str, Any]]:
    """The topics' metadata as each broker that answers sees it (topic -> metadata, per broker).

    One broker may learn of a new topic a moment after another: a client that asks the late one
    would be told it does not exist, so a topic is usable once every broker knows it.
    """
    await client.force_metadata_update()
    request = MetadataRequest(list(names), allow_auto_topic_creation=False)
    node_ids = sorted(broker.nodeId for broker in client.cluster.brokers())
    answers = await asyncio.gather(*(client.send(n, request) for n in node_ids), return_exceptions=True)
    # A broker that does not answer (stopped, not yet fenced) tells no client anything stale.
    return [
        {t["topic"]: t for t in answer.to_object()["topics"]}
        for answer in answers
        if not isinstance(answer, BaseException)
    ]


def _usable(metadata: dict[str, Any] | None) -> bool:
    partitions = (metadata or {}).get("partitions") or []
    return bool(
        metadata
        and metadata.get("error_code", 0) == 0
        and partitions
        and all(p["leader"] >= 0 and len(p["isr"]) >= min_insync_for(len(p["replicas"])) for p in partitions)
    )


async def _wait_usable(client: AIOKafkaClient, names: Sequence[str], deadline: float) -> dict[str, Any]:
    """Until every broker knows every topic, each partition with a leader and enough in-sync
    replicas for an acks=all write. Returns the topics' metadata (topic -> metadata)."""
    while True:
        views = await _metadata_everywhere(client, names)
        pending = sorted({name for view in views for name in names if not _usable(view.get(name))})
        if views and not pending:
            return views[0]
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"topics without a leader or with too few in-sync replicas: {pending or 'no broker answered'}"
            )
        await asyncio.sleep(0.2)


async def _provision(
    admin: AIOKafkaAdminClient,
    client: AIOKafkaClient,
    wanted: Sequence[_Wanted],
    deadline: float,
    fix_configs: bool = True,
) -> tuple[ProvisionReport, dict[str, Any]]:
    """Create what is missing, fix configs; returns the report and the topics' metadata."""
    factor, min_isr = replication_for(await cluster_size(admin))
    report = ProvisionReport(factor, min_isr)
    while True:
        existing = set(await admin.list_topics())
        missing = [w for w in wanted if w.name not in existing]
        if not missing:
            break
        try:
            new = [
                _Wanted(w.name, w.partitions, {**w.configs, "min.insync.replicas": str(min_isr)})
                for w in missing
            ]
            report.created += await _create(admin, new, factor)
        except KafkaError as exc:
            # Brokers still registering after a start (InvalidReplicationFactor) or a moving
            # controller: wait for them. Anything else (policy, authorisation) is for a person.
            if not (exc.retriable or isinstance(exc, InvalidReplicationFactorError)):
                raise
            if time.monotonic() >= deadline:
                raise
            log.info("kafka: creating topics again in a second: %s", exc)
            await asyncio.sleep(1)
    for name in report.created:
        log.info(
            "kafka: created topic %s (replication factor %d, min.insync.replicas %d)", name, factor, min_isr
        )

    described = await _wait_usable(client, [w.name for w in wanted], deadline)
    configs = await topic_configs(admin, [w.name for w in wanted if w.name not in report.created])
    for w in wanted:
        if w.name in report.created:
            continue
        partitions = described[w.name]["partitions"]
        replicas = min(len(p["replicas"]) for p in partitions)
        if len(partitions) < w.partitions:
            report.warnings.append(
                f"{w.name} has {len(partitions)} partitions, the catalogue says {w.partitions}: not changed "
                "(more partitions would move keys to other partitions and break their order)"
            )
        if replicas < factor:
            report.warnings.append(
                f"{w.name} has replication factor {replicas}, the cluster wants {factor}: "
                "reassign its partitions (kafka-reassign-partitions) to make it durable"
            )
        desired = {**w.configs, "min.insync.replicas": str(min_insync_for(replicas))}
        effective, overrides = configs[w.name]
        differing = {k: v for k, v in desired.items() if effective.get(k) != v}
        if not differing:
            report.unchanged.append(w.name)
            continue
        report.altered[w.name] = differing
        if fix_configs:
            # AlterConfigs replaces every config set on the topic: keep the others it has.
            resource = ConfigResource(ConfigResourceType.TOPIC, w.name, {**overrides, **desired})
            for response in await admin.alter_configs([resource]):
                for entry in response.to_object()["resources"]:
                    _raise_for(entry["error_code"], entry.get("error_message"), entry["resource_name"])
            log.info("kafka: topic %s configs set: %s", w.name, differing)
    for warning in report.warnings:
        log.warning("kafka: %s", warning)
    return report, described


async def provision_topics(
    kafka: KafkaConnection,
    prefix: str = "",
    *,
    catalogue: Sequence[TopicSpec] | None = None,
    partners: Sequence[str] = (),
    acls: bool = True,
    timeout_s: float = 60.0,
) -> ProvisionReport:
    """Create every catalogue topic (named `prefix` + name) and the intakes of `partners`, fix
    the configs of existing ones, and (`acls`) create the ACLs of shared/access.py for `prefix`.
    `kafka` must be a super user (the `admin` principal).

    Idempotent and safe to run from several processes at once; returns once every topic takes
    acks=all writes, or raises (TimeoutError after `timeout_s`, or what the cluster refused).
    """
    deadline = time.monotonic() + timeout_s
    chosen = topics.catalogue(tuple(partners)) if catalogue is None else catalogue
    wanted = [_Wanted(prefix + spec.name, spec.partitions, spec.configs) for spec in chosen]
    if acls:
        await create_acls(kafka, access.grants(prefix, partners))
    async with _clients(kafka, deadline) as (admin, client):
        report, _ = await _provision(admin, client, wanted, deadline)
        return report


async def _until_done(attempt: Callable[[], Awaitable[None]], service: str, waiting_for: str) -> None:
    """Run `attempt` until it succeeds, backing off (0.5 s doubling to 10 s) while Kafka is away
    or the topics are not there yet, saying so in the log each time."""
    backoff = Backoff(base=0.5, cap=10.0)
    while True:
        try:
            await attempt()
            return
        except (KafkaError, TimeoutError, OSError) as exc:
            delay = backoff.next()
            log.warning(
                f"kafka: {waiting_for}; retrying",
                extra={"service": service, "error": repr(exc)[:300], "retry_in_s": delay},
            )
            await asyncio.sleep(delay)


async def provision_until_done(kafka: KafkaConnection, prefix: str, service: str) -> None:
    """Provision the topics `service` uses (shared.topics.used_by) and the ACLs of `prefix` as
    the super user `kafka`, retrying while Kafka is away (tests and local runs with their own
    TOPIC_PREFIX: KAFKA_PROVISION_AT_START)."""

    async def provision() -> None:
        await provision_topics(kafka, prefix, catalogue=topics.used_by(service), timeout_s=30)

    await _until_done(provision, service, "topics not provisioned yet")


async def wait_for_topics(
    kafka: KafkaConnection, prefix: str, service: str, only: Sequence[str] | None = None
) -> None:
    """Wait until every topic `service` uses (or `only` these) exists and takes writes
    (provisioning, done by an operator as `admin`, creates them: a service has no right to)."""
    names = [prefix + name for name in (only or [spec.name for spec in topics.used_by(service)])]

    async def usable() -> None:
        deadline = time.monotonic() + 30
        async with _clients(kafka, deadline) as (_, client):
            await _wait_usable(client, names, deadline)

    await _until_done(
        usable, service, "waiting for this service's topics (run `python -m shared.kafka_admin provision`)"
    )


# --- principals and ACLs (confluent-kafka: aiokafka's admin client has neither API) -----------


def _admin_client(kafka: KafkaConnection) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({**kafka.librdkafka(), "socket.timeout.ms": 15000, "log_level": 3})


def _binding(grant: access.Grant) -> Any:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return AclBinding(
        ResourceType[grant.resource],
        grant.name,
        ResourcePatternType[grant.pattern],
        f"User:{grant.principal}",
        "*",
        AclOperation[grant.operation],
        AclPermissionType.ALLOW,
    )


def _wait_all(futures: dict[Any, Any], timeout_s: float = 30.0) -> None:
    errors = []
    for what, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except Exception as exc:  # confluent-kafka raises KafkaException with a KafkaError inside
            errors.append(f"{what}: {exc}")
    if errors:
        raise KafkaError("; ".join(errors[:5]))


async def create_acls(kafka: KafkaConnection, grants: Sequence[access.Grant]) -> None:
    """Create `grants` (an ACL that exists already is no change)."""
    if not grants:
        return

    def run() -> None:
        admin = _admin_client(kafka)
        _wait_all(admin.create_acls([_binding(g) for g in grants], request_timeout=30))

    await asyncio.to_thread(run)


async def delete_acls(kafka: KafkaConnection, grants: Sequence[access.Grant]) -> None:
    def run() -> None:
        admin = _admin_client(kafka)
        _wait_all(admin.delete_acls([_binding(g) for g in grants], request_timeout=30))

    if grants:
        await asyncio.to_thread(run)


async def set_passwords(kafka: KafkaConnection, passwords: dict[str, str]) -> None:
    """Create or change the SCRAM-SHA-512 credentials of principals (name -> password)."""
    if not passwords:
        return

    def run() -> None:
        from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

        admin = _admin_client(kafka)
        upserts = [
            UserScramCredentialUpsertion(
                name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), pw.encode()
            )
            for name, pw in sorted(passwords.items())
        ]
        _wait_all(admin.alter_user_scram_credentials(upserts, request_timeout=30))

    await asyncio.to_thread(run)


async def principals_with_passwords(kafka: KafkaConnection) -> list[str]:
    """The principals that have a SCRAM credential on the cluster."""

    def run() -> list[str]:
        admin = _admin_client(kafka)
        found = admin.describe_user_scram_credentials(request_timeout=30).result(timeout=30)
        return sorted(found)

    return await asyncio.to_thread(run)


async def existing_partners(kafka: KafkaConnection, prefix: str = "") -> list[str]:
    """The partners that have an intake topic (under `prefix`)."""
    async with _clients(kafka, time.monotonic() + 30) as (admin, _):
        names = await admin.list_topics()
    return sorted({p for p in (topics.partner_of(n, prefix) for n in names) if p is not None})


def new_password() -> str:
    return secrets.token_urlsafe(24)


def remember_password(principal: str) -> str | None:
    """A new password for `principal`, kept in the secrets dir (mode 0600); None when the
    secrets dir cannot be written (compose mounts secrets read-only)."""
    from shared.kafka_security import password_file_for

    path = password_file_for(principal)
    password = new_password()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
    return password


@dataclass(frozen=True)
class PartnerAdded:
    partner: str
    principal: str
    topic: str
    password: str
    password_file: str | None  # where it is kept, if it could be


async def add_partner(
    kafka: KafkaConnection, partner: str, prefix: str = "", password: str | None = None
) -> PartnerAdded:
    """A new partner, in one step: its principal `partner-<name>` with a password, its intake
    topic (and dead-letter topic), and its ACLs (it writes its intake; the registry reads it).
    Run again, it keeps the partner's password unless one is given."""
    from shared.kafka_security import password_file_for

    topic = topics.intake_topic(partner)
    principal = topics.partner_principal(partner)
    kept: str | None = None
    if password is None:
        password = remember_password(principal)
        kept = str(password_file_for(principal)) if password is not None else None
        if password is None:
            password = new_password()
    await set_passwords(kafka, {principal: password})
    await create_acls(kafka, [g.with_prefix(prefix) for g in access.partner_grants(partner)])
    await provision_topics(kafka, prefix, catalogue=topics.intake_specs(partner), acls=False)
    await wait_until_authenticates(kafka.as_principal(principal, password))
    return PartnerAdded(partner, principal, prefix + topic, password, kept)


async def wait_until_authenticates(kafka: KafkaConnection, timeout_s: float = 30.0) -> None:
    """A new SCRAM credential reaches the brokers through the metadata log, a moment after it was
    accepted: return once `kafka`'s principal can log in, so that the partner's first try works."""
    deadline = time.monotonic() + timeout_s
    while True:
        client = AIOKafkaAdminClient(**kafka.options(), request_timeout_ms=5000)
        try:
            await client.start()
            return
        except KafkaError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await client.close()


def local_passwords(principals: Iterable[str]) -> dict[str, str]:
    """The passwords found in the secrets dir (what `make infra-up` or compose's secrets hold)."""
    from shared.kafka_security import password_file_for

    found = {}
    for principal in principals:
        path = password_file_for(principal)
        if path.is_file() and path.read_text(encoding="utf-8").strip():
            found[principal] = path.read_text(encoding="utf-8").strip()
    return found


async def provision_everything(
    kafka: KafkaConnection, prefix: str, partners: Sequence[str], timeout_s: float = 120.0
) -> tuple[ProvisionReport, list[str], list[str]]:
    """What `make infra-up` and compose's provision job do: the principals whose passwords are in
    the secrets dir, the topics of the catalogue and of every partner (named, or found by its
    intake topic), and the whole ACL table. Returns (topics report, principals set, partners)."""
    everyone = sorted(set(partners) | set(await existing_partners(kafka, prefix)))
    for partner in partners:  # a partner named here gets a password if it has none yet
        remember_password(topics.partner_principal(partner))
    passwords = local_passwords(
        [p for p in access.PRINCIPALS if p not in ("broker", "controller")]
        + [topics.partner_principal(p) for p in everyone]
    )
    await set_passwords(kafka, passwords)
    report = await provision_topics(kafka, prefix, partners=everyone, timeout_s=timeout_s)
    return report, sorted(passwords), everyone


async def ensure_topic(kafka: KafkaConnection, topic: str, partitions: int | None = None) -> int:
    """Create `topic` unless it exists; returns its number of partitions.

    A topic of the catalogue (under any prefix) gets the catalogue's partitions and sizes; any
    other gets `partitions` (default 4). Replication as in `provision_topics`.
    """
    spec = topics.find_spec(topic)
    count = partitions or (spec.partitions if spec else topics.DEFAULT_PARTITIONS)
    deadline = time.monotonic() + 30.0
    wanted = _Wanted(topic, count, spec.configs if spec else {})
    async with _clients(kafka, deadline) as (admin, client):
        # An existing topic is left as it is: ensure_topic only makes sure it exists.
        _, described = await _provision(admin, client, [wanted], deadline, fix_configs=False)
        return len(described[topic]["partitions"])


def _print_report(report: ProvisionReport, prefix: str) -> None:
    total = len(report.created) + len(report.altered) + len(report.unchanged)
    print(
        f"kafka topics{f' (prefix {prefix!r})' if prefix else ''}: {total} provisioned, "
        f"replication factor {report.replication_factor}, min.insync.replicas {report.min_insync_replicas}: "
        f"{len(report.created)} created, {len(report.altered)} fixed, {len(report.unchanged)} already right"
    )
    for name in report.created:
        print(f"  created {name}")
    for name, changed in report.altered.items():
        print(f"  fixed   {name}: " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    for warning in report.warnings:
        print(f"  WARNING {warning}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    from shared.settings import ServiceSettings

    defaults = ServiceSettings()
    parser = argparse.ArgumentParser(
        prog="python -m shared.kafka_admin", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    provision = sub.add_parser(
        "provision",
        help="principals, every topic of shared/topics.py (configs fixed) and the ACLs of shared/access.py",
    )
    provision.add_argument("--bootstrap-servers", default=defaults.kafka_bootstrap_servers)
    provision.add_argument("--prefix", default=defaults.topic_prefix, help="TOPIC_PREFIX (default: none)")
    provision.add_argument(
        "--partner",
        action="append",
        default=[],
        help="a partner's intake too (repeatable; existing ones are kept)",
    )
    provision.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the cluster")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        for partner in args.partner:
            topics.intake_topic(partner)
        kafka = defaults.kafka(access.ADMIN).with_servers(args.bootstrap_servers)
        report, principals, partners = asyncio.run(
            provision_everything(kafka, args.prefix, args.partner, timeout_s=args.timeout)
        )
    except ValueError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 2
    except (KafkaError, TimeoutError, OSError) as exc:
        print(f"kafka: provisioning failed on {args.bootstrap_servers}: {exc!r}", file=sys.stderr)
        return 1
    print(f"kafka principals: {len(principals)} with a password ({', '.join(principals)})")
    print(f"kafka partners: {', '.join(partners) or 'none yet (muba partners add NAME)'}")
    _print_report(report, args.prefix)
    print(f"kafka ACLs: {len(access.grants(args.prefix, partners))} (shared/access.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
