"""Browser sign-in for the pages when a token is set.

The sign-in form takes the token, checks it with the same timing-safe bearer check as the API
and answers with a session cookie (HttpOnly, SameSite=Strict, Secure when served over TLS).
Sessions are random, held in memory by their SHA-256 only, and expire; the API itself keeps
taking only the bearer header, so the cookie can never drive a write. The form carries a
double-submit CSRF token and a cross-site ``Origin`` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable

from starlette.requests import Request

from exptrace.query.errors import CrossSite, SignInError, WrongToken

SESSION_COOKIE = "exptrace_session"
CSRF_COOKIE = "exptrace_csrf"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 8192


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _with_header(token: str) -> Request:
    """A bare request carrying ``Authorization: Bearer <token>``, for the bearer check.

    HTTP headers are Latin-1, so a token outside it could never have been configured to
    match; it is refused rather than approximated.
    """
    try:
        header = f"Bearer {token}".encode("latin-1")
    except UnicodeEncodeError:
        raise WrongToken("wrong token") from None
    return Request({"type": "http", "headers": [(b"authorization", header)]})


class Sessions:
    """Who may see the pages: the bearer header or a live session cookie."""

    def __init__(self, bearer: Callable[[Request], bool], lifetime: float = SESSION_SECONDS):
        self.bearer = bearer
        self.lifetime = lifetime
        self.required = not bearer(Request({"type": "http", "headers": []}))
        self._live: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def allowed(self, request: Request) -> bool:
        if self.bearer(request):
            return True
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return False
        key, now = _digest(cookie), time.monotonic()
        with self._lock:
            expires = self._live.get(key)
            if expires is None or expires < now:
                self._live.pop(key, None)
                return False
            return True

    def sign_in(self, request: Request, form: dict[str, str]) -> str:
        """Check the form; return a new session id, or raise a ``SignInError``."""
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise CrossSite("sign-in from another site is refused")
        expected = request.cookies.get(CSRF_COOKIE, "")
        given = form.get("csrf", "")
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            raise SignInError("the sign-in form expired: load it again")
        if not self.bearer(_with_header(form.get("token", ""))):
            raise WrongToken("wrong token")
        session, now = secrets.token_urlsafe(32), time.monotonic()
        with self._lock:
            self._live = {k: t for k, t in self._live.items() if t > now}
            self._live[_digest(session)] = now + self.lifetime
        return session

    def sign_out(self, request: Request) -> None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            with self._lock:
                self._live.pop(_digest(cookie), None)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def cookie_options(request: Request) -> dict:
    """HttpOnly and SameSite=Strict always; Secure when the page came over TLS."""
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form body (the sign-in form); anything larger is refused."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise SignInError("the form is too large")
    fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def safe_next(target: str | None) -> str:
    """Only /ui or a path under it may be a redirect target (no open redirect): not
    ``/uievil``, no ``//`` or backslash, no control characters. The path is percent-decoded
    once and its dot segments resolved before the check (``/ui/../../evil``,
    ``/ui/%2e%2e/evil``), and the target returned is that resolved path, re-encoded, so the
    browser cannot resolve it anywhere else."""
    if not target or not target.isprintable() or "\\" in target:
        return "/ui"
    path, _, query = target.partition("?")
    decoded = urllib.parse.unquote(path)
    if (
        not decoded.startswith("/")
        or "//" in decoded
        or "\\" in decoded
        or not decoded.isprintable()
    ):
        return "/ui"
    resolved = posixpath.normpath(decoded)
    if resolved != "/ui" and not resolved.startswith("/ui/"):
        return "/ui"
    return urllib.parse.quote(resolved) + (f"?{query}" if query else "")
