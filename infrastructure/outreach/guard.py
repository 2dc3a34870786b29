"""The SSRF guard: resolve a webhook's host and refuse what is not a public address.

The sender connects to the very address checked here (the URL's host is kept for
the Host header and TLS SNI), so a resolver that answers differently a moment later
(DNS rebinding) cannot redirect a delivery to an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from domain.outreach import Address, Target, check_addresses, parse_url

Resolve = Callable[[str, int], list[Any]]


def _system_resolve(host: str, port: int) -> list[Any]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


class AddressGuard:
    def __init__(self, allow_loopback: bool, resolve: Resolve = _system_resolve) -> None:
        self.allow_loopback = allow_loopback
        self.resolve = resolve

    def addresses(self, target: Target) -> list[Address]:
        try:
            return [
                ipaddress.ip_address(info[4][0]) for info in self.resolve(target.host, target.port)
            ]
        except (OSError, UnicodeError, ValueError):
            return []

    def pin(self, url: str) -> tuple[Target, Address]:
        """The URL's parts and the one checked address to connect to."""
        target = parse_url(url, self.allow_loopback)
        found = self.addresses(target)
        check_addresses(target, found, self.allow_loopback)
        return target, found[0]

    def check(self, url: str) -> None:
        self.pin(url)
