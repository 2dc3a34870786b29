"""Every error leaves as `{"error": "…"}` with the product's status code."""

from __future__ import annotations

import logging

from litestar import Response
from litestar.exceptions import HTTPException, ValidationException

from domain.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    Gone,
    IntegrityFailure,
    InvalidInput,
    KeyledgerError,
    Locked,
    NotFound,
    Sealed,
    TooManyAttempts,
)
from interfaces.http.deps import AnyRequest

log = logging.getLogger("keyledger.http")

STATUS: dict[type[KeyledgerError], int] = {
    InvalidInput: 400,
    AuthenticationFailed: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    Locked: 423,
    TooManyAttempts: 429,
    Sealed: 503,
    IntegrityFailure: 500,
}


def error(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"error": message}, status_code=status)


def domain_error_parts(exc: KeyledgerError) -> tuple[int, str, int | None]:
    """(status, message, Retry-After seconds or None): shared with the hot path."""
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    retry_after = exc.retry_after_seconds if isinstance(exc, TooManyAttempts) else None
    return status, str(exc), retry_after


def on_domain_error(_: AnyRequest, exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, KeyledgerError)
    status, message, retry_after = domain_error_parts(exc)
    response = error(status, message)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def on_validation_error(_: AnyRequest, exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, ValidationException)
    problems = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            where = item.get("key") or item.get("source") or ""
            problems.append(f"{where}: {item.get('message', '')}".strip(": "))
    detail = "; ".join(problems) if problems else (exc.detail or "Invalid request")
    return error(400, f"Invalid request: {detail}")


def on_http_error(_: AnyRequest, exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail or "Request failed")


def on_unexpected(request: AnyRequest, exc: Exception) -> Response[dict[str, str]]:
    # Log the type and route only: an exception's text could echo request data.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error(500, "Internal server error")
