"""The signed read without the framework's per-request machinery.

`GET /v1/secret/{id}` is what the server does all day. Profiled under load, Litestar's
routing, kwargs model, body extraction, hooks and response objects cost more than the
read itself (signature, gate, AES-GCM, group-committed record). This ASGI path serves
the common case, an SDK read with no body and no forwarded headers, straight from the
scope, through the same `read_secret` the routed handler uses, with the same answers
and errors. Anything else (a body, X-Forwarded-For or Forwarded, trusted proxies
configured, a path that is not one id) goes through the framework unchanged, which also
keeps the route in the OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from application.access import SignedRequest
from domain.errors import KeyledgerError
from interfaces.bootstrap import Services
from interfaces.http.errors import domain_error_parts
from interfaces.http.machine import read_secret

PREFIX = "/v1/secret/"
SIGNED = frozenset((b"x-machine-id", b"x-agent-id", b"x-timestamp", b"x-nonce", b"x-signature"))
ROUTED = frozenset((b"x-forwarded-for", b"forwarded", b"transfer-encoding"))
log = logging.getLogger("keyledger.http")

Send = Callable[[dict[str, Any]], Awaitable[None]]


class FastSecretRead:
    def __init__(self, services: Services, proxies_trusted: bool) -> None:
        self.services = services
        self.enabled = not proxies_trusted  # client_ip then needs the full rules

    def headers_if_simple(self, scope: dict[str, Any]) -> dict[bytes, str] | None:
        """The signature headers, or None if this request takes the routed path."""
        if not self.enabled or scope["type"] != "http" or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX) or "/" in path[len(PREFIX) :] or len(path) == len(PREFIX):
            return None
        found: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in SIGNED:
                found.setdefault(name, value.decode("latin-1"))
            elif name in ROUTED or (name == b"content-length" and value.strip() != b"0"):
                return None
        return found

    async def serve(self, scope: dict[str, Any], headers: dict[bytes, str], send: Send) -> None:
        client = scope.get("client")
        signed = SignedRequest(
            method="GET",
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            body=b"",
            source_ip=client[0] if client else "unknown",
            machine_id=headers.get(b"x-machine-id") or headers.get(b"x-agent-id"),
            timestamp=headers.get(b"x-timestamp"),
            nonce=headers.get(b"x-nonce"),
            signature=headers.get(b"x-signature"),
        )
        extra: list[tuple[bytes, bytes]] = []
        try:
            value = await read_secret(self.services, signed, scope["path"][len(PREFIX) :])
            status, payload = 200, msgspec.json.encode({"value": value})
        except KeyledgerError as exc:
            status, message, retry_after = domain_error_parts(exc)
            payload = msgspec.json.encode({"error": message})
            if retry_after is not None:
                extra.append((b"retry-after", str(retry_after).encode()))
        except Exception as exc:  # as errors.on_unexpected: type and route only
            log.error("unhandled %s on GET %s", type(exc).__name__, PREFIX + "…")
            status, payload = 500, b'{"error":"Internal server error"}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
