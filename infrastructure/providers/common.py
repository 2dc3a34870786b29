"""Helpers every provider shares: username checks and password-free error messages.

Driver and server messages can echo the statement that failed (MySQL's "near '…'",
Redis' "Error in ACL SETUSER modifier '>…'"), so anything that might hold a password
is scrubbed before it reaches a `ProviderError`, and errors are raised `from None`
so a logged traceback cannot carry the original exception either.
"""

from __future__ import annotations

import socket

from application.ports import ProviderError
from domain.errors import InvalidInput
from domain.managed import validate_username

CONNECT_TIMEOUT_S = 5
_MAX_DETAIL = 300


def checked_username(username: str) -> str:
    """Validate before any statement is built; a bad name never reaches the database."""
    try:
        return validate_username(username)
    except InvalidInput as exc:
        raise ProviderError(str(exc)) from None


def scrub(text: object, *secrets: str) -> str:
    """A driver message with every secret (and its escaped forms) removed, shortened."""
    out = str(text)
    for secret in secrets:
        if not secret:
            continue
        forms = {
            secret,
            secret.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"'),
            secret.replace("'", "''"),
        }
        for form in sorted(forms, key=len, reverse=True):
            out = out.replace(form, "***")
    out = " ".join(out.split())
    return out[:_MAX_DETAIL]


def fail(action: str, exc: BaseException | None = None, *secrets: str) -> ProviderError:
    """A ProviderError for `action`, with the scrubbed driver detail when there is one."""
    if exc is None:
        return ProviderError(action)
    detail = scrub(exc, *secrets)
    return ProviderError(f"{action}: {type(exc).__name__}: {detail}" if detail else action)


def ensure_reachable(kind: str, host: str, port: int) -> None:
    """A plain TCP connect first, for drivers that would otherwise retry a refusal
    until their selection timeout (pymongo): an unreachable server fails at once."""
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ProviderError(f"{kind} at {host}:{port} is unreachable ({exc.strerror})") from None
