"""Who may read what over HTTP: bearer tokens with roles, the request gate and the audit log.

Every service's HTTP side goes through here (shared.runtime wires it):

- **Tokens** come from `MUBA_OPERATOR_TOKEN` / `MUBA_OPERATOR_TOKEN_FILE` (an office token, named
  `operator`) and from `MUBA_API_TOKENS_FILE`, one token a line::

      # name          role              token
      ani-office      office            6f1c0d0e5b...
      medco-csr       company:medco     9a2b77e1c4...
      bpk-audit       auditor           77de09f3aa...

  Only their sha256 digests are kept; a presented token is hashed and compared with every digest
  in constant time (hmac.compare_digest, no early exit), so neither its length nor which entry it
  resembles shows in the time taken. Tokens are never logged.
- **Roles**: `office` reads everything; `company` reads only what its own commitments cover (the
  queries scope by `ApiParams.caller`); `auditor` reads, with personal data masked. Endpoints
  name the roles they admit; the default is office alone.
- **The gate** (one place, `screen`): only GET and HEAD (and PUT on the few endpoints that take a
  document from the office, `writable`: sponsorship's /api/tariffs, the registry's /api/funders),
  a body of at most MAX_BODY_BYTES (or the endpoint's own `body_limits`: a funder list of 45,000
  NIKs is about 1 MB) with a Content-Length (read by those PUTs only), a query string of at most MAX_QUERY_STRING_BYTES, `/docs` (the
  AsyncAPI pages) for office and auditor tokens only; then each parameter at most
  MAX_PARAMETER_CHARS of text without control characters (`parse_parameters`). Each refusal is a
  4xx naming the field, before any query runs.
- **Audit**: every call to `/api/*` by a known token is a row of `api_audit` in the service's
  schema (who, what with masked parameters, when in UTC, the status), written before the answer
  leaves (no row, no answer), and a masked log line. Calls without a valid token are log lines
  only: an outsider must not be able to grow the table.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import asyncpg
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Receive, Scope, Send

from shared.db import Conn
from shared.masking import mask_nik, mask_phone, mask_text

log = logging.getLogger(__name__)

DEFAULT_OPERATOR_TOKEN: Final = "muba-local-operator"
# The name the environment's office token goes by in the audit log.
OPERATOR_TOKEN_NAME: Final = "operator"
MIN_TOKEN_CHARS: Final = 16
MAX_QUERY_STRING_BYTES: Final = 2048
MAX_PARAMETER_CHARS: Final = 256
MAX_PARAMETERS: Final = 20
# Only a writable endpoint's PUT reads a body: anything larger than this is refused before it is read.
MAX_BODY_BYTES: Final = 64 * 1024
SERVED_METHODS: Final = ("GET", "HEAD")
WRITE_METHOD: Final = "PUT"
# A provider's callback (a delivery receipt) is a POST of a small form, authenticated by the
# provider's signature, not by our tokens: only the `callbacks` paths take it.
CALLBACK_METHOD: Final = "POST"
MAX_CALLBACK_BODY_BYTES: Final = 16 * 1024
DOCS_PREFIX: Final = "/docs"

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_COMPANY_ID = re.compile(r"[^\s\x00-\x1f\x7f]{1,100}")
# Bearer tokens are printable ASCII without spaces (RFC 6750's b64token, a little wider).
_TOKEN = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Role(StrEnum):
    OFFICE = "office"
    COMPANY = "company"
    AUDITOR = "auditor"


OFFICE_ONLY: Final = frozenset({Role.OFFICE})
OFFICE_AND_AUDITOR: Final = frozenset({Role.OFFICE, Role.AUDITOR})
EVERY_ROLE: Final = frozenset(Role)
# The AsyncAPI pages list every topic (one per partner, too): not for companies.
DOCS_ROLES: Final = OFFICE_AND_AUDITOR


class AccessConfigError(ValueError):
    """The configured tokens are unusable or unsafe: the service must not start."""


class NotFound(Exception):
    pass


class BadRequest(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a valid token says is asking."""

    name: str
    role: Role
    company_id: str | None = None

    @property
    def unmasked(self) -> bool:
        """Only the office sees personal data in full; auditors and companies see it masked."""
        return self.role is Role.OFFICE

    def may(self, roles: Collection[Role]) -> bool:
        return self.role in roles


class ApiParams(dict[str, str]):
    """A request's query parameters, and who asks: a query admitting companies scopes by `caller`."""

    def __init__(self, params: Mapping[str, str], caller: Caller) -> None:
        super().__init__(params)
        self.caller = caller


