"""PostgreSQL DSNs from their parts (shared.db.database_url, the services' settings): any password,
user or database name arrives as it was written, read back by asyncpg's own DSN parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asyncpg import connect_utils

from services.notifications.settings import NotificationsSettings
from services.registry.settings import RegistrySettings
from services.sponsorship.settings import SponsorshipSettings
from shared.db import DB_PART_SUFFIXES, DatabaseSettingsError, database_url, database_url_from_env
from shared.settings import ServiceSettings

# The characters that break a URL pasted together by hand, and some that only look harmless.
HOSTILE_PASSWORDS = [
    "p@ss",
    "a/b",
    "hash#tag",
    "what?now",
    "100%",
    "colon:colon",
    "two words",
    " leading and trailing ",
    "kata-sandi-ĸ€y-日本",
    "@/#?%: all+of=them&more;'\"\\",
    "%40already%2Fencoded",
]

SETTINGS = {
    "REGISTRY": RegistrySettings,
    "SPONSORSHIP": SponsorshipSettings,
    "NOTIFICATIONS": NotificationsSettings,
}


def parsed(dsn: str) -> tuple[list[Any], Any]:
    """What asyncpg makes of a DSN: its addresses and connection parameters."""
    addrs, params = connect_utils._parse_connect_dsn_and_args(
        dsn=dsn,
        host=None,
        port=None,
        user=None,
        password=None,
        passfile=None,
        database=None,
        ssl=None,
        service=None,
        servicefile=None,
        direct_tls=None,
        server_settings=None,
        target_session_attrs=None,
        krbsrvname=None,
        gsslib=None,
    )
    return addrs, params


@pytest.fixture(autouse=True)
def no_database_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's own *_DATABASE_URL must not leak into these cases."""
    for prefix in SETTINGS:
        monkeypatch.delenv(f"{prefix}_DATABASE_URL", raising=False)
        for suffix in DB_PART_SUFFIXES:
            monkeypatch.delenv(prefix + suffix, raising=False)


@pytest.mark.parametrize("password", HOSTILE_PASSWORDS)
def test_any_password_survives_the_round_trip_through_asyncpg(password: str) -> None:
    dsn = database_url(
        "postgresql://registry:registry@127.0.0.1:5432/muba",
        host="db.internal",
        port=6432,
        name="muba prod/2026",
        user="registry@muba",
        password=password,
    )
    addrs, params = parsed(dsn)
    assert addrs == [("db.internal", 6432)]
    assert (params.user, params.password, params.database) == ("registry@muba", password, "muba prod/2026")


def test_a_url_pasted_together_by_hand_does_not_survive() -> None:
    """Why the parts exist: the old compose file wrote the password into the URL as it was."""
    password = "p@ss/w#rd"
    addrs, params = parsed(f"postgresql://registry:{password}@postgres:5432/muba")
    assert (addrs, params.password) != ([("postgres", 5432)], password)


def test_what_is_not_given_is_kept_from_the_base_url() -> None:
    base = "postgresql://registry:old@db-1:5433/muba?sslmode=require&application_name=registry"
    dsn = database_url(base, password="n3w:pass")
    assert dsn == "postgresql://registry:n3w%3Apass@db-1:5433/muba?sslmode=require&application_name=registry"
    assert database_url(base) == base
    # A new host keeps the base's port; a new port keeps the hosts, all of them.
    assert database_url(base, host="db-2").startswith("postgresql://registry:old@db-2:5433/")
    multi = database_url("postgresql://u@a:5432,b:5432,[::1]:5432/muba", port=6000)
    assert parsed(multi)[0] == [("a", 6000), ("b", 6000), ("::1", 6000)]


def test_hosts_that_are_not_names() -> None:
    assert parsed(database_url("postgresql://u@x/muba", host="::1", port=5432))[0] == [("::1", 5432)]
    # A socket directory: asyncpg connects to the socket file in it.
    addrs, _ = parsed(database_url("postgresql://u@x/muba", host="/run/postgresql"))
    assert addrs == ["/run/postgresql/.s.PGSQL.5432"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "not a TCP port"),
        ({"port": 70000}, "not a TCP port"),
        ({"host": ""}, "empty database host"),
    ],
)
def test_impossible_parts_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DatabaseSettingsError, match=message):
        database_url("postgresql://u@h/muba", **kwargs)
    with pytest.raises(DatabaseSettingsError, match="postgresql://"):
        database_url("mysql://u@h/muba", password="x")


