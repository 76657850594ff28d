"""Wiring of the dashboard: a small ASGI app (no framework: a handful of routes) that renders the
office's and the companies' pages and answers their script's polls.

    GET  /login          the login page: paste a token
    POST /login          token=... -> a session (cookie) -> /
    POST /logout         the session ends
    GET  /               the page the session's token opens (office, auditor: masked, company)
    GET  /data           the same page as JSON, for the page's script (polled every DASHBOARD_POLL_S)
    GET  /static/...     the page's CSS, script and Chart.js (vendored: nothing from other hosts)
    GET  /healthz        up

Everything the page shows comes from the services' APIs, asked with the session's own token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from faststream.asgi.types import Receive, Scope, Send
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.dashboard import domain, reads, sessions
from services.dashboard.settings import DashboardSettings
from shared.http_access import (
    Caller,
    ParameterError,
    Role,
    Tokens,
    is_loopback,
    parse_parameters,
    read_body,
    refuse_default_token_off_loopback,
)
from shared.logging import setup_logging

log = logging.getLogger("muba.dashboard")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
MAX_LOGIN_BODY_BYTES: Final = 4096
# No script, style, image or connection from anywhere but this dashboard; no framing.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a form's POST says `Origin: null`, and the
    # login and logout check that Origin is ours.
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]

    async def __call__(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(k.encode(), v.encode()) for k, v in self.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


def _response(status: int, body: bytes, content_type: str, **extra: str) -> Response:
    headers = {"content-type": content_type, **SECURITY_HEADERS}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return Response(status, body, headers)


def json_response(body: Any, status: int = 200, **extra: str) -> Response:
    return _response(status, json.dumps(body, ensure_ascii=False).encode(), "application/json", **extra)


def redirect(location: str, **extra: str) -> Response:
    return _response(303, b"", "text/plain; charset=utf-8", location=location, **extra)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every file under static/, read once: only these paths are served."""
    files: dict[str, tuple[bytes, str]] = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
                kind += "; charset=utf-8"
            files["/static/" + path.relative_to(STATIC).as_posix()] = (path.read_bytes(), kind)
    return files