Query = Callable[[Conn, ApiParams], Awaitable[Any]]
# A PUT's handler: the connection, the parameters and caller, the body's JSON.
Write = Callable[[Conn, ApiParams, Any], Awaitable[Any]]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tokens:
    """The configured tokens, kept as digests only."""

    def __init__(self, entries: Iterable[tuple[Caller, str]]) -> None:
        self._entries: list[tuple[Caller, bytes]] = []
        names: set[str] = set()
        for caller, token in entries:
            if not _TOKEN.fullmatch(token):
                raise AccessConfigError(f"token {caller.name!r}: printable ASCII without spaces expected")
            if len(token) < MIN_TOKEN_CHARS:
                raise AccessConfigError(
                    f"token {caller.name!r} is too short: at least {MIN_TOKEN_CHARS} characters"
                    " (e.g. `openssl rand -hex 32`)"
                )
            if caller.name in names:
                raise AccessConfigError(f"token name {caller.name!r} is given twice")
            digest = _digest(token)
            if any(hmac.compare_digest(digest, known) for _, known in self._entries):
                raise AccessConfigError(f"token {caller.name!r} is the same token as another one")
            names.add(caller.name)
            self._entries.append((caller, digest))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def callers(self) -> list[Caller]:
        return [caller for caller, _ in self._entries]

    def identify(self, authorization: str | bytes | None) -> Caller | None:
        """The caller an `Authorization: Bearer <token>` header names, or None.

        The presented token is hashed and compared with every configured digest; the loop never
        stops early, so the time taken says nothing about how close a guess came."""
        token = bearer_token(authorization)
        if token is None:
            return None
        given = _digest(token)
        found: Caller | None = None
        for caller, digest in self._entries:
            if hmac.compare_digest(given, digest):
                found = caller
        return found

    def includes(self, token: str) -> bool:
        given = _digest(token)
        hits = [hmac.compare_digest(given, digest) for _, digest in self._entries]
        return any(hits)

    @classmethod
    def configured(
        cls,
        operator_token: str | None = None,
        operator_token_file: str | Path | None = None,
        tokens_file: str | Path | None = None,
    ) -> "Tokens":
        """The tokens the settings name (see the module's docstring).

        With none of the three set, the office token is the local default `muba-local-operator`
        (a laptop's convenience; `refuse_default_token_off_loopback` keeps it off the network).
        An empty MUBA_OPERATOR_TOKEN means: no office token from the environment."""
        entries: list[tuple[Caller, str]] = []
        office = office_token(operator_token, operator_token_file, tokens_file)
        if office:
            entries.append((Caller(OPERATOR_TOKEN_NAME, Role.OFFICE), office))
        if tokens_file:
            path = Path(tokens_file)
            entries += parse_tokens_file(_read_secret(path, "MUBA_API_TOKENS_FILE", strip=False), path.name)
        return cls(entries)


def office_token(
    operator_token: str | None = None,
    operator_token_file: str | Path | None = None,
    tokens_file: str | Path | None = None,
) -> str | None:
    """The environment's office token (see `Tokens.configured`): what a service also presents
    when it reads another's API on the office's behalf (the invoice CSV an e-mail attaches)."""
    if operator_token is not None and operator_token_file:
        raise AccessConfigError("set MUBA_OPERATOR_TOKEN or MUBA_OPERATOR_TOKEN_FILE, not both")
    if operator_token_file:
        return _read_secret(Path(operator_token_file), "MUBA_OPERATOR_TOKEN_FILE")
    if operator_token is None and not tokens_file:
        return DEFAULT_OPERATOR_TOKEN
    return operator_token or None


def _read_secret(path: Path, setting: str, *, strip: bool = True) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessConfigError(f"{setting}: cannot read {path}: {type(exc).__name__}") from None
    return text.strip() if strip else text


