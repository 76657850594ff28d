"""deploy/compose.yaml (and deploy/compose.ha.yaml, three Kafka brokers, merged onto it): valid
against the Compose Specification, in agreement with the setup without Docker
(deploy/local/*.sh, deploy/local/pom.xml, deploy/sql/*), and an operator's file: every setting of
every process listed in deploy/.env.example and passed to the containers that read it, secrets as
compose secrets (never a value in the file), every Kafka listener SASL, the BPJS simulator only
under the `demo` profile.

No Docker engine runs here, so `docker compose config` is not available: these tests are what
keeps the compose file honest. Values are read from the local scripts wherever they are written
down there, so a change on either side that the other does not follow fails a test.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from jsonschema import Draft7Validator  # type: ignore[import-untyped,unused-ignore]
from pydantic import AliasChoices

from services.dashboard.settings import DashboardSettings
from services.notifications.settings import NotificationsSettings
from services.registry.settings import RegistrySettings
from services.sponsorship.settings import SponsorshipSettings
from simulators.bpjs.settings import SimulatorSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
COMPOSE_HA_FILE = DEPLOY / "compose.ha.yaml"
# A copy kept in the repository (deploy/schemas/README.md: source and licence).
SCHEMA_FILE = DEPLOY / "schemas" / "compose-spec.json"
POM = DEPLOY / "local" / "pom.xml"
KAFKA_SH = DEPLOY / "local" / "kafka.sh"
POSTGRES_SH = DEPLOY / "local" / "postgres.sh"
INIT_SQL = DEPLOY / "sql" / "init.sql"
INIT_SH = DEPLOY / "sql" / "00-init.sh"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"

# The services that own a PostgreSQL schema and login role, with their default HTTP ports.
SERVICES: dict[str, int] = {"registry": 8001, "sponsorship": 8002, "notifications": 8003}
# Every container built from deploy/docker/Dockerfile, with the module it runs.
APP_MODULES: dict[str, str] = {
    "registry": "services.registry",
    "sponsorship": "services.sponsorship",
    "notifications": "services.notifications",
    "bpjs-simulator": "simulators.bpjs",
}
# The one-shot container that provisions topics, principals and ACLs before the others start.
TOPICS_SERVICE = "kafka-provision"
# The office's CLI (muba/), under the `tools` profile.
CLI_SERVICE = "muba"
# The office's and the companies' web pages (services/dashboard): no Kafka, no database.
DASHBOARD = "dashboard"
DASHBOARD_PORT = 8007
# The demos' mail catcher (Mailpit), under the `demo` profile.
MAIL_CATCHER = "mailpit"
# The Kafka nodes of compose.ha.yaml, by node id.
HA_KAFKA_NODES: dict[int, str] = {1: "kafka", 2: "kafka-2", 3: "kafka-3"}
# The containers that own a PostgreSQL schema and login role, with that role (its name is also
# the prefix of the container's database settings, <ROLE>_DB_*): the services and the simulator.
ROLES: dict[str, str] = {
    "registry": "registry",
    "sponsorship": "sponsorship",
    "notifications": "notifications",
    "bpjs-simulator": "bpjs",
}
# The settings class of each container that owns a schema.
SERVICE_SETTINGS: dict[str, type[Any]] = {
    "registry": RegistrySettings,
    "sponsorship": SponsorshipSettings,
    "notifications": NotificationsSettings,
    "bpjs-simulator": SimulatorSettings,
}
# Read by every process (shared/settings.py); each service also reads <NAME>_DB_* and
# <NAME>_HTTP_PORT.
COMMON_ENV = ("KAFKA_BOOTSTRAP_SERVERS", "HTTP_HOST", "LOG_LEVEL")
# The local TLS listener sits 100 ports above the client one (deploy/local/kafka.sh: 9192, 9194, 9196).
LOCAL_TLS_PORT_OFFSET = 100
# Compose's stand-ins for the operator's bind address and Kafka host name.
BIND = "${MUBA_BIND_ADDRESS:-127.0.0.1}"
EXTERNAL_HOST = "${MUBA_KAFKA_EXTERNAL_HOST:-localhost}"
# The PostgreSQL major deploy/local/postgres.sh runs (Debian's package); compose must match it.
LOCAL_POSTGRES_MAJOR = 15
INITDB_DIR = PurePosixPath("/docker-entrypoint-initdb.d")

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- helpers ------------------------------------------------------------------------------------


def interpolate(value: str) -> str:
    """Compose's interpolation as `docker compose up` does it with no variable set: the defaults."""
    text = value.replace("$$", "\0")
    text = _VAR.sub(lambda m: m.group("arg") if m.group("op") in (":-", "-") else "", text)
    return text.replace("\0", "$")


def referenced_variables(value: str) -> dict[str, str | None]:
    """`${NAME:-default}` occurrences in a compose string: name -> default (None: no default)."""
    found: dict[str, str | None] = {}
    for m in _VAR.finditer(value.replace("$$", "")):
        found[m.group("name")] = m.group("arg") if m.group("op") in (":-", "-") else None
    return found


def strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def shell_defaults(script: Path) -> dict[str, tuple[str, str]]:
    """`-v name="${ENV:-default}"` arguments of a shell script: psql variable -> (ENV, default)."""
    pattern = re.compile(r'-v\s+(\w+)="\$\{(\w+):-([^}]*)\}"')
    return {m.group(1): (m.group(2), m.group(3)) for m in pattern.finditer(script.read_text())}


def shell_assignment_default(script: Path, name: str) -> str:
    """The default of `name="${ENV:-default}"` in a shell script."""
    m = re.search(rf'^\s*{name}="\$\{{\w+:-([^}}]*)\}}"', script.read_text(), re.MULTILINE)
    assert m, f'{script.relative_to(ROOT)} no longer sets {name}="${{...:-default}}"'
    return m.group(1)


def psql_variables(script: Path) -> set[str]:
    """The psql variables a script passes with `-v name=...` (ON_ERROR_STOP is a psql setting)."""
    return set(re.findall(r"-v\s+(\w+)=", script.read_text())) - {"ON_ERROR_STOP"}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) pairs, after interpolation with the defaults."""
    pairs: set[tuple[int, int]] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.add((int(interpolate(str(entry["published"]))), int(entry["target"])))
            continue
        parts = interpolate(str(entry)).split("/")[0].rsplit(":", 2)
        assert len(parts) >= 2, f"port {entry!r} is not published on a host port"
        pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def published(service: dict[str, Any]) -> set[tuple[str, int, int]]:
    """(host address as written, host port, container port) of each published port."""
    found = set()
    for entry in service.get("ports", []):
        address, host_port, container_port = str(entry).rsplit(":", 2)
        found.add((address, int(interpolate(host_port)), int(interpolate(container_port))))
    return found


def advertised_as_written(env: dict[str, str]) -> dict[str, str]:
    """KAFKA_ADVERTISED_LISTENERS before interpolation: name -> host:port as written."""
    return dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))


def local_tls_port(port: int) -> int:
    """Where deploy/local/kafka.sh puts the TLS listener of the node with client port `port`."""
    m = re.search(r'tls_port="\$\{KAFKA_TLS_PORT:-\$\(\(port \+ (\d+)\)\)\}"', KAFKA_SH.read_text())
    return port + (int(m.group(1)) if m else LOCAL_TLS_PORT_OFFSET)


def mounts(service: dict[str, Any]) -> list[tuple[str, PurePosixPath]]:
    """(source, container path) of each volume entry."""
    found: list[tuple[str, PurePosixPath]] = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            found.append((str(entry["source"]), PurePosixPath(entry["target"])))
        else:
            source, target = interpolate(entry).split(":")[:2]
            found.append((source, PurePosixPath(target)))
    return found


def bind_source(source: str) -> Path:
    """A bind mount's host path: compose resolves relative paths against the compose file's folder."""
    return (COMPOSE_FILE.parent / source).resolve()


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def image_tag(service: dict[str, Any]) -> tuple[str, str]:
    name, _, tag = str(service["image"]).rpartition(":")
    return name, tag


def kafka_listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` -> {NAME: (host, port)}."""
    result: dict[str, tuple[str, int]] = {}
    for item in interpolate(value).split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        result[name] = (host, int(port))
    return result