# --- the services' settings ----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", list(SETTINGS))
def test_each_service_assembles_its_dsn_from_its_own_parts(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "@/#?%: é"
    monkeypatch.setenv(f"{prefix}_DB_HOST", "postgres")
    monkeypatch.setenv(f"{prefix}_DB_PORT", "5432")
    monkeypatch.setenv(f"{prefix}_DB_NAME", "muba")
    monkeypatch.setenv(f"{prefix}_DB_USER", prefix.lower())
    monkeypatch.setenv(f"{prefix}_DB_PASSWORD", password)
    # Another service's parts are not this one's.
    other = next(p for p in SETTINGS if p != prefix)
    monkeypatch.setenv(f"{other}_DB_USER", "intruder")
    addrs, params = parsed(SETTINGS[prefix]().database_url)
    assert addrs == [("postgres", 5432)]
    assert (params.user, params.password, params.database) == (prefix.lower(), password, "muba")


def test_the_url_alone_still_works_and_parts_go_into_it(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://registry:registry@db.internal:5432/muba?sslmode=require"
    monkeypatch.setenv("REGISTRY_DATABASE_URL", url)
    assert RegistrySettings().database_url == url
    monkeypatch.setenv("REGISTRY_DB_PASSWORD", "s3cret#1")
    assert RegistrySettings().database_url == url.replace(":registry@", ":s3cret%231@")
    # Empty variables count as unset (compose's ${VAR:-} gives empty strings).
    monkeypatch.setenv("REGISTRY_DB_PASSWORD", "")
    monkeypatch.setenv("REGISTRY_DB_HOST", "")
    assert RegistrySettings().database_url == url


def test_without_any_setting_the_default_url_stays() -> None:
    assert RegistrySettings().database_url == "postgresql://registry:registry@127.0.0.1:5432/muba"
    assert ServiceSettings().database_url == ""


def test_parts_go_into_the_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPONSORSHIP_DB_PASSWORD", "x y")
    assert SponsorshipSettings().database_url == "postgresql://sponsorship:x%20y@127.0.0.1:5432/muba"


def test_the_constructor_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_DB_HOST", "elsewhere")
    assert RegistrySettings(database_url="postgresql://a@b/c").database_url == "postgresql://a@b/c"


def test_the_password_file_is_read_without_its_line_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "registry_db_password"
    secret.write_text(" spaces kept @/#?%:\n", encoding="utf-8")
    monkeypatch.setenv("REGISTRY_DB_PASSWORD_FILE", str(secret))
    assert parsed(RegistrySettings().database_url)[1].password == " spaces kept @/#?%:"
    secret.write_text("crlf\r\n", encoding="utf-8")
    assert parsed(RegistrySettings().database_url)[1].password == "crlf"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"REGISTRY_DB_PASSWORD": "hunter2", "REGISTRY_DB_PASSWORD_FILE": "/x"}, "both set"),
        ({"REGISTRY_DB_PASSWORD_FILE": "/nonexistent/hunter2"}, "cannot read"),
        ({"REGISTRY_DB_PORT": "54 32"}, "must be a port number"),
        ({"REGISTRY_DB_PORT": "99999"}, "not a TCP port"),
        ({"REGISTRY_DATABASE_URL": "http://h/muba", "REGISTRY_DB_PASSWORD": "hunter2"}, "postgresql://"),
    ],
)
def test_a_wrong_setting_is_named_and_the_password_is_not(environ: dict[str, str], message: str) -> None:
    with pytest.raises(DatabaseSettingsError, match=message) as refused:
        database_url_from_env("REGISTRY", environ, "postgresql://registry:registry@127.0.0.1:5432/muba")
    assert "REGISTRY" in str(refused.value)
    assert "hunter2" not in str(refused.value).replace("/nonexistent/hunter2", "")


def test_an_empty_password_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv("NOTIFICATIONS_DB_PASSWORD_FILE", str(tmp_path / "empty"))
    with pytest.raises(DatabaseSettingsError, match=r"NOTIFICATIONS_DB_PASSWORD_FILE=.*empty"):
        NotificationsSettings()