def parse_tokens_file(text: str, where: str = "tokens file") -> list[tuple[Caller, str]]:
    """`NAME ROLE TOKEN` a line (ROLE: office, auditor or company:<company_id>); `#` starts a
    comment, blank lines are skipped. Errors name the line, never the token."""
    entries: list[tuple[Caller, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3:
            raise AccessConfigError(
                f"{where} line {number}: expected `NAME ROLE TOKEN` (3 fields), found {len(fields)}"
            )
        name, role_text, token = fields
        if not _NAME.fullmatch(name):
            raise AccessConfigError(
                f"{where} line {number}: name {name[:64]!r}: lower-case letters, digits, . _ - expected"
            )
        role_name, _, company_id = role_text.partition(":")
        try:
            role = Role(role_name)
        except ValueError:
            raise AccessConfigError(
                f"{where} line {number}: role {role_text[:64]!r}: office, auditor or company:<company_id>"
            ) from None
        if role is Role.COMPANY:
            if not _COMPANY_ID.fullmatch(company_id):
                raise AccessConfigError(
                    f"{where} line {number}: a company token names its company: company:<company_id>"
                )
        elif company_id:
            raise AccessConfigError(f"{where} line {number}: only a company token names a company")
        entries.append((Caller(name, role, company_id or None), token))
    return entries


def bearer_token(authorization: str | bytes | None) -> str | None:
    if authorization is None:
        return None
    text = authorization.decode("latin-1") if isinstance(authorization, bytes) else authorization
    scheme, _, token = text.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_default_token_off_loopback(http_host: str, tokens: Tokens) -> None:
    """A service reachable from the network must not accept the public default token."""
    if not is_loopback(http_host) and tokens.includes(DEFAULT_OPERATOR_TOKEN):
        raise AccessConfigError(
            f"HTTP_HOST={http_host!r} is reachable from other hosts, and the default token"
            f" {DEFAULT_OPERATOR_TOKEN!r} (public: it is in the README) would let anyone read"
            " personal data. Set MUBA_OPERATOR_TOKEN / MUBA_OPERATOR_TOKEN_FILE to a secret of your"
            " own (e.g. `openssl rand -hex 32`), or use MUBA_API_TOKENS_FILE, or bind to 127.0.0.1."
        )


# --- the gate: one place for methods, sizes and the docs' token ---------------------------------


def _json(body: Any, status: int, headers: Mapping[str, str] | None = None) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body, default=str).encode(),
        status,
        headers={"content-type": "application/json", **(headers or {})},
    )


def refusal(status: int, error: str, field: str | None = None, **headers: str) -> AsgiResponse:
    body: dict[str, Any] = {"error": error}
    if field is not None:
        body["field"] = field
    return _json(body, status, {k.replace("_", "-"): v for k, v in headers.items()})


def _unauthorized(what: str) -> AsgiResponse:
    return refusal(
        401,
        f"{what} needs a token: Authorization: Bearer <token>",
        "authorization",
        WWW_Authenticate="Bearer",
    )


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class ParameterError(ValueError):
    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


def _largest_parameter(query_string: bytes) -> str:
    parts = query_string.split(b"&")
    largest = max(parts, key=len)
    return _CONTROL.sub("?", largest.partition(b"=")[0][:64].decode("latin-1")) or "(unnamed)"


