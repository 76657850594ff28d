"""PostgreSQL plumbing: connection pools, the migration runner every service uses, and the DSN
built from its parts (any password works)."""

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"

# A connection of our own or one lent by a pool: repositories take either.
if TYPE_CHECKING:
    Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]
else:
    Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy


class DatabaseSettingsError(ValueError):
    """A database setting that cannot give a DSN (names the variable, never the password)."""


# The parts of a DSN an operator may give instead of (or on top of) <SERVICE>_DATABASE_URL.
DB_PART_SUFFIXES = ("_DB_HOST", "_DB_PORT", "_DB_NAME", "_DB_USER", "_DB_PASSWORD", "_DB_PASSWORD_FILE")


def _encode(text: str) -> str:
    # Everything but unreserved characters: `@ / # ? % :`, spaces and non-ASCII (as UTF-8) alike.
    return quote(text, safe="")


def _encode_host(host: str) -> str:
    if ":" in host and not host.startswith("["):  # an IPv6 literal
        return f"[{host}]"
    return _encode(host)  # a socket directory (/run/postgresql) travels percent-encoded too


def database_url(
    base: str,
    *,
    host: str | None = None,
    port: int | None = None,
    name: str | None = None,
    user: str | None = None,
    password: str | None = None,
) -> str:
    """`base` (a postgresql:// URL) with the given parts put in, each percent-encoded, so that no
    character of a password, user or database name can end up in another part of the URL.

    What is not given is kept from `base` as written there (its query too: sslmode=...).
    asyncpg decodes every part again (`urllib.parse.unquote`), libpq does the same.
    """
    parts = urlsplit(base)
    if parts.scheme not in {"postgresql", "postgres"}:
        raise DatabaseSettingsError(f"not a postgresql:// URL (scheme {parts.scheme!r})")
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if not at:
        userinfo, hostlist = "", parts.netloc
    raw_user, colon, raw_password = userinfo.partition(":")
    if user is not None:
        raw_user = _encode(user)
    if password is not None:
        raw_password, colon = _encode(password), ":"
    if host is not None or port is not None:
        hostlist = _replace_hosts(hostlist, host, port)
    if raw_password and not raw_user:
        raise DatabaseSettingsError("a database password without a user name")
    userinfo = raw_user + (":" + raw_password if colon and raw_password else "")
    netloc = f"{userinfo}@{hostlist}" if userinfo else hostlist
    path = "/" + _encode(name) if name is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def _replace_hosts(hostlist: str, host: str | None, port: int | None) -> str:
    """One host (and its port) instead of `hostlist`, or the same hosts on another port."""
    if port is not None and not 0 < port < 65536:
        raise DatabaseSettingsError(f"database port {port} is not a TCP port")
    if host is not None:
        if not host:
            raise DatabaseSettingsError("an empty database host")
        if port is None and "," not in hostlist:  # keep the base's port when it names one host
            old_port = hostlist.rpartition("]")[2].rpartition(":")[2]
            port = int(old_port) if old_port.isdigit() else None
        return _encode_host(host) + (f":{port}" if port is not None else "")
    hosts = []
    for spec in hostlist.split(","):
        # [v6]:port or name:port (asyncpg's own reading of a host list)
        bare = spec[: spec.index("]") + 1] if spec.startswith("[") else spec.partition(":")[0]
        hosts.append(f"{bare}:{port}")
    return ",".join(hosts)


