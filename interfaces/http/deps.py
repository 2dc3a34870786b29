"""Request-scoped dependencies: the operator session and the audit stamp."""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request

from application.ports import SessionRecord
from domain.allowlist import IpNetwork
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed
from interfaces.bootstrap import Services

AnyRequest = Request[Any, Any, Any]


def client_ip(request: AnyRequest) -> str:
    """The socket's peer, unless it is a trusted proxy: then the nearest untrusted
    address in X-Forwarded-For (read right to left)."""
    host = request.client.host if request.client else "unknown"
    trusted: list[IpNetwork] = request.app.state.get("trusted_proxies", [])
    if not trusted or not _within(host, trusted):
        return host
    forwarded = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in forwarded if h]):
        if not _within(hop, trusted):
            return hop
    return host


def _within(ip: str, networks: list[IpNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def provide_operator(request: AnyRequest, services: Services) -> SessionRecord:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Log in first: this endpoint needs an operator session")
    return services.accounts.session(token.strip())


def provide_stamp(request: AnyRequest, operator: SessionRecord) -> AuditStamp:
    return AuditStamp(ActorKind.USER, client_ip(request), user_id=operator.user_id)
