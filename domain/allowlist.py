"""The vault IP allowlist: checked before anything else on a machine request."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from domain.errors import InvalidInput

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AllowlistEntry:
    entry_id: str
    cidr: str
    label: str


def parse_cidr(cidr: str) -> str:
    """Normalise an IP or CIDR (IPv4 or IPv6); a bare address is a /32 or /128."""
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError:
        raise InvalidInput(f"{cidr[:64]!r} is not an IP address or CIDR range") from None


def ip_allowed(ip: str, enabled: bool, entries: list[AllowlistEntry]) -> bool:
    """Disabled: everyone. Enabled and empty: no one."""
    if not enabled:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(e.cidr) for e in entries)
