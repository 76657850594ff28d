"""Who is logged in to the dashboard: server-side sessions behind a random id, and the brake on
failed logins. Pure (the clock is passed in), so the tests drive time themselves.

The browser holds only the session id, in an HttpOnly, SameSite=Strict cookie: never the token,
which stays in this process's memory (it is forwarded to the services' APIs, so that their own
scoping and audit apply to the person who logged in). The store keeps the sha256 of each id, so
the ids themselves are nowhere but in the browsers.
"""

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from shared.http_access import Caller

COOKIE_NAME: Final = "muba_dashboard"
# 32 random bytes, URL-safe: what a session id looks like (anything else is not looked up).
SESSION_ID_CHARS: Final = 43
MAX_SESSIONS: Final = 10_000

Clock = Callable[[], float]


def _key(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


@dataclass(slots=True)
class Session:
    caller: Caller
    token: str = field(repr=False)
    started: float
    last_seen: float


class SessionStore:
    """Sessions by (the digest of) their random id; a session ends `idle_s` after its last use
    or `max_s` after its start, whichever comes first."""

    def __init__(self, idle_s: float, max_s: float, clock: Clock = time.monotonic) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self.clock = clock
        self._sessions: dict[bytes, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, caller: Caller, token: str) -> str:
        """A new session for `caller`; returns its id (for the cookie, and nowhere else)."""
        self._expire()
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen)
            del self._sessions[oldest]
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        self._sessions[_key(session_id)] = Session(caller, token, now, now)
        return session_id

    def get(self, session_id: str | None) -> Session | None:
        """The live session of this id (its idle time starts again), or None."""
        if not session_id or len(session_id) != SESSION_ID_CHARS:
            return None
        key = _key(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock()
        if self._ended(session, now):
            del self._sessions[key]
            return None
        session.last_seen = now
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(_key(session_id), None)

    def _ended(self, session: Session, now: float) -> bool:
        return now - session.last_seen > self.idle_s or now - session.started > self.max_s

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._sessions.items() if self._ended(s, now)]:
            del self._sessions[key]


class LoginThrottle:
    """At most `max_failures` failed logins per client address within `window_s`; past that the
    address is refused until its oldest failure leaves the window. (Each failure is also answered
    after a delay, by the app.)"""

    def __init__(self, max_failures: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        now = self.clock()
        failures = self._failures.get(client, deque())
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        if failures:
            self._failures[client] = failures
        else:
            self._failures.pop(client, None)
        return failures

    def retry_after(self, client: str) -> float:
        """Seconds until `client` may try again (0: now)."""
        failures = self._recent(client)
        if len(failures) < self.max_failures:
            return 0.0
        return max(self.window_s - (self.clock() - failures[0]), 0.0)

    def failed(self, client: str) -> None:
        failures = self._recent(client)
        failures.append(self.clock())
        self._failures[client] = failures
        if len(self._failures) > MAX_SESSIONS:  # an address flood must not grow this without end
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def session_cookie(session_id: str, max_age_s: float, secure: bool) -> str:
    """The Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (no other site's page
    sends it), Path=/; Secure where the dashboard is served over the network."""
    parts = [
        f"{COOKIE_NAME}={session_id}",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        f"Max-Age={int(max_age_s)}",
    ]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def cleared_cookie(secure: bool) -> str:
    return session_cookie("", 0, secure)


def cookie_value(header: str | None, name: str = COOKIE_NAME) -> str | None:
    """The value of cookie `name` in a Cookie header, or None."""
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip() or None
    return None
