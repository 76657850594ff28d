"""How every process of ours connects to Kafka: which brokers, as which principal, over what.

Every listener of our brokers wants SASL/SCRAM-SHA-512: on loopback and on the private network
`SASL_PLAINTEXT`, on a listener reachable off the host `SASL_SSL` (TLS with the project's CA,
hostname checked). A process connects as its own principal (see shared/access.py for what each
may read and write); its password comes from, in order, `KAFKA_PASSWORD`, the file named by
`KAFKA_PASSWORD_FILE`, or `$MUBA_SECRETS_DIR/kafka/<principal>` (what `make infra-up` writes).

    kafka = KafkaConnection.from_env("registry")
    AIOKafkaConsumer(**kafka.options(), group_id=...)
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from aiokafka import AIOKafkaProducer
from faststream.security import BaseSecurity, SASLScram512

Protocol = Literal["SASL_PLAINTEXT", "SASL_SSL"]
PROTOCOLS: Final[tuple[str, ...]] = ("SASL_PLAINTEXT", "SASL_SSL")
MECHANISM: Final = "SCRAM-SHA-512"
DEFAULT_BOOTSTRAP: Final = "127.0.0.1:9092"
_ROOT: Final = Path(__file__).resolve().parent.parent


class KafkaConfigError(ValueError):
    """A Kafka connection setting is missing or wrong (which one, and how to fix it)."""


def secrets_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the local secrets live: MUBA_SECRETS_DIR, else $MUBA_CACHE/secrets, else the
    checkout's .cache/secrets (never committed)."""
    env = os.environ if environ is None else environ
    if env.get("MUBA_SECRETS_DIR", "").strip():
        return Path(env["MUBA_SECRETS_DIR"].strip())
    if env.get("MUBA_CACHE", "").strip():
        return Path(env["MUBA_CACHE"].strip()) / "secrets"
    return _ROOT / ".cache" / "secrets"


def password_file_for(principal: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where `make infra-up` keeps the password of `principal`."""
    return secrets_dir(environ) / "kafka" / principal


def _read_secret(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KafkaConfigError(f"{what}: cannot read {path} ({exc.strerror or exc})") from None
    if not value:
        raise KafkaConfigError(f"{what}: {path} is empty")
    return value


@dataclass(frozen=True)
class KafkaConnection:
    """Brokers, principal and transport of one client. `password` never appears in a repr."""

    bootstrap_servers: str
    username: str
    password: str | None = field(default=None, repr=False)
    security_protocol: str = "SASL_PLAINTEXT"
    cafile: str | None = None
    # Where the password was looked for, for the error message when there is none.
    password_source: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise KafkaConfigError(
                f"KAFKA_SECURITY_PROTOCOL: {self.security_protocol!r} is not one of {', '.join(PROTOCOLS)}"
                " (every listener of ours wants SASL)"
            )

    @classmethod
    def from_env(
        cls,
        principal: str,
        environ: Mapping[str, str] | None = None,
        *,
        bootstrap_servers: str | None = None,
    ) -> KafkaConnection:
        """The connection `principal` uses, from the environment (KAFKA_USERNAME overrides it)."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str:
            return env.get(name, "").strip()

        return cls.build(
            bootstrap_servers=bootstrap_servers or text("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP,
            username=text("KAFKA_USERNAME") or principal,
            password=env.get("KAFKA_PASSWORD") or None,
            password_file=text("KAFKA_PASSWORD_FILE") or None,
            security_protocol=text("KAFKA_SECURITY_PROTOCOL") or "SASL_PLAINTEXT",
            cafile=text("KAFKA_SSL_CAFILE") or None,
            environ=env,
        )

    @classmethod
    def build(
        cls,
        *,
        bootstrap_servers: str,
        username: str,
        password: str | None = None,
        password_file: str | None = None,
        security_protocol: str = "SASL_PLAINTEXT",
        cafile: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> KafkaConnection:
        """Resolve the password (given, its file, or the secrets dir) and the CA of SASL_SSL."""
        source = "KAFKA_PASSWORD"
        if password is None and password_file:
            password, source = _read_secret(Path(password_file), "KAFKA_PASSWORD_FILE"), password_file
        if password is None:
            default = password_file_for(username, environ)
            source = str(default)
            if default.is_file():
                password = _read_secret(default, f"the password of Kafka principal {username!r}")
        if security_protocol == "SASL_SSL" and not cafile:
            default_ca = secrets_dir(environ) / "tls" / "ca.pem"
            cafile = str(default_ca) if default_ca.is_file() else None
        return cls(bootstrap_servers, username, password, security_protocol, cafile, source)

    def as_principal(self, username: str, password: str | None = None) -> KafkaConnection:
        """The same brokers and transport, as another principal (its password from the secrets dir)."""
        return KafkaConnection.build(
            bootstrap_servers=self.bootstrap_servers,
            username=username,
            password=password,
            security_protocol=self.security_protocol,
            cafile=self.cafile,
        )

    def with_servers(self, bootstrap_servers: str) -> KafkaConnection:
        return replace(self, bootstrap_servers=bootstrap_servers)

    @property
    def servers(self) -> list[str]:
        """A list, not the comma-separated string: FastStream would take that for one host."""
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def _password(self) -> str:
        if self.password is None:
            raise KafkaConfigError(
                f"no Kafka password for principal {self.username!r}: set KAFKA_PASSWORD or"
                f" KAFKA_PASSWORD_FILE (looked for {self.password_source or 'it'}); locally"
                " `make infra-up` writes one for every principal"
            )
        return self.password

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol != "SASL_SSL":
            return None
        context = ssl.create_default_context(cafile=self.cafile)  # system CAs when no cafile
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self._password(),
            "ssl_context": self.ssl_context(),
        }

    def security(self) -> BaseSecurity:
        """The same, for FastStream's KafkaBroker(security=...)."""
        context = self.ssl_context()
        return SASLScram512(
            username=self.username,
            password=self._password(),
            use_ssl=context is not None,
            ssl_context=context,
        )

    def librdkafka(self) -> dict[str, str]:
        """The same, as librdkafka (confluent-kafka, kcat) spells it."""
        found = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "sasl.mechanism": MECHANISM,
            "sasl.username": self.username,
            "sasl.password": self._password(),
        }
        if self.security_protocol == "SASL_SSL":
            found["ssl.endpoint.identification.algorithm"] = "https"
            if self.cafile:
                found["ssl.ca.location"] = self.cafile
        return found


def kafka_producer(kafka: KafkaConnection, **overrides: Any) -> AIOKafkaProducer:
    """Idempotent, acks=all: a retried send never writes a message twice or out of order."""
    options: dict[str, Any] = {
        **kafka.options(),
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        # A dead letter is the original record (up to the partner topics' 2 MiB) plus its dlq_* headers.
        "max_request_size": 5 * 1024 * 1024,
        "request_timeout_ms": 15000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)
