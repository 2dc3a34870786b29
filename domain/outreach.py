"""What goes out when something happens: webhook rules, the SSRF address rule, payloads.

Pure rules only (no sockets, no clock): the infrastructure resolves host names and
asks `address_refusal` about every address it got, at `webhook add` and again right
before each delivery, so a name that later resolves somewhere private is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from domain.errors import InvalidInput
from domain.siem.record import AuditRecord

MAX_URL = 2048
MAX_FAILURES = 10  # consecutive failed attempts before a webhook is disabled
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: what the guard resolves and the sender connects to."""

    url: str
    scheme: str
    host: str
    port: int


def parse_url(url: str, allow_loopback: bool) -> Target:
    """Shape checks of a webhook URL (the addresses are checked after resolving)."""
    if not isinstance(url, str) or not url:
        raise InvalidInput("A webhook needs a URL")
    if len(url) > MAX_URL:
        raise InvalidInput(f"A webhook URL is at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("The webhook URL is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == "http" and not allow_loopback:
        raise InvalidInput("A webhook URL must be https://")
    if scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput("A webhook URL must be https://host/…")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("A webhook URL takes no user or password")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInput("A webhook URL holds no spaces or control characters")
    default = 443 if scheme == "https" else 80
    return Target(url=url, scheme=scheme, host=parts.hostname, port=port or default)


def _embedded_v4(address: Address) -> ipaddress.IPv4Address | None:
    """An IPv4 address carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: Address, allow_loopback: bool) -> str | None:
    """Why a webhook may not be sent to `address` (None: it may)."""
    inner = _embedded_v4(address)
    if inner is not None:
        return address_refusal(inner, allow_loopback)
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "not a routable unicast address"
    if address.is_private or not address.is_global:
        return "a private address"
    return None


def check_addresses(target: Target, addresses: list[Address], allow_loopback: bool) -> None:
    """Every address the host resolves to must be public (plain http: all loopback)."""
    if not addresses:
        raise InvalidInput(f"The webhook host {target.host} does not resolve")
    for address in addresses:
        why = address_refusal(address, allow_loopback)
        if why is not None:
            raise InvalidInput(f"The webhook host {target.host} resolves to {why}")
        effective = _embedded_v4(address) or address
        if target.scheme == "http" and not effective.is_loopback:
            raise InvalidInput("A webhook URL must be https:// (plain http only to loopback)")


def parse_actions(actions: list[str], known: set[str]) -> tuple[str, ...]:
    """Unique, known action names in a stable order; an unknown one is a 400."""
    names = [a.strip() for a in actions if a.strip()]
    unknown = sorted({a for a in names if a not in known})
    if unknown:
        raise InvalidInput(f"Unknown audit action(s): {', '.join(unknown)}")
    return tuple(sorted(set(names)))


def humanise(action: str) -> str:
    """`auth_failure` → "Auth Failure" (the alert mail's subject)."""
    return " ".join(word.capitalize() for word in action.split("_"))


def payload(delivery_id: str, record: AuditRecord) -> bytes:
    """The webhook body: built once per delivery, re-sent byte for byte on retry."""
    body: dict[str, Any] = {
        "id": delivery_id,
        "event": record.action,
        "severity": record.severity,
        "timestamp": record.timestamp_ms,
        "data": {
            "userId": record.user_id,
            "machineId": record.machine_id,
            "secretId": record.secret_id,
            "sourceIp": record.source_ip,
            "detail": record.detail or None,
        },
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=False).encode()


def signature(secret: bytes, timestamp_ms: int, body: bytes) -> str:
    """Hex HMAC-SHA256 over "{timestamp}.{raw body}" (receivers recompute and compare)."""
    return hmac.new(secret, f"{timestamp_ms}.".encode() + body, hashlib.sha256).hexdigest()


def retry_delay_ms(attempts: int, base_ms: int, cap_ms: int, jitter: float) -> int:
    """Exponential backoff with jitter: base·2^(n−1), capped, times 0.5–1.0 (`jitter`∈[0,1))."""
    exponent = min(max(attempts - 1, 0), 30)
    ceiling = min(cap_ms, base_ms * (2**exponent))
    return max(1, int(ceiling * (0.5 + 0.5 * jitter)))
