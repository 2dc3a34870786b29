"""The dashboard's session cookie, CSRF tokens and security headers (ADR 0021).

The cookie carries the same server-side operator session token the CLI gets from
POST /v1/admin/login; only its SHA-256 is stored, in the state database every API
process shares, with the dashboard's last activity (the idle timeout). A form's CSRF
token is an HMAC of that token, so it needs no storage and dies with the session. The
login form, which has no session yet, pairs a random cookie with a hidden field instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException
from litestar.response import Response

from application.ports import SessionRecord
from domain.errors import AuthenticationFailed
from infrastructure.settings import Settings
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest

SESSION_COOKIE = "keyledger_session"
LOGIN_COOKIE = "keyledger_login_csrf"
CSRF_FIELD = "csrf"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """No valid session cookie: the page answers with a redirect to /login."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in operator of one request, and the CSRF token its forms carry."""

    session: SessionRecord
    csrf: str


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"keyledger dashboard csrf", hashlib.sha256).hexdigest()


def provide_viewer(request: AnyRequest, services: Services) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise LoginRequired
    try:
        record = services.accounts.dashboard_session(token)
    except AuthenticationFailed:
        raise LoginRequired from None
    return Viewer(record, csrf_for(token))


def still_open(token: str, services: Services) -> bool:
    """For the live stream: is the session still good? Asked without counting as
    activity, so an unattended live page does not keep itself logged in."""
    try:
        services.accounts.dashboard_session(token, touch=False)
    except AuthenticationFailed:
        return False
    return True


def check_csrf(expected: str, form: dict[str, Any] | None) -> None:
    """403 before anything is done when the form's token is missing or wrong."""
    given = str((form or {}).get(CSRF_FIELD, ""))
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise PermissionDeniedException("CSRF token missing or wrong: reload the page")


def login_token() -> str:
    return secrets.token_urlsafe(24)


def secure_cookies(settings: Settings) -> bool:
    """`Secure` whenever operators reach the vault over https (KEYLEDGER_PUBLIC_URL)."""
    return (settings.public_url or "").lower().startswith("https://")


def cookie(name: str, value: str, services: Services, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(services.settings),
        max_age=max_age,
    )


def gone(name: str, services: Services) -> Cookie:
    """A cookie the browser drops at once."""
    return cookie(name, "", services, max_age=0)


async def add_security_headers(response: Response[Any]) -> Response[Any]:
    """After every dashboard response: the browser is told to run no inline code and
    never frame, sniff or leak the page's address."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
