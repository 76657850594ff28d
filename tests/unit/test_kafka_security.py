"""shared/kafka_security.py: how a process finds its Kafka password, that the password never shows,
that SASL_SSL verifies the broker, and that a connection without SASL is refused (pure: no broker)."""

import ssl
from pathlib import Path

import pytest
from faststream.security import SASLScram512

from shared.kafka_security import KafkaConfigError, KafkaConnection, password_file_for, secrets_dir
from shared.settings import ServiceSettings

# A CA certificate of no use but to be loaded (self-signed, no key kept anywhere).
TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUKkJJqSqMZA9IMfFn8VEK7pAeq9cwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRbXViYSB1bml0LXRlc3QgQ0EwIBcNMjYxMjAxMTUzMTQyWhgP
MjEyNjExMDcxNTMxNDJaMBwxGjAYBgNVBAMMEW11YmEgdW5pdC10ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECgSF3JQ/wghrr+TjDvlMQKyDm/1isoZ8
h/xlHspFmypgC5kj5vrN0sWXxRbBGwgoWC1VZmfo2Fnr2eTB6eCtiKNTMFEwHQYD
VR0OBBYEFPQiTKIuIic1l8jA/1OjkP2ybdzUMB8GA1UdIwQYMBaAFPQiTKIuIic1
l8jA/1OjkP2ybdzUMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh
ALWPpwKFPa66L3koMhg//w9THdMnUGJUj2z75kpqeuWqAiAJz7BJJxrAE0IcNnw4
i1rG+D9X8vwuVhZVv3Tuq8Gbiw==
-----END CERTIFICATE-----
"""
TEST_CA_NAME = "muba unit-test CA"
SECRET = "s3cr3t-Only-In-The-Env"
FROM_FILE = "pw-from-KAFKA_PASSWORD_FILE"
FROM_DIR = "pw-from-the-secrets-dir"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    """A secrets dir as `make infra-up` writes it, with the registry's and the admin's passwords."""
    root = tmp_path / "secrets"
    (root / "kafka").mkdir(parents=True)
    (root / "kafka" / "registry").write_text(FROM_DIR + "\n")
    (root / "kafka" / "admin").write_text("admin-pw\n")
    (root / "tls").mkdir()
    (root / "tls" / "ca.pem").write_text(TEST_CA)
    return root


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "registry.password"
    path.write_text(f"  {FROM_FILE}\n")
    return path


def env(secrets: Path, **values: str) -> dict[str, str]:
    return {"MUBA_SECRETS_DIR": str(secrets), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092", **values}


# --- where the password comes from ----------------------------------------------------------------


def test_kafka_password_comes_first(secrets: Path, password_file: Path) -> None:
    kafka = KafkaConnection.from_env(
        "registry", env(secrets, KAFKA_PASSWORD=SECRET, KAFKA_PASSWORD_FILE=str(password_file))
    )
    assert kafka.options()["sasl_plain_password"] == SECRET


def test_then_the_password_file(secrets: Path, password_file: Path) -> None:
    kafka = KafkaConnection.from_env("registry", env(secrets, KAFKA_PASSWORD_FILE=str(password_file)))
    assert kafka.options()["sasl_plain_password"] == FROM_FILE  # trimmed


def test_then_the_secrets_dir(secrets: Path) -> None:
    kafka = KafkaConnection.from_env("registry", env(secrets))
    options = kafka.options()
    assert options["sasl_plain_username"] == "registry"
    assert options["sasl_plain_password"] == FROM_DIR
    assert password_file_for("registry", env(secrets)) == secrets / "kafka" / "registry"


def test_an_empty_kafka_password_is_no_password(secrets: Path, password_file: Path) -> None:
    kafka = KafkaConnection.from_env(
        "registry", env(secrets, KAFKA_PASSWORD="", KAFKA_PASSWORD_FILE=str(password_file))
    )
    assert kafka.options()["sasl_plain_password"] == FROM_FILE


def test_kafka_username_chooses_the_principal_and_its_password(secrets: Path) -> None:
    kafka = KafkaConnection.from_env("registry", env(secrets, KAFKA_USERNAME="admin"))
    assert (kafka.username, kafka.options()["sasl_plain_password"]) == ("admin", "admin-pw")


def test_another_principal_reads_its_own_password(secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUBA_SECRETS_DIR", str(secrets))
    registry = KafkaConnection.from_env("registry", env(secrets, KAFKA_SECURITY_PROTOCOL="SASL_SSL"))
    admin = registry.as_principal("admin")
    assert admin.username == "admin" and admin.options()["sasl_plain_password"] == "admin-pw"
    assert (admin.bootstrap_servers, admin.security_protocol) == ("127.0.0.1:19092", "SASL_SSL")
    assert admin.as_principal("registry", "given").options()["sasl_plain_password"] == "given"


def test_no_password_anywhere_is_a_clear_error(secrets: Path) -> None:
    kafka = KafkaConnection.from_env("sponsorship", env(secrets))  # no file for sponsorship
    with pytest.raises(KafkaConfigError) as caught:
        kafka.options()
    message = str(caught.value)
    assert "'sponsorship'" in message and "KAFKA_PASSWORD" in message and "KAFKA_PASSWORD_FILE" in message
    assert str(secrets / "kafka" / "sponsorship") in message  # where it looked
    with pytest.raises(KafkaConfigError):
        kafka.security()
    with pytest.raises(KafkaConfigError):
        kafka.librdkafka()


def test_a_password_file_that_cannot_be_read_is_a_clear_error(secrets: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(KafkaConfigError, match="KAFKA_PASSWORD_FILE: cannot read"):
        KafkaConnection.from_env("registry", env(secrets, KAFKA_PASSWORD_FILE=str(missing)))
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(KafkaConfigError, match="is empty"):
        KafkaConnection.from_env("registry", env(secrets, KAFKA_PASSWORD_FILE=str(empty)))
    # A broken file is an error, not a silent fall back to the secrets dir.
    (secrets / "kafka" / "notifications").write_text("")
    with pytest.raises(KafkaConfigError, match="is empty"):
        KafkaConnection.from_env("notifications", env(secrets))


def test_secrets_dir_order(tmp_path: Path) -> None:
    assert secrets_dir({"MUBA_SECRETS_DIR": "/run/secrets", "MUBA_CACHE": "/c"}) == Path("/run/secrets")
    assert secrets_dir({"MUBA_SECRETS_DIR": " ", "MUBA_CACHE": "/c"}) == Path("/c/secrets")
    checkout = Path(__file__).resolve().parents[2]
    assert secrets_dir({}) == checkout / ".cache" / "secrets"


def test_service_settings_resolve_in_the_same_order(
    secrets: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KAFKA_PASSWORD", "KAFKA_PASSWORD_FILE", "KAFKA_USERNAME", "KAFKA_SECURITY_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MUBA_SECRETS_DIR", str(secrets))
    assert ServiceSettings().kafka("registry").options()["sasl_plain_password"] == FROM_DIR
    monkeypatch.setenv("KAFKA_PASSWORD_FILE", str(password_file))
    assert ServiceSettings().kafka("registry").options()["sasl_plain_password"] == FROM_FILE
    monkeypatch.setenv("KAFKA_PASSWORD", SECRET)
    settings = ServiceSettings()
    assert settings.kafka("registry").options()["sasl_plain_password"] == SECRET
    assert SECRET not in repr(settings)


# --- the password never shows -------------------------------------------------------------------


def test_the_password_is_never_in_a_repr(secrets: Path) -> None:
    for kafka in (
        KafkaConnection.from_env("registry", env(secrets, KAFKA_PASSWORD=SECRET)),
        KafkaConnection.from_env(
            "registry", env(secrets, KAFKA_PASSWORD=SECRET, KAFKA_SECURITY_PROTOCOL="SASL_SSL")
        ),
    ):
        for shown in (repr(kafka), str(kafka), f"{kafka}", repr([kafka]), repr({"k": kafka})):
            assert SECRET not in shown
            assert "registry" in shown and "127.0.0.1:19092" in shown  # what is safe to show is shown
    from_dir = KafkaConnection.from_env("registry", env(secrets))
    assert FROM_DIR not in repr(from_dir)
    # Nor in the error that says it is missing.
    nothing = KafkaConnection("127.0.0.1:19092", "registry")
    with pytest.raises(KafkaConfigError) as caught:
        nothing.options()
    assert "None" not in str(caught.value)


# --- transport -----------------------------------------------------------------------------------


def test_sasl_plaintext_is_the_default_and_has_no_tls(secrets: Path) -> None:
    kafka = KafkaConnection.from_env("registry", env(secrets))
    options = kafka.options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["ssl_context"] is None and kafka.ssl_context() is None
    assert "ssl.endpoint.identification.algorithm" not in kafka.librdkafka()


def test_sasl_ssl_verifies_the_broker_with_the_projects_ca(secrets: Path) -> None:
    kafka = KafkaConnection.from_env("registry", env(secrets, KAFKA_SECURITY_PROTOCOL="SASL_SSL"))
    assert kafka.cafile == str(secrets / "tls" / "ca.pem")  # the default CA: the secrets dir's
    options = kafka.options()
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    subjects = [dict(pair[0] for pair in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": TEST_CA_NAME} in subjects
    # FastStream and librdkafka get the same: TLS, hostname verified, our CA.
    security = kafka.security()
    assert isinstance(security, SASLScram512) and security.use_ssl
    assert security.ssl_context is not None and security.ssl_context.check_hostname
    rd = kafka.librdkafka()
    assert rd["security.protocol"] == "SASL_SSL"
    assert rd["ssl.endpoint.identification.algorithm"] == "https"
    assert rd["ssl.ca.location"] == str(secrets / "tls" / "ca.pem")


def test_sasl_ssl_with_a_ca_of_its_own(secrets: Path, tmp_path: Path) -> None:
    ca = tmp_path / "other-ca.pem"
    ca.write_text(TEST_CA)
    kafka = KafkaConnection.from_env(
        "registry", env(secrets, KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SSL_CAFILE=str(ca))
    )
    assert kafka.cafile == str(ca)
    context = kafka.ssl_context()
    assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_ssl_without_a_ca_file_uses_the_systems_cas_and_still_checks(tmp_path: Path) -> None:
    kafka = KafkaConnection.from_env(
        "registry",
        {
            "MUBA_SECRETS_DIR": str(tmp_path / "none"),
            "KAFKA_PASSWORD": SECRET,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        },
    )
    assert kafka.cafile is None
    context = kafka.ssl_context()
    assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "plaintext", "SASL"])
def test_a_connection_without_sasl_is_refused_with_a_clear_message(secrets: Path, protocol: str) -> None:
    with pytest.raises(KafkaConfigError) as caught:
        KafkaConnection.from_env("registry", env(secrets, KAFKA_SECURITY_PROTOCOL=protocol))
    message = str(caught.value)
    assert "KAFKA_SECURITY_PROTOCOL" in message and repr(protocol) in message
    assert "SASL_PLAINTEXT" in message and "SASL_SSL" in message
    with pytest.raises(KafkaConfigError, match="KAFKA_SECURITY_PROTOCOL"):
        KafkaConnection("127.0.0.1:19092", "registry", SECRET, protocol)
    assert isinstance(caught.value, ValueError)  # settings validation reports it as a bad value


def test_servers_are_a_list() -> None:
    kafka = KafkaConnection(" a:9092, b:9092 ,,c:9092", "registry", SECRET)
    assert kafka.servers == ["a:9092", "b:9092", "c:9092"]
    assert kafka.with_servers("d:9092").servers == ["d:9092"]
    assert kafka.with_servers("d:9092").password == SECRET