def local_kafka_properties(brokers: int = 1, node: int = 1) -> dict[str, str]:
    """The server.properties deploy/local/kafka.sh writes for `node` of a `brokers`-node cluster.

    The script prints them itself (`kafka.sh config N`, nothing started or written), with the
    environment of a plain `make infra-up`.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MUBA_"))}
    env["KAFKA_BROKERS"] = str(brokers)
    out = subprocess.run(
        ["bash", str(KAFKA_SH), "config", str(node)], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, f"deploy/local/kafka.sh config {node} failed: {out.stderr}"
    props: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            props[key.strip()] = value.strip()
    assert props, "deploy/local/kafka.sh config printed no properties"
    return props


def local_bootstrap(brokers: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MUBA_"))}
    env["KAFKA_BROKERS"] = str(brokers)
    out = subprocess.run(
        ["bash", str(KAFKA_SH), "bootstrap"], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split(",")


def merge_compose(base: Any, override: Any, key: str = "") -> Any:
    """`docker compose -f base -f override`: the merge rules of the Compose Specification for
    what our files use (mappings by key, volumes by container path, ports added, the rest replaced)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for k, v in override.items():
            merged[k] = merge_compose(base[k], v, k) if k in base else copy.deepcopy(v)
        return merged
    if key == "volumes" and isinstance(base, list) and isinstance(override, list):
        by_target = {
            str(target): entry for entry, (_, target) in zip(base, mounts({"volumes": base}), strict=True)
        }
        for entry, (_, target) in zip(override, mounts({"volumes": override}), strict=True):
            by_target[str(target)] = entry
        return list(by_target.values())
    if key == "ports" and isinstance(base, list) and isinstance(override, list):
        return base + [p for p in override if p not in base]
    return copy.deepcopy(override)


def secret_file_of(compose: dict[str, Any], service: str, container_path: str) -> Path:
    """The host file of the compose secret a service has mounted at `container_path`."""
    for entry in compose["services"][service].get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        path = target if target.startswith("/") else f"/run/secrets/{target}"
        if path == container_path:
            return (COMPOSE_FILE.parent / compose["secrets"][source]["file"]).resolve()
    raise AssertionError(f"{service}: no compose secret is mounted at {container_path}")


def kafka_env_name(prop: str) -> str:
    """The apache/kafka image maps KAFKA_A_B to a.b (and __ to _, ___ to -)."""
    return "KAFKA_" + prop.replace("-", "___").replace("_", "__").replace(".", "_").upper()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), "deploy/compose.yaml is not a YAML mapping"
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    expected = {"kafka", "postgres", TOPICS_SERVICE, CLI_SERVICE, MAIL_CATCHER, DASHBOARD, *APP_MODULES}
    assert set(found) == expected, f"compose services {sorted(found)} != {sorted(expected)}"
    return found


@pytest.fixture(scope="module")
def compose_ha_override() -> dict[str, Any]:
    assert COMPOSE_HA_FILE.is_file(), f"{COMPOSE_HA_FILE} is missing"
    loaded = yaml.safe_load(COMPOSE_HA_FILE.read_text())
    assert isinstance(loaded, dict), "deploy/compose.ha.yaml is not a YAML mapping"
    return loaded


@pytest.fixture(scope="module")
def compose_ha(compose: dict[str, Any], compose_ha_override: dict[str, Any]) -> dict[str, Any]:
    """compose.yaml with compose.ha.yaml merged onto it, as `docker compose -f ... -f ...` does."""
    merged: dict[str, Any] = merge_compose(compose, compose_ha_override)
    expected = {
        "postgres",
        TOPICS_SERVICE,
        CLI_SERVICE,
        MAIL_CATCHER,
        DASHBOARD,
        *APP_MODULES,
        *HA_KAFKA_NODES.values(),
    }
    assert set(merged["services"]) == expected, sorted(merged["services"])
    return merged


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    if not SCHEMA_FILE.is_file():
        pytest.fail(
            f"the Compose Specification schema is missing: expected {SCHEMA_FILE} (the compose-spec "
            "project's schema/compose-spec.json, see deploy/schemas/README.md)"
        )
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


# --- (a) the Compose Specification ----------------------------------------------------------------


@pytest.mark.parametrize("which", ["compose.yaml", "compose.ha.yaml", "both merged"])
def test_compose_file_validates_against_the_compose_specification(
    which: str,
    compose: dict[str, Any],
    compose_ha_override: dict[str, Any],
    compose_ha: dict[str, Any],
    validator: Draft7Validator,
) -> None:
    document = {"compose.yaml": compose, "compose.ha.yaml": compose_ha_override, "both merged": compose_ha}[
        which
    ]
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, f"{which} breaks the Compose Specification:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "kafka", "imagee"), "apache/kafka:4.1.1"),
        (("services", "registry", "depends_on", "kafka", "condition"), "service_ready"),
        (("services", "postgres", "healthcheck", "tset"), "pg_isready"),
        (("volumes", "kafka-data"), "not a mapping"),
    ],
)
def test_the_schema_check_rejects_a_broken_compose_file(
    compose: dict[str, Any], validator: Draft7Validator, path: tuple[str, ...], value: str
) -> None:
    broken = copy.deepcopy(compose)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(validator.iter_errors(broken)), f"the schema accepted {'/'.join(path)} = {value!r}"


def test_every_variable_has_a_default(compose: dict[str, Any], compose_ha_override: dict[str, Any]) -> None:
    """`docker compose up` with no .env must give the same values as the local defaults."""
    missing = {
        name
        for text in strings_in([compose, compose_ha_override])
        for name, default in referenced_variables(text).items()
        if default is None
    }
    assert not missing, f"variables without a ${{NAME:-default}}: {sorted(missing)}"


# --- (b) Kafka -------------------------------------------------------------------------------------


def test_kafka_image_is_the_local_kafka_version(services: dict[str, dict[str, Any]]) -> None:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(POM).getroot().findtext("m:properties/m:kafka.version", namespaces=ns)
    assert version, "deploy/local/pom.xml has no kafka.version property"
    assert image_tag(services["kafka"]) == ("apache/kafka", version.strip())