def read_secret_file(path: str, variable: str) -> str:
    """A password kept in a file (a compose secret): its text without the trailing line break(s).

    Only CR/LF are stripped (`$(cat file)` in a shell strips the same), so a password may
    begin or end with spaces."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatabaseSettingsError(f"{variable}={path}: cannot read it ({type(e).__name__})") from None
    secret = text.rstrip("\r\n")
    if not secret:
        raise DatabaseSettingsError(f"{variable}={path}: the file is empty")
    return secret


def database_url_from_env(prefix: str, environ: Mapping[str, str], default: str) -> str | None:
    """The DSN of <prefix>_DATABASE_URL (else `default`) with the parts <prefix>_DB_HOST, _DB_PORT,
    _DB_NAME, _DB_USER, _DB_PASSWORD or _DB_PASSWORD_FILE put in; None when no part is set (the URL
    is then used as it is). An empty variable counts as not set."""
    values = {suffix: environ.get(prefix + suffix, "") for suffix in DB_PART_SUFFIXES}
    if not any(values.values()):
        return None
    password: str | None = values["_DB_PASSWORD"] or None
    if values["_DB_PASSWORD_FILE"]:
        if password is not None:
            raise DatabaseSettingsError(
                f"{prefix}_DB_PASSWORD and {prefix}_DB_PASSWORD_FILE are both set: set one of them"
            )
        password = read_secret_file(values["_DB_PASSWORD_FILE"], f"{prefix}_DB_PASSWORD_FILE")
    port: int | None = None
    if values["_DB_PORT"]:
        try:
            port = int(values["_DB_PORT"])
        except ValueError:
            raise DatabaseSettingsError(
                f"{prefix}_DB_PORT must be a port number, got {values['_DB_PORT']!r}"
            ) from None
    base = environ.get(f"{prefix}_DATABASE_URL", "") or default
    try:
        return database_url(
            base,
            host=values["_DB_HOST"] or None,
            port=port,
            name=values["_DB_NAME"] or None,
            user=values["_DB_USER"] or None,
            password=password,
        )
    except DatabaseSettingsError as e:
        raise DatabaseSettingsError(f"{prefix} database settings: {e}") from None


class DatabaseUrlSource(PydanticBaseSettingsSource):
    """`database_url` assembled from <PREFIX>_DB_* (percent-encoded, so any password works), for the
    settings classes that name a `database_env_prefix`; nothing when no part is set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        prefix = getattr(self.settings_cls, "database_env_prefix", "")
        field = self.settings_cls.model_fields.get("database_url")
        if not prefix or field is None:
            return {}
        alias = field.validation_alias if isinstance(field.validation_alias, str) else "database_url"
        if {alias, "database_url"} & set(self.current_state):  # given to the constructor
            return {}
        url = database_url_from_env(prefix, os.environ, default=str(field.default))
        return {} if url is None else {alias: url}


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# The client's own bound on one statement: a server that went away without closing the
# connection (a partition, a frozen host) fails the statement instead of hanging it forever.
# Above the roles' statement_timeout (deploy/sql/init.sql), which normally ends a slow one first.
COMMAND_TIMEOUT_S = 60.0
# What the server does about a peer that went silent (asyncpg sets no client-side keepalives).
TCP_KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


def _server_settings(extra: dict[str, str] | None) -> dict[str, str]:
    return {**TCP_KEEPALIVES, **(extra or {})}


async def create_pool(
    dsn: str,
    min_size: int = 2,
    max_size: int = 8,
    server_settings: dict[str, str] | None = None,
    **kwargs: Any,
) -> asyncpg.Pool:
    kwargs.setdefault("command_timeout", COMMAND_TIMEOUT_S)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=_server_settings(server_settings),
        **kwargs,
    )
    assert pool is not None
    return pool


async def connect(
    dsn: str, server_settings: dict[str, str] | None = None, **kwargs: Any
) -> asyncpg.Connection:
    """One connection of our own; `server_settings` are session settings (e.g. the relay's
    idle_session_timeout), on top of the role's and the keepalives."""
    kwargs.setdefault("command_timeout", COMMAND_TIMEOUT_S)
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, server_settings=_server_settings(server_settings), **kwargs
    )
    await _init_connection(conn)
    return conn


def migration_files(service_migrations: Path) -> list[tuple[str, Path]]:
    """Shared plumbing first, then the service's own files, each in name order."""
    shared = [(f"shared/{p.name}", p) for p in sorted(SHARED_MIGRATIONS.glob("*.sql"))]
    own = [(p.name, p) for p in sorted(service_migrations.glob("*.sql"))]
    return shared + own


async def migrate(dsn: str, service_migrations: Path) -> list[str]:
    """Apply what is not applied yet, recorded in `schema_migrations` in the role's own schema.

    A session-level advisory lock per schema makes concurrent start-ups take turns.
    Returns the versions this call applied.
    """
    # A migration may rewrite a big table and waits for concurrent starters: the roles' statement
    # and lock timeouts (made for the services' short transactions) do not apply to it.
    conn = await asyncpg.connect(dsn, server_settings={"statement_timeout": "0", "lock_timeout": "0"})
    try:
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None:
            raise RuntimeError("the database role has no schema of its own on its search_path")
        lock_key = f"migrate:{schema}"
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock_key)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            applied: list[str] = []
            for version, path in migration_files(service_migrations):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
                log.info("migration applied", extra={"schema": schema, "version": version})
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_key)
    finally:
        await conn.close()