def parse_parameters(query_string: bytes) -> dict[str, str]:
    """The query's parameters (the last of repeated ones), or a ParameterError naming the field."""
    if len(query_string) > MAX_QUERY_STRING_BYTES:
        field = _largest_parameter(query_string)
        raise ParameterError(
            field,
            f"the query string is {len(query_string)} bytes, at most {MAX_QUERY_STRING_BYTES} are read"
            f" (this parameter is the largest)",
            414,
        )
    try:
        pairs = parse_qsl(
            query_string.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except UnicodeError:
        raise ParameterError("query string", "not valid UTF-8 (after percent-decoding)") from None
    except ValueError:
        raise ParameterError("query string", f"more than {MAX_PARAMETERS} parameters") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        shown = _CONTROL.sub("?", name)[:64] or "(unnamed)"
        if _CONTROL.search(name):
            raise ParameterError(shown, "control characters in a parameter name")
        if len(value) > MAX_PARAMETER_CHARS:
            raise ParameterError(shown, f"{len(value)} characters, at most {MAX_PARAMETER_CHARS}")
        if _CONTROL.search(value):
            raise ParameterError(shown, "control characters (a NUL, a line break...) are not accepted")
        params[name] = value
    return params


def screen(
    scope: Scope,
    tokens: Tokens,
    writable: Collection[str] = (),
    body_limits: Mapping[str, int] | None = None,
    callbacks: Collection[str] = (),
) -> AsgiResponse | None:
    """The refusal of a request before it reaches a route, or None when it may go on. PUT is let
    through to the `writable` paths only (their endpoint checks the role), with a body of at most
    MAX_BODY_BYTES or the path's own limit in `body_limits`; POST to the `callbacks` paths only
    (their route checks the provider's signature), with at most MAX_CALLBACK_BODY_BYTES."""
    method = scope.get("method", "")
    path = str(scope.get("path", ""))
    limit = MAX_BODY_BYTES
    if method == WRITE_METHOD and path in writable:
        limit = (body_limits or {}).get(path, MAX_BODY_BYTES)
    callback = method == CALLBACK_METHOD and path in callbacks
    if callback:
        limit = MAX_CALLBACK_BODY_BYTES
    if _header(scope, b"transfer-encoding") is not None:
        # A body of unknown length: the server would have to read it to know. Nothing here takes one.
        return refusal(411, f"body: send at most {limit} bytes with a Content-Length", "body")
    declared = _header(scope, b"content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            return refusal(400, "content-length: a number of bytes expected", "content-length")
        if int(declared) > limit:
            return refusal(
                413,
                f"body: {int(declared)} bytes, at most {limit}",
                "body",
            )
    if callback and declared is None:
        return refusal(411, f"body: send at most {limit} bytes with a Content-Length", "body")
    if method not in SERVED_METHODS and not (method == WRITE_METHOD and path in writable) and not callback:
        served = list(SERVED_METHODS)
        if path in writable:
            served.append(WRITE_METHOD)
        if path in callbacks:
            served.append(CALLBACK_METHOD)
        return refusal(
            405,
            f"method {method[:32]}: only {', '.join(served)} are served",
            "method",
            Allow=", ".join(served),
        )
    query_string = bytes(scope.get("query_string") or b"")
    if len(query_string) > MAX_QUERY_STRING_BYTES:
        field = _largest_parameter(query_string)
        return refusal(
            414,
            f"{field}: the query string is {len(query_string)} bytes, at most {MAX_QUERY_STRING_BYTES}",
            field,
        )
    if path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/"):
        caller = tokens.identify(_header(scope, b"authorization"))
        if caller is None:
            log.warning(
                "docs request refused: no valid token", extra={"path": path, "client": _client(scope)}
            )
            return _unauthorized("the AsyncAPI documents")
        if not caller.may(DOCS_ROLES):
            log.warning(
                "docs request refused: role",
                extra={"caller": caller.name, "role": caller.role.value, "path": path},
            )
            return refusal(403, f"the AsyncAPI documents are for {' and '.join(sorted(DOCS_ROLES))} tokens")
    return None


class GuardedAsgi(AsgiFastStream):
    """FastStream's ASGI app with the gate (`screen`) in front of every route."""

    def __init__(
        self,
        *args: Any,
        tokens: Tokens,
        writable: Collection[str] = (),
        body_limits: Mapping[str, int] | None = None,
        callbacks: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        self.tokens = tokens
        self.writable = frozenset(writable)
        self.body_limits = dict(body_limits or {})
        self.callbacks = frozenset(callbacks)
        super().__init__(*args, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = screen(scope, self.tokens, self.writable, self.body_limits, self.callbacks)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


# --- /api/* endpoints: role, parameters, the query, the audit row ------------------------------


def mask_parameters(params: Mapping[str, str]) -> dict[str, str]:
    """Parameters as the audit log keeps them: NIKs and phone numbers masked, values shortened."""
    masked: dict[str, str] = {}
    for name, value in list(params.items())[:20]:
        key = _CONTROL.sub("?", name)[:64]
        if key == "nik":
            masked[key] = mask_nik(value)
        elif key == "phone":
            masked[key] = mask_phone(value)
        else:
            masked[key] = mask_text(_CONTROL.sub("?", value))[:100]
    return masked


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One line of the audit log."""

    caller: Caller
    endpoint: str
    params: dict[str, str]
    status: int
    personal_data: bool
    client: str


async def record_call(conn: Conn, call: ApiCall) -> None:
    await conn.execute(
        "INSERT INTO api_audit (caller_name, caller_role, company_id, endpoint, params, status,"
        " personal_data, client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        call.caller.name,
        call.caller.role.value,
        call.caller.company_id,
        call.endpoint,
        call.params,
        call.status,
        call.personal_data,
        call.client,
    )


def api_endpoint(
    endpoint: str,
    query: Query,
    *,
    tokens: Callable[[], Tokens],
    pool: Callable[[], asyncpg.Pool],
    roles: Collection[Role] = OFFICE_ONLY,
    personal_data: bool = False,
    write: Write | None = None,
    write_roles: Collection[Role] = OFFICE_ONLY,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> ASGIApp:
    """`GET <endpoint>`: a known token of one of `roles`, valid parameters, then `query`'s answer,
    recorded in the audit log before it is sent (a call that cannot be recorded is not answered).
    With `write`, also `PUT <endpoint>` for `write_roles`: the JSON body goes to `write`, audited
    the same way (as "PUT <endpoint>"); the gate lets PUT through only to such endpoints."""
    admitted = frozenset(roles)
    writers = frozenset(write_roles)

    async def answer(scope: Scope, body: bytes | None) -> AsgiResponse:
        """The response to a GET (body None) or a PUT (its body)."""
        client = _client(scope)
        allowed = admitted if body is None else writers
        audited = endpoint if body is None else f"{WRITE_METHOD} {endpoint}"
        caller = tokens().identify(_header(scope, b"authorization"))
        if caller is None:
            log.warning("api request refused: no valid token", extra={"endpoint": endpoint, "client": client})
            return _unauthorized(endpoint)
        params: dict[str, str] | None = None
        response = refusal(500, "the request failed; see the service's log")
        try:
            params = parse_parameters(bytes(scope.get("query_string") or b""))
        except ParameterError as exc:
            response = refusal(exc.status, str(exc), exc.field)
        shown = mask_parameters(params or {})
        async with pool().acquire() as conn:
            if not caller.may(allowed):
                response = refusal(
                    403,
                    f"{audited} is not open to {caller.role.value} tokens"
                    f" (it is for: {', '.join(sorted(r.value for r in allowed))})",
                )
            elif params is not None:
                try:
                    if body is None:
                        result = await query(conn, ApiParams(params, caller))
                    else:
                        assert write is not None
                        result = await write(
                            conn, ApiParams(params, caller), _body_json(body, max_body_bytes)
                        )
                    # A query may answer with a response of its own (a CSV download).
                    response = result if isinstance(result, AsgiResponse) else _json(result, 200)
                except NotFound as exc:
                    response = refusal(404, str(exc))
                except BadRequest as exc:
                    response = refusal(400, str(exc), str(exc).partition(":")[0] if ":" in str(exc) else None)
                except asyncpg.DataError as exc:
                    # A value the database refuses (out of range, wrong type): the caller's input.
                    response = refusal(400, f"a parameter was not accepted: {type(exc).__name__}")
                except Exception:
                    log.exception("api request failed", extra={"endpoint": endpoint, "params": shown})
                    response = refusal(500, "the request failed; see the service's log")
            call = ApiCall(caller, audited, shown, response.status_code, personal_data, client)
            try:
                await record_call(conn, call)
            except Exception as exc:
                log.error(
                    "api call not answered: the audit log cannot be written",
                    extra={"endpoint": endpoint, "caller": caller.name, "error": repr(exc)[:300]},
                )
                return refusal(503, "the audit log cannot be written, so nothing is answered; try again")
        log.info(
            "api call",
            extra={
                "caller": caller.name,
                "role": caller.role.value,
                "company_id": caller.company_id,
                "endpoint": audited,
                "params": shown,
                "status": response.status_code,
                "personal_data": personal_data,
                "client": client,
            },
        )
        return response

    @get(include_in_schema=False)
    async def handler(scope: Scope) -> AsgiResponse:
        return await answer(scope, None)

    if write is None:
        return handler

    async def read_or_write(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != WRITE_METHOD:
            await handler(scope, receive, send)
            return
        response = await answer(scope, await read_body(receive, max_body_bytes))
        await response(scope, receive, send)

    return read_or_write


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body; the gate has refused a declared length over `limit`, and a body
    that grows beyond it anyway is cut there (its JSON then fails to parse: a 400)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = bytes(message.get("body", b""))
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)[: limit + 1]


def _body_json(body: bytes, limit: int = MAX_BODY_BYTES) -> Any:
    if len(body) > limit:
        raise BadRequest(f"body: more than {limit} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("body: a JSON document (UTF-8) expected") from None


async def audit_log(conn: Conn, params: Mapping[str, str]) -> dict[str, Any]:
    """`GET /api/audit[?limit=&before_id=&caller=]`: the newest calls first (parameters masked)."""
    try:
        limit = int(params.get("limit", "100"))
        before_id = int(params["before_id"]) if params.get("before_id") else None
    except ValueError:
        raise BadRequest("limit, before_id: whole numbers expected") from None
    if not 1 <= limit <= 1000:
        raise BadRequest("limit: between 1 and 1000")
    caller = params.get("caller") or None
    rows = await conn.fetch(
        "SELECT id, at, caller_name, caller_role, company_id, endpoint, params, status, personal_data, client"
        " FROM api_audit WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR caller_name = $2)"
        " ORDER BY id DESC LIMIT $3",
        before_id,
        caller,
        limit,
    )
    return {
        "schema": await conn.fetchval("SELECT current_schema()"),
        "calls": [
            {
                "id": r["id"],
                "at": r["at"].astimezone(UTC).isoformat(),
                "caller": r["caller_name"],
                "role": r["caller_role"],
                "company_id": r["company_id"],
                "endpoint": r["endpoint"],
                "params": r["params"],
                "status": r["status"],
                "personal_data": r["personal_data"],
                "client": r["client"],
            }
            for r in rows
        ],
    }
