"""The console's sign-in session: a signed cookie naming the API token's principal, and its CSRF token.

Deliberately small, so that single sign-on can replace the sign-in without touching the API:

- The dispatcher signs in with an API token. The cookie holds no token, only its fingerprint
  (the first 16 hex digits of its SHA-256), a random session id and an expiry, signed with
  HMAC-SHA256 under DISPATCH_CONSOLE_SECRET. Each request looks the fingerprint up among the
  tokens configured now, so removing a token (and restarting) ends its sessions, and a role
  change applies at once. Nothing is stored server-side: any replica with the same secret
  accepts the cookie, and a restart keeps consoles signed in.
- The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends
  it). On top of that, every cookie-authenticated write must carry X-CSRF-Token, an HMAC of the
  session id that the console reads from a second, script-readable cookie (double submit). A
  forged cross-site request can neither read that cookie nor compute the value. Bearer-token
  requests carry no cookie and need no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from fastapi import HTTPException, Request, status

from eldercare.envelope import utcnow
from eldercare.settings import ApiPrincipal

SESSION_COOKIE = "eldercare_console"
CSRF_COOKIE = "eldercare_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_VERSION = 1


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_fingerprint(token: str) -> str:
    """What the cookie says about the token: enough to find it again, useless to call the API with."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ConsoleSession:
    fingerprint: str
    session_id: str
    expires_at: datetime


class SessionInvalid(Exception):
    """A cookie that is not ours, was changed, or has expired."""


class SessionSigner:
    """Signs and checks console session cookies and derives their CSRF tokens."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"eldercare-console-v1:" + secret.encode()).digest()

    def _mac(self, purpose: bytes, body: bytes) -> str:
        return _b64(hmac.new(self._key, purpose + b":" + body, hashlib.sha256).digest())

    def issue(self, *, token: str, now: datetime, lifetime: timedelta) -> tuple[str, ConsoleSession]:
        """A new session for the token: the cookie value and what it says."""
        session = ConsoleSession(
            fingerprint=token_fingerprint(token), session_id=secrets.token_hex(16), expires_at=now + lifetime
        )
        body = _b64(
            orjson.dumps(
                {
                    "v": _VERSION,
                    "fp": session.fingerprint,
                    "sid": session.session_id,
                    "exp": int(session.expires_at.timestamp()),
                }
            )
        )
        return f"{body}.{self._mac(b'session', body.encode())}", session

    def read(self, cookie: str, *, now: datetime) -> ConsoleSession:
        """The session a cookie names; SessionInvalid when forged, altered, malformed or expired."""
        body, dot, mac = cookie.partition(".")
        if not dot or len(cookie) > 1024:
            raise SessionInvalid("malformed")
        if not hmac.compare_digest(mac, self._mac(b"session", body.encode())):
            raise SessionInvalid("bad signature")
        try:
            data = orjson.loads(_unb64(body))
            fingerprint, session_id, expires = str(data["fp"]), str(data["sid"]), int(data["exp"])
            version = data["v"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SessionInvalid("malformed") from exc
        if version != _VERSION:
            raise SessionInvalid("unknown version")
        expires_at = datetime.fromtimestamp(expires, tz=UTC)
        if expires_at <= now:
            raise SessionInvalid("expired")
        return ConsoleSession(fingerprint=fingerprint, session_id=session_id, expires_at=expires_at)

    def csrf_token(self, session: ConsoleSession) -> str:
        """The value a write must send in X-CSRF-Token: bound to this session, so a planted one fails."""
        return self._mac(b"csrf", session.session_id.encode())

    def csrf_ok(self, session: ConsoleSession, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent, self.csrf_token(session))


class CookieAuth:
    """The app's `session_auth` hook (eldercare.http): the principal of a request's console cookie."""

    def __init__(
        self, *, signer: SessionSigner, principals: dict[str, ApiPrincipal], now: Callable[[], datetime] = utcnow
    ) -> None:
        self.signer = signer
        self._now = now
        # fingerprint -> (token, principal); the token keys the rate limiter, as for bearer requests.
        self._by_fingerprint = {token_fingerprint(t): (t, p) for t, p in principals.items()}

    def principal_of(self, session: ConsoleSession) -> tuple[str, ApiPrincipal] | None:
        return self._by_fingerprint.get(session.fingerprint)

    def session_of(self, request: Request) -> ConsoleSession | None:
        """The request's valid session; None without a cookie; 401 for a bad or expired one."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            return self.signer.read(cookie, now=self._now())
        except SessionInvalid as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"console session {exc}: sign in again") from None

    def __call__(self, request: Request) -> tuple[ApiPrincipal, str] | None:
        session = self.session_of(request)
        if session is None:
            return None
        found = self.principal_of(session)
        if found is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the token of this console session is no longer valid")
        token, principal = found
        if request.method not in SAFE_METHODS and not self.signer.csrf_ok(session, request.headers.get(CSRF_HEADER)):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"a console write needs the {CSRF_HEADER} header of its session"
            )
        return principal, token
