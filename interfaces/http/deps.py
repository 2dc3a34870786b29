"""Request-scoped dependencies: the client's address, the operator session, the audit stamp."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from litestar import Request

from application.ports import SessionRecord
from domain.allowlist import IpNetwork
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed, InvalidInput
from interfaces.bootstrap import Services

AnyRequest = Request[Any, Any, Any]
log = logging.getLogger("keyledger.http")


def client_ip(request: AnyRequest) -> str:
    """The one place that decides who is calling: the socket's peer, unless it is a
    trusted proxy (KEYLEDGER_TRUSTED_PROXIES); then the nearest address in
    X-Forwarded-For (read right to left) that is not a trusted proxy itself."""
    host = peer(request)
    trusted: list[IpNetwork] = request.app.state.get("trusted_proxies", [])
    if not trusted or not _within(host, trusted):
        return host
    for hop in reversed(forwarded_hops(request)):
        if not _within(hop, trusted):
            return hop
    return host


def behind_trusted_proxy(request: AnyRequest) -> bool:
    return client_ip(request) != peer(request)


def peer(request: AnyRequest) -> str:
    return request.client.host if request.client else "unknown"


def forwarded_hops(request: AnyRequest) -> list[str]:
    """Every address named in X-Forwarded-For and Forwarded `for=`, oldest first."""
    hops = [h for v in request.headers.getall("x-forwarded-for", []) for h in v.split(",")]
    for value in request.headers.getall("forwarded", []):
        for element in value.replace(";", ",").split(","):
            name, _, hop = element.strip().partition("=")
            if name.strip().lower() == "for":
                hops.append(hop)
    return [address for address in (_address(h) for h in hops) if address]


def _address(hop: str) -> str:
    """`10.1.2.3`, `10.1.2.3:555`, `[::1]:80`, `"[::1]"` -> the bare, normalised address."""
    hop = hop.strip().strip('"')
    if hop.startswith("["):
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return hop


async def refuse_rewritten_peer(request: AnyRequest) -> None:
    """Before every handler (async: a sync hook costs a worker-thread hop per request):
    refuse a request whose peer address an HTTP server already
    took from a forwarded header (uvicorn's and gunicorn's proxy-headers default).

    The socket's real peer is lost then, so neither the allowlist nor the audit could
    trust any address: fail closed and say how to run the server instead.
    """
    host = peer(request)
    trusted: list[IpNetwork] = request.app.state.get("trusted_proxies", [])
    if _within(host, trusted) or host not in forwarded_hops(request):
        return  # a trusted proxy may well be named in the chain: proxies on one host
    log.warning(
        "refused a request: the HTTP server replaced the client address with one from "
        "X-Forwarded-For; run `keyledger server`, or uvicorn with --no-proxy-headers"
    )
    raise InvalidInput("Forwarded client address refused: the server runs with proxy headers on")


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
    try:
        return services.accounts.session(token.strip())
    except AuthenticationFailed:
        # A presented token that opens nothing is a failed authentication like a wrong
        # password: audited in the access log (folded per source), never a vault event.
        services.failures.record(client_ip(request), "operator session token refused")
        raise


def provide_stamp(request: AnyRequest, operator: SessionRecord) -> AuditStamp:
    return AuditStamp(ActorKind.USER, client_ip(request), user_id=operator.user_id)