class Dashboard:
    """The ASGI app. `apis` (default: HttpApis on the settings' URLs) is what the pages read."""

    def __init__(
        self,
        settings: DashboardSettings,
        tokens: Tokens,
        apis: reads.Apis | None = None,
        clock: sessions.Clock | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self._own_apis = apis is None
        self.apis: reads.Apis = apis or reads.HttpApis(settings)
        kwargs = {"clock": clock} if clock is not None else {}
        self.sessions = sessions.SessionStore(settings.session_idle_s, settings.session_max_s, **kwargs)
        self.throttle = sessions.LoginThrottle(settings.login_max_failures, settings.login_window_s, **kwargs)
        self.secure_cookie = (
            settings.cookie_secure
            if settings.cookie_secure is not None
            else not is_loopback(settings.http_host)
        )
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",)), auto_reload=False
        )
        self.static = _static_files()
        self.routes: dict[tuple[str, str], Callable[[Scope, Receive], Awaitable[Response]]] = {
            ("GET", "/"): self.page,
            ("GET", "/data"): self.data,
            ("GET", "/login"): self.login_page,
            ("POST", "/login"): self.login,
            ("POST", "/logout"): self.logout,
            ("GET", "/healthz"): self.healthz,
        }

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        response = await self.respond(scope, receive)
        await response(send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                setup_logging("dashboard", self.settings.log_level)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._own_apis and isinstance(self.apis, reads.HttpApis):
                    await self.apis.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        method = "GET" if scope.get("method") == "HEAD" else str(scope.get("method", ""))
        path = str(scope.get("path", ""))
        if method == "GET" and path in self.static:
            body, kind = self.static[path]
            return Response(
                200,
                body,
                {
                    "content-type": kind,
                    "x-content-type-options": "nosniff",
                    "cache-control": "public, max-age=300",
                },
            )
        if method == "GET" and path == "/favicon.ico":
            body, kind = self.static["/static/favicon.svg"]
            return Response(200, body, {"content-type": kind, "cache-control": "public, max-age=3600"})
        route = self.routes.get((method, path))
        if route is None:
            if any(p == path for _, p in self.routes):
                allowed = ", ".join(sorted(m for m, p in self.routes if p == path))
                return json_response({"error": f"method {method[:16]}: only {allowed}"}, 405, allow=allowed)
            return json_response({"error": "not found"}, 404)
        try:
            return await route(scope, receive)
        except Exception:
            log.exception("dashboard request failed", extra={"path": path})
            return json_response({"error": "the request failed; see the dashboard's log"}, 500)

    # --- sessions ------------------------------------------------------------------------------

    def session_of(self, scope: Scope) -> sessions.Session | None:
        return self.sessions.get(sessions.cookie_value(_header(scope, b"cookie")))

    def _same_origin(self, scope: Scope) -> bool:
        """A form's POST comes from our own page: its Origin (when the browser sends one) is ours."""
        origin = _header(scope, b"origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc == (_header(scope, b"host") or "")

    async def login_page(self, scope: Scope, receive: Receive) -> Response:
        if self.session_of(scope) is not None:
            return redirect("/")
        return self._html("login.html", {"error": None})

    async def login(self, scope: Scope, receive: Receive) -> Response:
        client = _client(scope)
        if not self._same_origin(scope):
            return self._html("login.html", {"error": "Permintaan ditolak (asal halaman lain)."}, 403)
        wait = self.throttle.retry_after(client)
        if wait > 0:
            log.warning("dashboard login refused: too many failures", extra={"client": client})
            return self._html(
                "login.html",
                {"error": f"Terlalu banyak percobaan gagal. Coba lagi dalam {int(wait) + 1} detik."},
                429,
                retry_after=str(int(wait) + 1),
            )
        body = await read_body(receive, MAX_LOGIN_BODY_BYTES)
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if body else {}
        token = fields.get("token", "").strip()
        caller = (
            self.tokens.identify(f"Bearer {token}") if token and len(body) <= MAX_LOGIN_BODY_BYTES else None
        )
        if caller is None:
            self.throttle.failed(client)
            log.warning("dashboard login refused: no valid token", extra={"client": client})
            await asyncio.sleep(self.settings.login_failure_delay_s)
            return self._html("login.html", {"error": "Token tidak dikenal."}, 401)
        self.throttle.succeeded(client)
        session_id = self.sessions.open(caller, token)
        log.info(
            "dashboard login",
            extra={
                "caller": caller.name,
                "role": caller.role.value,
                "company_id": caller.company_id,
                "client": client,
            },
        )
        cookie = sessions.session_cookie(session_id, self.settings.session_max_s, self.secure_cookie)
        return redirect("/", set_cookie=cookie)

    async def logout(self, scope: Scope, receive: Receive) -> Response:
        if self._same_origin(scope):
            self.sessions.close(sessions.cookie_value(_header(scope, b"cookie")))
        return redirect("/login", set_cookie=sessions.cleared_cookie(self.secure_cookie))

    async def healthz(self, scope: Scope, receive: Receive) -> Response:
        return json_response({"status": "up", "service": "dashboard"})

    # --- the pages -----------------------------------------------------------------------------

    async def _page_data(self, session: sessions.Session, params: Mapping[str, str]) -> dict[str, Any]:
        caller: Caller = session.caller
        if caller.role is Role.COMPANY:
            selected = params.get("commitment_id") or None
            return await reads.company_data(
                self.apis, session.token, caller, self.settings.renewal_notice_days, selected
            )
        # The office and auditors: the programme's page (the services mask for auditors).
        return await reads.office_data(self.apis, session.token, caller)

    async def _read(
        self, scope: Scope
    ) -> tuple[sessions.Session | None, dict[str, Any] | None, Response | None]:
        session = self.session_of(scope)
        if session is None:
            return None, None, None
        try:
            params = parse_parameters(bytes(scope.get("query_string") or b""))
        except ParameterError as exc:
            return session, None, json_response({"error": str(exc), "field": exc.field}, exc.status)
        try:
            return session, await self._page_data(session, params), None
        except reads.NotFound:
            return session, None, json_response({"error": "Komitmen tidak ditemukan."}, 404)
        except reads.ApiError as exc:
            log.warning(
                "dashboard: a service did not answer",
                extra={"service": exc.service, "path": exc.path, "status": exc.status},
            )
            return (
                session,
                None,
                json_response(
                    {"error": f"Layanan {exc.service} tidak menjawab ({exc.status or 'tanpa jawaban'})."}, 502
                ),
            )

    async def data(self, scope: Scope, receive: Receive) -> Response:
        session, page, refused = await self._read(scope)
        if session is None:
            return json_response({"error": "login first: the session ended or was never opened"}, 401)
        if refused is not None:
            return refused
        return json_response(page)

    async def page(self, scope: Scope, receive: Receive) -> Response:
        session, page, refused = await self._read(scope)
        if session is None:
            return redirect("/login")
        context = {"session": session.caller, "poll_ms": int(self.settings.poll_s * 1000)}
        if refused is not None:
            error = json.loads(refused.body).get("error", "")
            return self._html("error.html", {**context, "error": error}, refused.status)
        assert page is not None
        template = "company.html" if page["view"] == domain.COMPANY else "office.html"
        return self._html(template, {**context, "page": page})

    def _html(self, template: str, context: Mapping[str, Any], status: int = 200, **extra: str) -> Response:
        body = self.templates.get_template(template).render(**context)
        return _response(status, body.encode(), "text/html; charset=utf-8", **extra)


def create_app(settings: DashboardSettings | None = None, apis: reads.Apis | None = None) -> Dashboard:
    """The dashboard. Raises AccessConfigError (it must not start) when the tokens are unusable,
    or when the public default token would be accepted beyond loopback."""
    settings = settings or DashboardSettings()
    tokens = Tokens.configured(
        settings.operator_token, settings.operator_token_file, settings.api_tokens_file
    )
    refuse_default_token_off_loopback(settings.http_host, tokens)
    return Dashboard(settings, tokens, apis)
