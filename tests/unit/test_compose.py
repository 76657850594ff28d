"""deploy/compose.yaml (and deploy/compose.ha.yaml, three Kafka brokers, merged onto it): valid
against the Compose Specification, and in agreement with the setup without Docker
(deploy/local/*.sh, deploy/local/pom.xml, deploy/sql/*).

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
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft7Validator  # type: ignore[import-untyped,unused-ignore]

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
# The one-shot container that creates the topics before the others start.
TOPICS_SERVICE = "kafka-topics"
# The Kafka nodes of compose.ha.yaml, by node id.
HA_KAFKA_NODES: dict[int, str] = {1: "kafka", 2: "kafka-2", 3: "kafka-3"}
# Read by every process (shared/settings.py); each service also reads <NAME>_DATABASE_URL and
# <NAME>_HTTP_PORT.
COMMON_ENV = ("KAFKA_BOOTSTRAP_SERVERS", "HTTP_HOST", "LOG_LEVEL")
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
    for item in value.split(","):
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
    expected = {"kafka", "postgres", TOPICS_SERVICE, *APP_MODULES}
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
    expected = {"postgres", TOPICS_SERVICE, *APP_MODULES, *HA_KAFKA_NODES.values()}
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

    # The host listener: advertised as localhost on the port the local broker uses, and published.
    local_port = int(shell_assignment_default(KAFKA_SH, "port"))
    external = [name for name, (host, port) in advertised.items() if host == "localhost"]
    assert len(external) == 1, f"no single listener advertised on localhost: {advertised}"
    assert advertised[external[0]] == ("localhost", local_port)
    assert (local_port, listeners[external[0]][1]) in published_ports(kafka)

    # The internal listener: what the application containers bootstrap from.
    internal = [name for name, (host, _) in advertised.items() if host == kafka.get("hostname", "kafka")]
    assert len(internal) == 1, f"no single listener advertised on the compose network: {advertised}"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == internal[0]
    bootstrap = "{}:{}".format(*advertised[internal[0]])
    for name in APP_MODULES:
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


def assert_same_kafka_settings(service: str, env: dict[str, str], local: dict[str, str]) -> None:
    for prop in SHARED_KAFKA_PROPERTIES:
        name = kafka_env_name(prop)
        assert name in env, f"{name} ({prop}) is not set for {service}"
        assert env[name] == local[prop], (
            f"{service} {prop}: compose {env[name]!r}, deploy/local/kafka.sh {local[prop]!r}"
        )


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

        # Clients on the host: node N on the port the local cluster gives node N.
        advertised = kafka_listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        assert controller not in advertised
        external = [n for n, (host, _) in advertised.items() if host == "localhost"]
        assert len(external) == 1, advertised
        assert advertised[external[0]][1] == bootstrap_ports[node_id - 1], name
        assert (bootstrap_ports[node_id - 1], listeners[external[0]][1]) in published_ports(node), name
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
    for name in (*APP_MODULES, TOPICS_SERVICE):
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
    assert referenced_variables(env["POSTGRES_PASSWORD"]).get("POSTGRES_PASSWORD"), (
        "POSTGRES_PASSWORD must come from ${POSTGRES_PASSWORD:-default}"
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
    postgres_env = environment(services["postgres"])
    for service in SERVICES:
        variable, default = local[f"{service}_password"]
        assert default == service, f"deploy/local/postgres.sh: {service}'s default password is {default!r}"
        assert in_image[f"{service}_password"] == (variable, default), f"00-init.sh, {service}"
        # The postgres container hands the same variable, with the same default, to 00-init.sh.
        assert referenced_variables(postgres_env[variable]) == {variable: default}, f"postgres {variable}"


# --- (b) the application containers ---------------------------------------------------------------


def test_every_service_connects_as_its_own_role_to_muba(services: dict[str, dict[str, Any]]) -> None:
    dbname = shell_assignment_default(POSTGRES_SH, "dbname")
    local = shell_defaults(POSTGRES_SH)
    postgres_port = {container for _, container in published_ports(services["postgres"])}
    for service in SERVICES:
        env = environment(services[service])
        urls = {k for k in env if k.endswith("_DATABASE_URL")}
        assert urls == {f"{service.upper()}_DATABASE_URL"}, f"{service} must see only its own database URL"
        raw = env[f"{service.upper()}_DATABASE_URL"]
        variable, default = local[f"{service}_password"]
        assert referenced_variables(raw) == {variable: default}, f"{service}: password not from {variable}"
        url = urlsplit(interpolate(raw))
        assert url.scheme in {"postgresql", "postgres"}
        assert (url.username, url.password) == (service, default)
        assert url.hostname == "postgres" and url.port in postgres_port
        assert url.path == f"/{dbname}"
    assert not any(k.endswith("_DATABASE_URL") for k in environment(services["bpjs-simulator"]))


def test_every_variable_the_services_read_is_set(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_MODULES:
        env = environment(services[name])
        required = set(COMMON_ENV)
        if name in SERVICES:
            required |= {f"{name.upper()}_DATABASE_URL", f"{name.upper()}_HTTP_PORT"}
            settings = ROOT / "services" / name / "settings.py"
            if settings.is_file():  # whatever the service's own settings read without a usable default
                aliases = re.findall(r"""validation_alias\s*=\s*["']([A-Z0-9_]+)["']""", settings.read_text())
                required |= {a for a in aliases if a.endswith(("_DATABASE_URL", "_HTTP_PORT"))}
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
        port = int(env[port_vars[0]])
        check = healthcheck_command(app)
        assert "urllib.request" in check and "curl" not in check, f"{name}: {check}"
        assert f"http://127.0.0.1:{port}/healthz" in check, f"{name}: healthcheck misses port {port}"
        if name in SERVICES:
            assert port_vars[0] == f"{name.upper()}_HTTP_PORT"
            assert port == SERVICES[name]
            assert (port, port) in published_ports(app), f"{name}: port {port} not published"


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
