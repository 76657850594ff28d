"""The Kafka node of deploy/compose.yaml, run for real without Docker: its environment, its start
script (deploy/compose/kafka-start.sh) and the secrets deploy/compose/secrets.sh generates, on free
ports of this machine with the Kafka jars the local setup uses.

What compose would do is reproduced from the files themselves: the kafka service's environment
(with its host names, ports and /run/secrets paths moved here), its secrets (each compose secret
name given its generated file), its healthcheck command. So a listener that is not SASL, a
keystore that Kafka cannot read, an admin credential missing at format time or a healthcheck that
cannot authenticate fails here, not on an operator's host.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from aiokafka.helpers import create_ssl_context

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
START = ROOT / "deploy" / "compose" / "kafka-start.sh"
SECRETS_SH = ROOT / "deploy" / "compose" / "secrets.sh"
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<arg>[^}]*))?\}")

pytestmark = pytest.mark.kafka_cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def defaults(value: Any) -> str:
    return _VAR.sub(lambda m: m.group("arg") or "", str(value)).replace("$$", "$")


class ComposeKafka:
    """compose.yaml's `kafka` service, moved onto this machine."""

    def __init__(self, work: Path, libs: str) -> None:
        self.work = work
        compose = yaml.safe_load(COMPOSE_FILE.read_text())
        self.service = compose["services"]["kafka"]
        self.ports = {19092: free_port(), 9092: free_port(), 9192: free_port(), 9093: free_port()}
        self.secrets_out = work / "generated"
        self.run_secrets = work / "run-secrets"
        self.config = work / "config"
        self.data = work / "data"
        self.bin = work / "bin"
        for folder in (self.run_secrets, self.config, self.data, self.bin):
            folder.mkdir(parents=True)

        # deploy/compose/secrets.sh, then each compose secret of the service under its compose name.
        generated = subprocess.run(
            ["bash", str(SECRETS_SH)],
            env={
                **os.environ,
                "MUBA_SECRETS_OUT": str(self.secrets_out),
                "MUBA_KAFKA_EXTERNAL_HOST": "localhost",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert generated.returncode == 0, generated.stderr
        files = compose["secrets"]
        for entry in self.service["secrets"]:
            name = entry if isinstance(entry, str) else entry["source"]
            target = name if isinstance(entry, str) else entry.get("target", name)
            source = (COMPOSE_FILE.parent / files[name]["file"]).resolve()
            relative = source.relative_to((COMPOSE_FILE.parent / "secrets").resolve())
            shutil.copy(self.secrets_out / relative, self.run_secrets / target)

        # The Kafka tools the image has in /opt/kafka/bin, on the jars of the local setup.
        log4j = work / "log4j2.yaml"
        log4j.write_text("Configuration:\n  Loggers:\n    Root:\n      level: WARN\n")
        for tool, main in {
            "kafka-storage.sh": "kafka.tools.StorageTool",
            "kafka-server-start.sh": "kafka.Kafka",
            "kafka-broker-api-versions.sh": "org.apache.kafka.tools.BrokerApiVersionsCommand",
            "kafka-configs.sh": "kafka.admin.ConfigCommand",
        }.items():
            script = self.bin / tool
            heap = "${KAFKA_HEAP_OPTS:--Xmx128m}"
            script.write_text(
                f'#!/usr/bin/env bash\nexec java {heap} -Dlog4j2.configurationFile={log4j} -cp "{libs}/*" {main} "$@"\n'
            )
            script.chmod(0o755)

        env = {str(k): defaults(v) for k, v in self.service["environment"].items()}
        for key in ("KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_CONTROLLER_QUORUM_VOTERS"):
            env[key] = self.moved(env[key])
        env["KAFKA_LOG_DIRS"] = str(self.data)
        env["KAFKA_HEAP_OPTS"] = "-Xmx384m -Xms384m"
        env = {k: v.replace("/run/secrets/", f"{self.run_secrets}/") for k, v in env.items()}
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(work),
            **env,
            "KAFKA_BIN": str(self.bin),
            "MUBA_KAFKA_SECRETS": str(self.run_secrets),
            "MUBA_KAFKA_CONFIG_DIR": str(self.config),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def moved(self, value: str) -> str:
        """Listeners on this machine's free ports: `kafka` -> localhost, all interfaces -> loopback."""
        for container, here in self.ports.items():
            value = re.sub(rf":{container}\b", f":{here}", value)
        return (
            value.replace("//:", "//127.0.0.1:")
            .replace("@kafka:", "@localhost:")
            .replace("//kafka:", "//localhost:")
        )

    def secret(self, name: str) -> str:
        return (self.run_secrets / name).read_text().strip()

    @property
    def external(self) -> str:
        return f"localhost:{self.ports[9192]}"

    @property
    def host(self) -> str:
        return f"localhost:{self.ports[9092]}"

    @property
    def internal(self) -> str:
        return f"localhost:{self.ports[19092]}"

    def command(self) -> list[str]:
        command = self.service["command"]
        assert command[0] == "bash" and command[1].endswith("kafka-start.sh"), command
        return ["bash", str(START), *command[2:]]

    def start(self) -> None:
        log = (self.work / "kafka.log").open("wb")
        self.process = subprocess.Popen(
            self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """The compose healthcheck's command line, with its paths and port moved here."""
        test = self.service["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL"
        line = self.moved(test[1]).replace("/opt/kafka/bin/", f"{self.bin}/")
        line = line.replace("/opt/kafka/config/", f"{self.config}/").replace("localhost:19092", self.internal)
        return subprocess.run(["bash", "-c", line], env=self.env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeKafka]:
    libs = os.environ.get("MUBA_KAFKA_LIBS")
    if not libs or not Path(libs).is_dir():
        pytest.fail(
            "set MUBA_KAFKA_LIBS to the Kafka jars folder (make test does) to start the compose broker"
        )
    node = ComposeKafka(tmp_path_factory.mktemp("compose-kafka"), libs)
    node.start()
    try:
        deadline = time.monotonic() + 120
        while node.healthcheck().returncode != 0:
            assert node.process and node.process.poll() is None, (node.work / "kafka.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the compose broker did not turn healthy in 120 s"
            time.sleep(2)
        yield node
    finally:
        node.stop()


@asynccontextmanager
async def admin_client(**kwargs: Any) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(request_timeout_ms=10_000, **kwargs)
    await asyncio.wait_for(client.start(), 30)
    try:
        yield client
    finally:
        await client.close()


def scram(user: str, password: str) -> dict[str, Any]:
    return {"sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": user, "sasl_plain_password": password}


async def refused(**kwargs: Any) -> bool:
    client = AIOKafkaAdminClient(request_timeout_ms=5_000, **kwargs)
    try:
        await asyncio.wait_for(client.start(), 20)
    except (KafkaConnectionError, TimeoutError):
        return True
    finally:
        await client.close()
    return False


def test_the_healthcheck_authenticates(kafka: ComposeKafka) -> None:
    assert kafka.healthcheck().returncode == 0
    client = (kafka.config / "muba-client.properties").read_text()
    assert "security.protocol=SASL_PLAINTEXT" in client and 'username="broker"' in client
    wrong = kafka.config / "muba-client.properties"
    saved = wrong.read_text()
    wrong.write_text(saved.replace(kafka.secret("kafka_broker_password"), "wrong"))
    try:
        assert kafka.healthcheck().returncode != 0, "the healthcheck passed with a wrong password"
    finally:
        wrong.write_text(saved)


async def test_admin_over_tls_with_the_generated_ca_and_the_host_name_checked(kafka: ComposeKafka) -> None:
    ca = str(kafka.secrets_out / "tls" / "ca.pem")
    admin = scram("admin", kafka.secret("kafka_admin_password"))
    context = create_ssl_context(cafile=ca)
    assert context.check_hostname
    topic = "compose.tls-check.v1"
    async with admin_client(
        bootstrap_servers=kafka.external, security_protocol="SASL_SSL", ssl_context=context, **admin
    ) as client:
        await client.create_topics([NewTopic(topic, 1, 1)])
        assert topic in await client.list_topics()
    # The same over the internal listener (SASL_PLAINTEXT), as the containers connect.
    async with admin_client(
        bootstrap_servers=kafka.internal, security_protocol="SASL_PLAINTEXT", **admin
    ) as client:
        assert topic in await client.list_topics()


async def test_no_listener_lets_anyone_in_without_the_right_credentials(kafka: ComposeKafka) -> None:
    ca = str(kafka.secrets_out / "tls" / "ca.pem")
    admin_password = kafka.secret("kafka_admin_password")
    attempts = {
        "no credentials, internal": {"bootstrap_servers": kafka.internal},
        "no credentials, external": {"bootstrap_servers": kafka.external},
        "no credentials, host": {"bootstrap_servers": kafka.host},
        "wrong password, host": {
            "bootstrap_servers": kafka.host,
            "security_protocol": "SASL_PLAINTEXT",
            **scram("broker", "not-the-password"),
        },
        "TLS without SASL": {
            "bootstrap_servers": kafka.external,
            "security_protocol": "SSL",
            "ssl_context": create_ssl_context(cafile=ca),
        },
        "wrong password": {
            "bootstrap_servers": kafka.internal,
            "security_protocol": "SASL_PLAINTEXT",
            **scram("admin", admin_password + "x"),
        },
        "a principal nobody created": {
            "bootstrap_servers": kafka.internal,
            "security_protocol": "SASL_PLAINTEXT",
            **scram("registry", kafka.secret("kafka_broker_password")),
        },
        "a CA the broker's certificate is not from": {
            "bootstrap_servers": kafka.external,
            "security_protocol": "SASL_SSL",
            "ssl_context": create_ssl_context(),
            **scram("admin", admin_password),
        },
    }
    let_in = [name for name, kwargs in attempts.items() if not await refused(**kwargs)]
    assert not let_in, f"let in: {let_in}"


async def test_a_principal_without_acls_is_denied(kafka: ComposeKafka) -> None:
    """allow.everyone.if.no.acl.found=false: authenticated is not authorised."""
    config = kafka.work / "admin.properties"
    admin_password = kafka.secret("kafka_admin_password")
    config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        f'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="{admin_password}";\n'
    )
    added = await asyncio.to_thread(
        subprocess.run,
        [
            str(kafka.bin / "kafka-configs.sh"),
            "--bootstrap-server",
            kafka.internal,
            "--command-config",
            str(config),
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            "nobody-granted",
            "--add-config",
            "SCRAM-SHA-512=[password=granted-nothing]",
        ],
        env=kafka.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    topic = "compose.acl-check.v1"
    async with admin_client(
        bootstrap_servers=kafka.internal, security_protocol="SASL_PLAINTEXT", **scram("admin", admin_password)
    ) as client:
        await client.create_topics([NewTopic(topic, 1, 1)])
    deadline = time.monotonic() + 30
    while True:  # the new credential reaches the broker through the metadata log
        try:
            async with admin_client(
                bootstrap_servers=kafka.internal,
                security_protocol="SASL_PLAINTEXT",
                **scram("nobody-granted", "granted-nothing"),
            ) as client:
                assert topic not in await client.list_topics(), "a principal without ACLs sees the topic"
                with pytest.raises(TopicAuthorizationFailedError):
                    result = await client.create_topics([NewTopic("compose.not-allowed.v1", 1, 1)])
                    for _, code, *_ in getattr(result, "topic_errors", []):
                        if code == TopicAuthorizationFailedError.errno:
                            raise TopicAuthorizationFailedError()
            break
        except KafkaConnectionError:
            assert time.monotonic() < deadline, "the SCRAM credential added as admin never worked"
            await asyncio.sleep(1)