def test_kafka_is_a_single_kraft_node_with_internal_and_host_listeners(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = services["kafka"]
    env = environment(kafka)
    assert env["KAFKA_NODE_ID"] == "1"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}

    listeners = kafka_listeners(env["KAFKA_LISTENERS"])
    advertised = kafka_listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(listeners) <= set(protocols), "a listener has no security protocol"
    assert listeners[controller][1] == 9093
    assert controller not in advertised, "the controller listener must not be advertised"
    node_id, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert node_id == env["KAFKA_NODE_ID"]
    assert int(voter.rpartition(":")[2]) == listeners[controller][1]

    # The host listener: this host's loopback only, SASL without TLS, on the local broker's port.
    local_port = int(shell_assignment_default(KAFKA_SH, "port"))
    written = advertised_as_written(env)
    host = [name for name, address in written.items() if address.startswith("localhost:")]
    assert len(host) == 1, f"no single listener advertised on localhost: {written}"
    assert advertised[host[0]] == ("localhost", local_port)
    assert protocols[host[0]] == "SASL_PLAINTEXT"
    assert ("127.0.0.1", local_port, listeners[host[0]][1]) in published(kafka), "published off loopback"

    # The external listener: TLS, advertised as the operator's host name, on the local TLS port.
    external = [name for name, address in written.items() if address.startswith(EXTERNAL_HOST + ":")]
    assert len(external) == 1, f"no single listener advertised as {EXTERNAL_HOST}: {written}"
    assert protocols[external[0]] == "SASL_SSL"
    assert advertised[external[0]] == ("localhost", local_tls_port(local_port))
    assert (BIND, local_tls_port(local_port), listeners[external[0]][1]) in published(kafka)

    # The internal listener: what the application containers bootstrap from.
    internal = [name for name, (host, _) in advertised.items() if host == kafka.get("hostname", "kafka")]
    assert len(internal) == 1, f"no single listener advertised on the compose network: {advertised}"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == internal[0]
    bootstrap = "{}:{}".format(*advertised[internal[0]])
    for name in (*APP_MODULES, TOPICS_SERVICE, CLI_SERVICE):
        assert environment(services[name])["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap, name


# Broker settings written both in deploy/local/kafka.sh and in compose: they must agree.
SHARED_KAFKA_PROPERTIES = (
    "node.id",
    "process.roles",
    "num.partitions",
    "default.replication.factor",
    "min.insync.replicas",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "unclean.leader.election.enable",
    "group.initial.rebalance.delay.ms",
    "auto.create.topics.enable",
    "message.max.bytes",
    "replica.fetch.max.bytes",
)


# Security settings of design10.md that compose sets; where deploy/local/kafka.sh writes the same
# property it must agree (the local broker gets them with the lead's SASL setup).
SECURITY_KAFKA_PROPERTIES = {
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "false",
    "super.users": "User:admin;User:broker;User:controller",
    "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
    "sasl.mechanism.controller.protocol": "PLAIN",
}


def assert_same_kafka_settings(service: str, env: dict[str, str], local: dict[str, str]) -> None:
    for prop in SHARED_KAFKA_PROPERTIES:
        name = kafka_env_name(prop)
        assert name in env, f"{name} ({prop}) is not set for {service}"
        assert env[name] == local[prop], (
            f"{service} {prop}: compose {env[name]!r}, deploy/local/kafka.sh {local[prop]!r}"
        )
    for prop, value in SECURITY_KAFKA_PROPERTIES.items():
        name = kafka_env_name(prop)
        assert env.get(name) == value, f"{service} {prop}: {env.get(name)!r}, design10.md says {value!r}"
        if prop in local:
            assert local[prop] == value, f"deploy/local/kafka.sh {prop}: {local[prop]!r}, compose {value!r}"


def test_kafka_settings_match_the_local_broker(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
    local = local_kafka_properties()
    assert local["group.initial.rebalance.delay.ms"] == "0"
    # Topics come from provisioning (shared/kafka_admin.py), never from a producer's first write.
    assert local["auto.create.topics.enable"] == "false"
    assert_same_kafka_settings("kafka", env, local)
    for name, value in env.items():
        if name.endswith(("_REPLICATION_FACTOR", "_MIN_ISR", "_MIN_INSYNC_REPLICAS")):
            assert value == "1", f"{name} must be 1 on a single node"


def test_topics_are_created_by_a_one_shot_service_before_the_apps_start(
    services: dict[str, dict[str, Any]],
) -> None:
    topics = services[TOPICS_SERVICE]
    command = topics["command"]
    assert (command if isinstance(command, list) else command.split()) == [
        "python",
        "-m",
        "shared.kafka_admin",
        "provision",
    ]
    # A one-shot: restarting it after it succeeded would keep it from ever "completing".
    assert topics.get("restart", "no") == "no"
    # As the admin principal, with every principal's password file where provisioning looks for them.
    env = environment(topics)
    assert env["KAFKA_USERNAME"] == "admin"
    secrets_dir = PurePosixPath(env["MUBA_SECRETS_DIR"])
    assert PurePosixPath(env["KAFKA_PASSWORD_FILE"]) == secrets_dir / "kafka" / "admin"
    kafka_folder = [(bind_source(src), target) for src, target in mounts(topics) if "/" in src]
    assert kafka_folder == [((DEPLOY / "secrets" / "kafka").resolve(), secrets_dir / "kafka")], kafka_folder
    assert all(str(v).endswith(":ro") for v in topics["volumes"]), "provisioning only reads the passwords"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    registry = services["registry"]
    assert (topics["image"], topics["build"]) == (registry["image"], registry["build"])
    assert environment(topics)["KAFKA_BOOTSTRAP_SERVERS"] == environment(registry)["KAFKA_BOOTSTRAP_SERVERS"]
    for name in APP_MODULES:
        condition = services[name]["depends_on"][TOPICS_SERVICE]["condition"]
        assert condition == "service_completed_successfully", name
    # The module the container runs has the command (the image installs shared/).
    from shared import kafka_admin

    assert callable(kafka_admin.main)
    with pytest.raises(SystemExit) as usage:
        kafka_admin.main(["provision", "--help"])
    assert usage.value.code == 0


def test_make_infra_up_provisions_the_topics() -> None:
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^infra-up:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert recipe, "the Makefile has no infra-up recipe"
    lines = recipe.group(1).splitlines()
    kafka_up = next(i for i, line in enumerate(lines) if "kafka.sh up" in line)
    provision = next(i for i, line in enumerate(lines) if "shared.kafka_admin provision" in line)
    assert provision > kafka_up, "topics are provisioned before Kafka is up"


# --- (b) Kafka with three brokers (compose.ha.yaml) -------------------------------------------------


def test_ha_kafka_nodes_match_the_local_three_broker_cluster(compose_ha: dict[str, Any]) -> None:
    services = compose_ha["services"]
    bootstrap_ports = [int(address.rpartition(":")[2]) for address in local_bootstrap(3)]
    assert len(bootstrap_ports) == len(HA_KAFKA_NODES) == 3
    heap = re.search(r'^\s*3\).*heap="\$\{KAFKA_HEAP:-(\w+)\}"', KAFKA_SH.read_text(), re.MULTILINE)
    assert heap, "deploy/local/kafka.sh names no default heap for three brokers"
    images, cluster_ids, volumes = set(), set(), set()
    for node_id, name in HA_KAFKA_NODES.items():
        node = services[name]
        env = environment(node)
        local = local_kafka_properties(3, node_id)
        assert env["KAFKA_NODE_ID"] == str(node_id)
        assert_same_kafka_settings(name, env, local)
        assert (local["default.replication.factor"], local["min.insync.replicas"]) == ("3", "2")
        assert env["KAFKA_HEAP_OPTS"].split() == [f"-Xmx{heap.group(1)}", f"-Xms{heap.group(1)}"]
        images.add(node["image"])
        cluster_ids.add(env["CLUSTER_ID"])

        # A 3-voter quorum, the same for every node, on each node's controller listener.
        listeners = kafka_listeners(env["KAFKA_LISTENERS"])
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        voters = dict(v.split("@") for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
        assert voters == {str(i): f"{n}:{listeners[controller][1]}" for i, n in HA_KAFKA_NODES.items()}

        # Clients on the host: node N on the ports the local cluster gives node N (client and TLS).
        advertised = kafka_listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        assert controller not in advertised
        written = advertised_as_written(env)
        host = [n for n, address in written.items() if address.startswith("localhost:")]
        external = [n for n, address in written.items() if address.startswith(EXTERNAL_HOST + ":")]
        assert len(host) == len(external) == 1, written
        port = bootstrap_ports[node_id - 1]
        assert advertised[host[0]][1] == port, name
        assert ("127.0.0.1", port, listeners[host[0]][1]) in published(node), name
        assert advertised[external[0]][1] == local_tls_port(port), name
        assert (BIND, local_tls_port(port), listeners[external[0]][1]) in published(node), name
        internal = env["KAFKA_INTER_BROKER_LISTENER_NAME"]
        assert advertised[internal][0] == node.get("hostname", name)

        data = {target: source for source, target in mounts(node)}
        volume = data[PurePosixPath(env["KAFKA_LOG_DIRS"])]
        assert volume in compose_ha["volumes"] and volume != "kafka-data", f"{name}: {volume}"
        volumes.add(volume)
        assert "kafka-broker-api-versions.sh" in healthcheck_command(node)
    assert len(images) == 1 and len(cluster_ids) == 1, "one cluster, one Kafka version"
    assert len(volumes) == 3, "each node keeps its log on a volume of its own"


def test_ha_clients_bootstrap_from_every_broker_and_wait_for_them(compose_ha: dict[str, Any]) -> None:
    services = compose_ha["services"]
    internal = []
    for name in HA_KAFKA_NODES.values():
        env = environment(services[name])
        advertised = kafka_listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        internal.append("{}:{}".format(*advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]))
    for name in (*APP_MODULES, TOPICS_SERVICE, CLI_SERVICE):
        service = services[name]
        assert environment(service)["KAFKA_BOOTSTRAP_SERVERS"].split(",") == internal, name
        for node in HA_KAFKA_NODES.values():
            assert service["depends_on"][node]["condition"] == "service_healthy", f"{name} -> {node}"
    for name in APP_MODULES:
        assert services[name]["depends_on"][TOPICS_SERVICE]["condition"] == "service_completed_successfully"


def test_kafka_heap_cluster_id_storage_and_healthcheck(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = environment(kafka)
    assert env["KAFKA_HEAP_OPTS"].split() == ["-Xmx512m", "-Xms512m"]

    cluster_id = env["CLUSTER_ID"]
    try:
        raw = base64.urlsafe_b64decode(cluster_id + "=" * (-len(cluster_id) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    assert len(raw) == 16 and len(cluster_id) == 22, f"CLUSTER_ID {cluster_id!r} is not a Kafka Uuid"

    volumes = dict(mounts(kafka))
    named = {PurePosixPath(target): source for source, target in volumes.items()}
    log_dir = PurePosixPath(env["KAFKA_LOG_DIRS"])
    assert named.get(log_dir) in compose["volumes"], "the Kafka log dir is not on a named volume"

    check = healthcheck_command(kafka)
    assert "kafka-broker-api-versions.sh" in check
    bootstrap = re.search(r"--bootstrap-server\s+\S+:(\d+)", check)
    assert bootstrap, f"the kafka healthcheck names no --bootstrap-server: {check}"
    port = int(bootstrap.group(1))
    assert port in {p for _, p in kafka_listeners(env["KAFKA_LISTENERS"]).values()}


# --- (b) PostgreSQL ----------------------------------------------------------------------------------


def test_postgres_image_major_matches_the_local_one(services: dict[str, dict[str, Any]]) -> None:
    name, tag = image_tag(services["postgres"])
    assert name == "postgres"
    assert int(re.split(r"[.-]", tag)[0]) == LOCAL_POSTGRES_MAJOR


def test_postgres_database_port_volume_and_healthcheck(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    env = environment(postgres)
    assert env["POSTGRES_DB"] == shell_assignment_default(POSTGRES_SH, "dbname") == "muba"
    local_port = int(shell_assignment_default(POSTGRES_SH, "port"))
    assert (local_port, 5432) in published_ports(postgres)
    assert "pg_isready" in healthcheck_command(postgres)
    data = {target: source for source, target in mounts(postgres)}
    assert data.get(PurePosixPath("/var/lib/postgresql/data")) in compose["volumes"]
    assert "POSTGRES_PASSWORD" not in env, "the superuser's password belongs in a secret"
    assert (
        secret_file_of(compose, "postgres", env["POSTGRES_PASSWORD_FILE"])
        == DEPLOY / "secrets/postgres/postgres"
    )


def test_init_sql_runs_once_through_the_init_script(services: dict[str, dict[str, Any]]) -> None:
    """Only 00-init.sh sits in the initdb folder; init.sql is mounted where 00-init.sh reads it."""
    bind = [(bind_source(src), target) for src, target in mounts(services["postgres"]) if "/" in src]
    in_initdb = [(src, target) for src, target in bind if target.parent == INITDB_DIR or target == INITDB_DIR]
    assert in_initdb == [(INIT_SH.resolve(), INITDB_DIR / INIT_SH.name)], (
        f"only {INIT_SH.name} may be mounted in {INITDB_DIR}, found {in_initdb}"
    )
    assert INIT_SH.suffix == ".sh"
    m = re.search(r'-f\s+"\$\{\w+:-([^}]+)\}"', INIT_SH.read_text())
    assert m, '00-init.sh does not run a file with -f "${VAR:-path}"'
    sql_path = PurePosixPath(m.group(1))
    assert sql_path.parent != INITDB_DIR, "the image would run init.sql a second time without variables"
    assert (INIT_SQL.resolve(), sql_path) in bind, f"init.sql is not mounted at {sql_path}"


def test_init_script_passes_exactly_the_variables_init_sql_uses() -> None:
    sql = INIT_SQL.read_text()
    used = set(re.findall(r""":'(\w+)'""", sql)) | set(re.findall(r""":"(\w+)\"""", sql))
    assert used, "no psql variables found in init.sql"
    assert psql_variables(INIT_SH) == used
    assert psql_variables(POSTGRES_SH) == used, "deploy/local/postgres.sh and init.sql disagree"
    text = INIT_SH.read_text()
    assert re.search(r"-v\s+ON_ERROR_STOP=1", text)
    assert re.search(r'--username\s+"\$POSTGRES_USER"\s+--dbname\s+"\$POSTGRES_DB"', text)
    assert re.search(r'-v\s+dbname="\$POSTGRES_DB"', text)


def test_password_defaults_agree_with_the_local_setup(services: dict[str, dict[str, Any]]) -> None:
    local = shell_defaults(POSTGRES_SH)
    in_image = shell_defaults(INIT_SH)
    for service in ROLES.values():
        variable, default = local[f"{service}_password"]
        assert default == service, f"deploy/local/postgres.sh: {service}'s default password is {default!r}"
        assert in_image[f"{service}_password"] == (variable, default), f"00-init.sh, {service}"
        # 00-init.sh reads <SERVICE>_DB_PASSWORD_FILE first: the postgres container gives it a secret.
        # (tests/services/test_db_dsn.py runs it with such files against a PostgreSQL of its own.)
        loop = re.search(r"^for \w+ in ([A-Z ]+); do\n.*?_DB_PASSWORD_FILE", INIT_SH.read_text(), re.M | re.S)
        assert loop and service.upper() in loop.group(1).split(), f"00-init.sh does not read {variable}_FILE"


def test_each_role_is_created_with_the_password_its_service_logs_in_with(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """The postgres container creates each role from one secret file; the service reads the same file."""
    postgres_env = environment(services["postgres"])
    for container, role in ROLES.items():
        variable = f"{role.upper()}_DB_PASSWORD"
        assert variable not in postgres_env, f"postgres: {variable} must come from a secret"
        created_with = secret_file_of(compose, "postgres", postgres_env[f"{variable}_FILE"])
        env = environment(services[container])
        assert variable not in env, f"{container}: {variable} must come from a secret"
        logs_in_with = secret_file_of(compose, container, env[f"{variable}_FILE"])
        assert created_with == logs_in_with == DEPLOY / "secrets" / "postgres" / role, container


# --- (b) the application containers ---------------------------------------------------------------


def test_every_service_connects_as_its_own_role_to_muba(
    compose: dict[str, Any],
    services: dict[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DSN each service builds from what compose gives it (its settings class, for real)."""
    dbname = shell_assignment_default(POSTGRES_SH, "dbname")
    postgres_env = environment(services["postgres"])
    assert postgres_env["POSTGRES_DB"] == dbname
    postgres_port = {container for _, container in published_ports(services["postgres"])}
    for service, settings_class in SERVICE_SETTINGS.items():
        role = ROLES[service]
        env = {k: interpolate(v) for k, v in environment(services[service]).items()}
        urls = {k for k in env if k.endswith("_DATABASE_URL")}
        assert not urls, f"{service}: a URL would carry the password; compose gives the parts ({urls})"
        others = {k for k in env if re.match(r"[A-Z]+_DB_", k) and not k.startswith(f"{role.upper()}_DB_")}
        assert not others, f"{service} sees another service's database settings: {others}"
        password = tmp_path / f"{service}-password"
        password.write_text("p@ss/w#rd?%: é\n")
        env[f"{role.upper()}_DB_PASSWORD_FILE"] = str(password)
        for key in list(os.environ):
            if key.startswith(f"{role.upper()}_D"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        url = urlsplit(settings_class().database_url)
        assert url.scheme in {"postgresql", "postgres"}
        assert (unquote(url.username or ""), unquote(url.password or "")) == (role, "p@ss/w#rd?%: é")
        assert url.hostname == "postgres" and url.port in postgres_port
        assert url.path == f"/{dbname}"


def test_every_variable_the_services_read_is_set(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_MODULES:
        env = environment(services[name])
        required = set(COMMON_ENV)
        if name in ROLES:
            required |= {
                f"{ROLES[name].upper()}_DB_{part}"
                for part in ("HOST", "PORT", "NAME", "USER", "PASSWORD_FILE")
            }
        if name in SERVICES:
            required.add(f"{name.upper()}_HTTP_PORT")
        missing = required - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert env["HTTP_HOST"] == "0.0.0.0", f"{name} must listen on all interfaces in its container"
        assert interpolate(env["LOG_LEVEL"]), name


def test_app_containers_share_one_image_and_run_their_module(services: dict[str, dict[str, Any]]) -> None:
    images = set()
    for name, module in APP_MODULES.items():
        app = services[name]
        build = app["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == ROOT, f"{name}: the build context must be the repository root"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE.resolve()
        images.add(app["image"])
        command = app["command"]
        assert (command if isinstance(command, list) else command.split()) == ["python", "-m", module]
        assert app["restart"] == "unless-stopped"
    assert len(images) == 1, f"the app containers must share one image, found {images}"


def test_app_containers_wait_for_healthy_kafka_and_postgres(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_MODULES:
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency in ("kafka", "postgres"):
            assert depends[dependency]["condition"] == "service_healthy", f"{name} -> {dependency}"
            assert "healthcheck" in services[dependency]


def test_app_healthchecks_hit_healthz_on_their_own_port(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_MODULES:
        app = services[name]
        env = environment(app)
        port_vars = [k for k in env if k.endswith("_HTTP_PORT")]
        assert len(port_vars) == 1, f"{name}: one *_HTTP_PORT expected, found {port_vars}"
        port = int(interpolate(env[port_vars[0]]))
        check = healthcheck_command(app)
        assert "urllib.request" in check and "curl" not in check, f"{name}: {check}"
        # The port the process listens on, whatever the operator set it to.
        assert f"os.environ['{port_vars[0]}']" in check and "/healthz" in check, f"{name}: {check}"
        assert "http://127.0.0.1:" in check
        if name in SERVICES:
            assert port_vars[0] == f"{name.upper()}_HTTP_PORT"
            assert port == SERVICES[name]
            assert (port, port) in published_ports(app), f"{name}: port {port} not published"
            # Host and container port follow the same setting.
            raw = " ".join(str(p) for p in app["ports"])
            assert raw.count(f"${{{port_vars[0]}:-{port}}}") == 2, f"{name}: {raw}"


# --- the image -------------------------------------------------------------------------------------


def test_dockerfile_builds_a_slim_non_root_image_of_the_project() -> None:
    text = DOCKERFILE.read_text()
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    minimum = re.search(r"(\d+\.\d+)", requires)
    assert minimum, f"pyproject.toml: requires-python {requires!r} names no version"
    python = minimum.group(1)
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert bases and all(base == f"python:{python}-slim" for base in bases), bases
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the image must not run as root"
    assert re.search(r"pip install --no-cache-dir \.", text)
    assert re.findall(r"^CMD\s+(.+)$", text, re.MULTILINE)[-1] == '["python", "-m", "services.registry"]'
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", ".cache", ".git", "tests", "bench/results"} <= ignored


# --- (c) an operator's file: settings, secrets, profiles, SASL everywhere --------------------------------

ENV_EXAMPLE = DEPLOY / ".env.example"
SECRETS_SH = DEPLOY / "compose" / "secrets.sh"
KAFKA_START = DEPLOY / "compose" / "kafka-start.sh"
# design10.md: the Kafka client settings every Kafka client reads (shared.kafka_security).
KAFKA_CLIENT_SETTINGS = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_USERNAME",
    "KAFKA_PASSWORD",
    "KAFKA_PASSWORD_FILE",
    "KAFKA_SSL_CAFILE",
    "MUBA_SECRETS_DIR",
)
# design10.md: HTTP tokens, read by every process built on shared/settings.py.
HTTP_SETTINGS = ("MUBA_API_TOKENS_FILE", "MUBA_OPERATOR_TOKEN", "MUBA_OPERATOR_TOKEN_FILE")
# design10.md's principals (partners come later, one each) and the container each runs in.
PRINCIPALS = (
    "admin",
    "broker",
    "controller",
    "registry",
    "sponsorship",
    "notifications",
    "bpjs",
    "operator",
    # Downstream subscribers run outside compose: a password to hand over, no container.
    "subscriber",
)
CONTAINER_PRINCIPALS = {
    "registry": "registry",
    "sponsorship": "sponsorship",
    "notifications": "notifications",
    "bpjs-simulator": "bpjs",
    CLI_SERVICE: "operator",
    TOPICS_SERVICE: "admin",
}
KAFKA_CLIENTS = tuple(CONTAINER_PRINCIPALS)


def raw_environment(service: dict[str, Any]) -> dict[str, str | None]:
    """The environment as written: None for a pass-through entry (`NAME:` with no value)."""
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment is written as a mapping"
    return {str(k): None if v is None else str(v) for k, v in env.items()}


def pydantic_settings(cls: type[Any], base: type[Any] | None = None) -> dict[str, Any]:
    """alias -> field of a settings class (only its own fields when `base` is given)."""
    found = {}
    for name, field in cls.model_fields.items():
        if base is not None and name in base.model_fields and field == base.model_fields[name]:
            continue
        if isinstance(field.validation_alias, str):
            found[field.validation_alias] = field
        elif isinstance(field.validation_alias, AliasChoices):  # its first name; the rest are old names
            first = field.validation_alias.choices[0]
            if isinstance(first, str):
                found[first] = field
    return found


class RecordingEnviron(dict[str, str]):
    """An empty environment that notes every name it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def cli_settings() -> set[str]:
    from muba.config import Config

    environ = RecordingEnviron()
    Config.from_env(environ)
    assert environ.asked, "muba.config.Config.from_env read nothing"
    return environ.asked


def readers() -> dict[str, set[str]]:
    """Every setting any process reads -> the compose containers of the processes that read it
    (empty: no container of compose.yaml runs that process)."""
    from shared.settings import ServiceSettings
    from simulators.gateway.settings import GatewaySimulatorSettings

    found: dict[str, set[str]] = {}

    def read_by(names: Any, *containers: str) -> None:
        for name in names:
            found.setdefault(name, set()).update(containers)

    read_by(pydantic_settings(ServiceSettings), *APP_MODULES)
    read_by(HTTP_SETTINGS, *APP_MODULES)
    clock_settings = [
        "MUBA_CLOCK_SKEW_S",
        "MUBA_PROGRAMME_EPOCH",
        "MUBA_PROGRAMME_ANCHOR",
        "MUBA_PROGRAMME_SPEED",
    ]
    read_by(clock_settings, *APP_MODULES)  # shared/clock.py
    read_by(KAFKA_CLIENT_SETTINGS, *KAFKA_CLIENTS)
    read_by(["TOPIC_PREFIX", "LOG_LEVEL"], TOPICS_SERVICE)  # shared.kafka_admin reads ServiceSettings
    for service, cls in SERVICE_SETTINGS.items():
        read_by(pydantic_settings(cls, ServiceSettings), service)
        prefix = cls.database_env_prefix
        assert prefix == ROLES[service].upper()
        read_by([f"{prefix}_DATABASE_URL"], service)
        read_by(
            [f"{prefix}_DB_{p}" for p in ("HOST", "PORT", "NAME", "USER", "PASSWORD", "PASSWORD_FILE")],
            service,
        )
    read_by(pydantic_settings(GatewaySimulatorSettings, ServiceSettings))
    read_by(cli_settings(), CLI_SERVICE)
    read_by(pydantic_settings(DashboardSettings), DASHBOARD)
    found.pop("", None)
    return found


def env_example() -> tuple[dict[str, str], set[str], set[str], set[str]]:
    """deploy/.env.example: assignments, commented assignments (pass-through, unset by default),
    the names compose fixes itself, the names not used under compose."""
    assigned: dict[str, str] = {}
    commented: set[str] = set()
    fixed: set[str] = set()
    unused: set[str] = set()
    section = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("# ---"):
            section = line
            continue
        if m := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            assert m.group(1) not in assigned, f".env.example sets {m.group(1)} twice"
            assigned[m.group(1)] = m.group(2)
        elif m := re.fullmatch(r"#([A-Z][A-Z0-9_]*)=.*", line):
            commented.add(m.group(1))
        elif m := re.match(r"#\s+([A-Z][A-Z0-9_]*(?:,\s*[A-Z][A-Z0-9_]*)*)(?:\s|$)", line):
            names = {n.strip() for n in m.group(1).split(",")}
            if "Set by compose.yaml" in section:
                fixed |= names
            elif "Not used under compose" in section:
                unused |= names
    return assigned, commented, fixed, unused


def test_every_setting_is_listed_in_env_example_and_reaches_its_containers(
    services: dict[str, dict[str, Any]],
) -> None:
    assigned, commented, fixed, unused = env_example()
    listed = set(re.findall(r"[A-Z][A-Z0-9_]+", ENV_EXAMPLE.read_text()))
    problems = []
    for setting, containers in sorted(readers().items()):
        if setting not in listed:
            problems.append(f"{setting}: not in deploy/.env.example")
            continue
        if not containers and setting not in unused:
            problems.append(f"{setting}: no container reads it; list it under 'Not used under compose'")
        for container in sorted(containers):
            env = raw_environment(services[container])
            if setting in unused:
                if setting in env:
                    problems.append(f"{container}: {setting} is listed as not used, yet compose sets it")
                continue
            if setting not in env:
                problems.append(f"{container} reads {setting}, compose does not pass it")
                continue
            value = env[setting]
            if value is None:  # pass-through: unset unless the operator sets it
                if setting not in commented:
                    problems.append(f"{setting}: passed through; .env.example must show it as #{setting}=")
                continue
            variables = referenced_variables(value)
            if not variables:
                if setting not in fixed:
                    problems.append(
                        f"{container}: {setting}={value!r} is fixed by compose, not listed as such"
                    )
                continue
            for variable in variables:
                if variable not in assigned:
                    problems.append(f"{container}: {setting} comes from ${{{variable}}}, not in .env.example")
    assert not problems, "\n".join(problems)


def test_env_example_values_are_the_defaults_of_compose_and_of_the_code(
    compose: dict[str, Any], compose_ha_override: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from muba.config import Config
    from shared.settings import ServiceSettings

    assigned, _, _, _ = env_example()
    compose_defaults: dict[str, set[str]] = {}
    for text in strings_in([compose, compose_ha_override]):
        for name, default in referenced_variables(text).items():
            compose_defaults.setdefault(name, set()).add(default or "")
    for name, defaults in compose_defaults.items():
        assert len(defaults) == 1, f"${{{name}}} has several defaults in compose: {defaults}"
        assert name in assigned, f"${{{name}}} is not in .env.example"
        assert assigned[name] == next(iter(defaults)), (
            f"{name}: .env.example {assigned[name]!r}, compose {defaults}"
        )
    assert set(assigned) - {"COMPOSE_PROFILES"} <= set(compose_defaults), (
        f".env.example sets what compose never reads: {sorted(set(assigned) - set(compose_defaults))}"
    )

    # Each container setting's compose default is what the code would use without it.
    for key in list(os.environ):
        monkeypatch.delenv(key)
    classes: dict[str, list[type[Any]]] = {name: [ServiceSettings] for name in APP_MODULES}
    for service, cls in SERVICE_SETTINGS.items():
        classes[service] = [cls]
    classes[DASHBOARD] = [DashboardSettings]
    checked = 0
    for container, service in compose["services"].items():
        for setting, value in raw_environment(service).items():
            variables = referenced_variables(value or "")
            if (
                len(variables) != 1
                or value != f"${{{next(iter(variables))}:-{next(iter(variables.values()))}}}"
            ):
                continue
            default = interpolate(value or "")
            if container == CLI_SERVICE:
                given_config, default_config = Config.from_env({setting: default}), Config.from_env({})
                for name in Config.model_fields:
                    if "environ" in name:  # a copy of the environment it was given, not a setting
                        continue
                    assert getattr(given_config, name) == getattr(default_config, name), (
                        f"muba CLI {setting}: {name}"
                    )
                checked += 1
                continue
            for cls in classes.get(container, []):
                fields = pydantic_settings(cls)
                if setting not in fields:
                    continue
                with monkeypatch.context() as m:
                    m.setenv(setting, default)
                    given = getattr(cls(), fields[setting].alias or "", None)
                    given = cls().model_dump()[
                        next(n for n, f in cls.model_fields.items() if f is fields[setting])
                    ]
                field_default = fields[setting].default
                if default == "" and field_default is None:
                    continue  # empty is unset (INSTANCE_ID)
                assert given == field_default, (
                    f"{container} {setting}: compose {default!r}, code {field_default!r}"
                )
                checked += 1
    assert checked >= 25, f"only {checked} defaults compared"


def test_no_secret_value_is_written_in_the_compose_files(tmp_path: Path) -> None:
    """Generate the secrets, then look for every one of them in the files; and structurally: every
    setting that holds a credential is a path to a mounted secret, or passed through unset."""
    out = tmp_path / "secrets"
    done = subprocess.run(
        ["bash", str(SECRETS_SH)],
        env={**os.environ, "MUBA_SECRETS_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    texts = {path.name: path.read_text() for path in (COMPOSE_FILE, COMPOSE_HA_FILE, ENV_EXAMPLE)}
    for secret in out.rglob("*"):
        if secret.is_file() and secret.suffix != ".pem" and secret.name != "ca.key":
            for value in re.findall(r"[A-Za-z0-9_-]{32,}", secret.read_text()):
                for name, text in texts.items():
                    assert value not in text, f"{name} holds the value of {secret.relative_to(out)}"
    for document in (yaml.safe_load(COMPOSE_FILE.read_text()), yaml.safe_load(COMPOSE_HA_FILE.read_text())):
        for container, service in document["services"].items():
            for setting, value in raw_environment(service).items():
                if re.search(r"PASSWORD|TOKEN|SECRET|_KEY\b|DATABASE_URL|JAAS", setting):
                    if setting.endswith(("_FILE", "_LOCATION", "_DIR")):
                        assert value and value.startswith("/run/secrets/"), f"{container} {setting}={value}"
                    else:
                        assert value is None, f"{container}: {setting} carries a credential in the file"


def test_every_secret_file_is_generated_gitignored_and_kept_out_of_images(
    compose: dict[str, Any], compose_ha: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "secrets"
    env = {**os.environ, "MUBA_SECRETS_OUT": str(out), "MUBA_KAFKA_EXTERNAL_HOST": "kafka.muba.example"}
    first = subprocess.run(["bash", str(SECRETS_SH)], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    folder = (DEPLOY / "secrets").resolve()
    for name, secret in compose["secrets"].items():
        source = (COMPOSE_FILE.parent / secret["file"]).resolve()
        assert source.is_relative_to(folder), f"secret {name} lives outside deploy/secrets: {source}"
        generated = out / source.relative_to(folder)
        assert generated.is_file() and generated.stat().st_size > 0, f"secrets.sh does not generate {name}"
        # Readable by the containers' own users (bind mounts keep the host's mode), in a 0700 folder.
        assert generated.stat().st_mode & 0o777 == 0o644, f"{name}: {oct(generated.stat().st_mode)}"
    assert out.stat().st_mode & 0o777 == 0o700
    assert (out / "tls" / "ca.key").stat().st_mode & 0o777 == 0o600
    # Every principal of design10.md, and every container's principal, has its password file.
    for principal in {*PRINCIPALS, *CONTAINER_PRINCIPALS.values()}:
        assert (out / "kafka" / principal).is_file(), principal
    # The broker certificate: signed by the CA, valid for the external host name and localhost.
    keystore = out / "tls" / "broker-keystore.pem"
    for host in ("kafka.muba.example", "localhost"):
        checked = subprocess.run(
            ["openssl", "x509", "-noout", "-checkhost", host, "-in", str(keystore)],
            capture_output=True,
            text=True,
        )
        assert "does match" in checked.stdout, checked.stdout
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(out / "tls" / "ca.pem"), str(keystore)],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert keystore.read_text().startswith("-----BEGIN PRIVATE KEY-----"), "Kafka's PEM keystore wants PKCS#8"
    # A second run replaces nothing.
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = subprocess.run(["bash", str(SECRETS_SH)], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # Never committed, never in a build context.
    for path in ("deploy/secrets/kafka/admin", "deploy/.env"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, capture_output=True)
        assert ignored.returncode == 0, f"{path} must be gitignored"
    assert {"deploy/secrets", "deploy/.env"} <= {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
    }
    # Every secret a service of the merged files uses is declared.
    for container, service in compose_ha["services"].items():
        for entry in service.get("secrets", []):
            source = entry if isinstance(entry, str) else entry["source"]
            assert source in compose["secrets"], f"{container}: secret {source} is not declared"


def test_each_kafka_client_runs_as_its_own_principal(compose: dict[str, Any]) -> None:
    seen = set()
    for container, principal in CONTAINER_PRINCIPALS.items():
        env = environment(compose["services"][container])
        assert env["KAFKA_USERNAME"] == principal, container
        assert (
            env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
            and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        )
        if container == TOPICS_SERVICE:
            continue  # reads the folder of every principal's password (test above)
        assert (
            secret_file_of(compose, container, env["KAFKA_PASSWORD_FILE"])
            == DEPLOY / "secrets/kafka" / principal
        )
        seen.add(principal)
    assert len(seen) == len(CONTAINER_PRINCIPALS) - 1, "two containers share a principal"
    assert "subscriber" not in CONTAINER_PRINCIPALS.values()
    # secrets.sh generates exactly design10.md's principals.
    generated = re.search(r"^KAFKA_PRINCIPALS=\(([^)]*)\)", SECRETS_SH.read_text(), re.MULTILINE)
    assert generated and set(generated.group(1).split()) == set(PRINCIPALS)


def test_the_bpjs_simulator_starts_only_with_the_demo_profile(compose_ha: dict[str, Any]) -> None:
    for name, service in compose_ha["services"].items():
        profiles = service.get("profiles", [])
        if name in ("bpjs-simulator", MAIL_CATCHER):
            assert profiles == ["demo"], f"a production `up` must never start {name}"
        elif name == CLI_SERVICE:
            assert profiles == ["tools"]
        else:
            assert not profiles, f"{name} would not start with a plain `up`"
            # Nothing a plain `up` starts may need the simulator (compose would then start it).
            assert not {"bpjs-simulator", MAIL_CATCHER} & set(service.get("depends_on", {})), name
    text = ENV_EXAMPLE.read_text()
    assert re.search(r"^COMPOSE_PROFILES=$", text, re.MULTILINE), "production is the default"


def kafka_nodes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        n: s for n, s in document["services"].items() if str(s.get("image", "")).startswith("apache/kafka")
    }


@pytest.mark.parametrize("which", ["compose.yaml", "both merged"])
def test_every_kafka_listener_is_sasl(
    which: str, compose: dict[str, Any], compose_ha: dict[str, Any]
) -> None:
    document = compose if which == "compose.yaml" else compose_ha
    nodes = kafka_nodes(document)
    assert len(nodes) == (1 if which == "compose.yaml" else 3)
    for name, node in nodes.items():
        env = environment(node)
        protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        listeners = kafka_listeners(env["KAFKA_LISTENERS"])
        assert set(listeners) <= set(protocols)
        for listener in listeners:
            assert protocols[listener].startswith("SASL_"), f"{name}: {listener} is {protocols[listener]}"
        # A listener published off loopback is the TLS one, with the generated keystore.
        off_loopback = {container for address, _, container in published(node) if address != "127.0.0.1"}
        assert off_loopback, f"{name}: nothing for clients off the host"
        for listener, (_, port) in listeners.items():
            if port in off_loopback:
                assert protocols[listener] == "SASL_SSL", f"{name}: {listener} is reachable off the host"
                prefix = f"KAFKA_LISTENER_NAME_{listener}_SSL_KEYSTORE_"
                assert env[prefix + "TYPE"] == "PEM"
                assert secret_file_of(document, name, env[prefix + "LOCATION"]) == (
                    DEPLOY / "secrets/tls/broker-keystore.pem"
                )
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        assert env[f"KAFKA_LISTENER_NAME_{controller}_SASL_ENABLED_MECHANISMS"] == "PLAIN"
        assert env["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] == "PLAIN"
        for listener in set(listeners) - {controller}:
            assert env[f"KAFKA_LISTENER_NAME_{listener}_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512", listener
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert set(env["KAFKA_SUPER_USERS"].split(";")) == {"User:admin", "User:broker", "User:controller"}
        # The advertised host off the compose network is the operator's, localhost by default.
        advertised = raw_environment(node)["KAFKA_ADVERTISED_LISTENERS"] or ""
        assert "${MUBA_KAFKA_EXTERNAL_HOST:-localhost}" in advertised, name
        # The start script that brings the passwords and the SCRAM bootstrap, and an authenticated healthcheck.
        assert node["command"] == ["bash", "/muba/kafka-start.sh"], name
        assert (KAFKA_START.resolve(), PurePosixPath("/muba/kafka-start.sh")) in [
            (bind_source(s), t) for s, t in mounts(node) if "/" in s
        ]
        assert set(node["secrets"]) == {
            "kafka_broker_password",
            "kafka_controller_password",
            "kafka_admin_password",
            "kafka_broker_keystore",
        }
        assert "--command-config /opt/kafka/config/muba-client.properties" in healthcheck_command(node)


def test_the_three_kafka_nodes_agree(compose_ha: dict[str, Any]) -> None:
    """Anchors do not cross files: what compose.ha.yaml writes again for nodes 2 and 3 must match node 1."""
    per_node = {"KAFKA_NODE_ID", "KAFKA_ADVERTISED_LISTENERS"}
    nodes = kafka_nodes(compose_ha)
    first = environment(nodes["kafka"])
    for name, node in nodes.items():
        env = environment(node)
        assert {k: v for k, v in env.items() if k not in per_node} == {
            k: v for k, v in first.items() if k not in per_node
        }, name
        for key in ("image", "command", "secrets", "healthcheck", "stop_grace_period"):
            assert node.get(key) == nodes["kafka"].get(key), f"{name}: {key}"


def test_the_start_script_renders_the_compose_environment_with_the_secrets(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """kafka-start.sh's server.properties: every KAFKA_* of the container (the image's naming), the
    JVM variables left out, the JAAS lines carrying the passwords from the secret files."""
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    values = {name: f"{name}-Value_0123456789" for name in compose["services"]["kafka"]["secrets"]}
    for name, value in values.items():
        (secrets / name).write_text(value + "\n")
    env = {k: interpolate(v) for k, v in environment(compose["services"]["kafka"]).items()}
    done = subprocess.run(
        ["bash", str(KAFKA_START), "render"],
        env={
            "PATH": os.environ["PATH"],
            **env,
            "MUBA_KAFKA_SECRETS": str(secrets),
            "MUBA_KAFKA_CONFIG_DIR": str(tmp_path / "config"),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    props = dict(line.split("=", 1) for line in done.stdout.splitlines() if line and not line.startswith("#"))
    rendered = {kafka_env_name(p): v for p, v in props.items() if "jaas" not in p}
    expected = {k: v for k, v in env.items() if k.startswith("KAFKA_") and k != "KAFKA_HEAP_OPTS"}
    assert rendered == expected
    controller = values["kafka_controller_password"]
    assert props["listener.name.controller.plain.sasl.jaas.config"].count(f'"{controller}"') == 2
    broker = props["listener.name.internal.scram-sha-512.sasl.jaas.config"]
    assert f'username="broker" password="{values["kafka_broker_password"]}"' in broker
    assert "listener.name.external.scram-sha-512.sasl.jaas.config" in props
    assert (tmp_path / "config" / "muba-server.properties").stat().st_mode & 0o777 == 0o600
    # A password the JAAS and SCRAM syntax cannot carry is refused, not half-written.
    (secrets / "kafka_broker_password").write_text('bad" password\n')
    refused = subprocess.run(
        ["bash", str(KAFKA_START), "render"],
        env={
            "PATH": os.environ["PATH"],
            **env,
            "MUBA_KAFKA_SECRETS": str(secrets),
            "MUBA_KAFKA_CONFIG_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode != 0 and "kafka_broker_password" in refused.stderr


def test_the_services_and_the_cli_share_the_generated_office_token(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    cli = compose["services"][CLI_SERVICE]
    env = environment(cli)
    for service, port in SERVICES.items():
        url = urlsplit(interpolate(env[f"{service.upper()}_URL"]))
        assert (url.hostname, url.port) == (service, port), service
        assert referenced_variables(env[f"{service.upper()}_URL"]) == {
            f"{service.upper()}_HTTP_PORT": str(port)
        }
    assert cli["entrypoint"] == ["muba"]
    office = DEPLOY / "secrets/http/office-token"
    assert secret_file_of(compose, CLI_SERVICE, env["MUBA_OPERATOR_TOKEN_FILE"]) == office
    for app in APP_MODULES:
        app_env = environment(compose["services"][app])
        assert secret_file_of(compose, app, app_env["MUBA_OPERATOR_TOKEN_FILE"]) == office, app
        assert (
            secret_file_of(compose, app, app_env["MUBA_API_TOKENS_FILE"])
            == DEPLOY / "secrets/http/api-tokens"
        )
    # What secrets.sh writes: one office token, and a tokens file of `NAME ROLE TOKEN` lines
    # (shared/http_access.py) with an auditor and no second office token.
    out = tmp_path / "secrets"
    done = subprocess.run(
        ["bash", str(SECRETS_SH)],
        env={**os.environ, "MUBA_SECRETS_OUT": str(out)},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0
    lines = [
        line.split() for line in (out / "http" / "api-tokens").read_text().splitlines() if line[:1] != "#"
    ]
    assert [(name, role) for name, role, _ in lines] == [("auditor", "auditor")]
    assert lines[0][2] != (out / "http" / "office-token").read_text().strip()


def test_the_mail_catcher_is_for_demos_only_pinned_and_on_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    catcher = services[MAIL_CATCHER]
    assert catcher["profiles"] == ["demo"]  # a production `up` never swallows the e-mails
    image, _, tag = catcher["image"].partition(":")
    assert image == "axllent/mailpit" and re.fullmatch(r"v\d+\.\d+\.\d+", tag), catcher["image"]
    assert catcher["ports"] == ["${MUBA_BIND_ADDRESS:-127.0.0.1}:8025:8025"]
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "NOTIFICATIONS_SMTP_HOST=mailpit NOTIFICATIONS_SMTP_PORT=1025" in example


def test_the_dashboard_reads_the_services_apis_with_the_generated_tokens_on_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    """No Kafka, no database: the services' URLs on the compose network, the office and API tokens
    as secrets (it tells at login which view a token opens), its port published on the bind
    address, started once the services are healthy."""
    dashboard = services[DASHBOARD]
    env = raw_environment(dashboard)
    assert dashboard["command"] == ["python", "-m", "services.dashboard"]
    assert dashboard["image"] == services["registry"]["image"]
    assert not any(name.startswith(("KAFKA_", "DB_")) or "_DB_" in name for name in env)
    for service, port in SERVICES.items():
        assert interpolate(env[f"{service.upper()}_URL"]) == f"http://{service}:{port}"
        assert dashboard["depends_on"][service] == {"condition": "service_healthy"}
    assert env["MUBA_OPERATOR_TOKEN_FILE"] == "/run/secrets/office_token"
    assert env["MUBA_API_TOKENS_FILE"] == "/run/secrets/api_tokens"
    assert set(dashboard["secrets"]) == {"office_token", "api_tokens"}
    assert interpolate(env["DASHBOARD_PORT"]) == str(DASHBOARD_PORT) == str(DashboardSettings().http_port)
    assert dashboard["ports"] == [
        f"{BIND}:${{DASHBOARD_PORT:-{DASHBOARD_PORT}}}:${{DASHBOARD_PORT:-{DASHBOARD_PORT}}}"
    ]
    assert "/healthz" in " ".join(dashboard["healthcheck"]["test"])
    assert "profiles" not in dashboard
