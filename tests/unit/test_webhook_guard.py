"""The SSRF guard: which addresses a webhook may reach, at `add` and at delivery."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.outreach import (
    MAX_URL,
    address_refusal,
    humanise,
    parse_url,
    retry_delay_ms,
    signature,
)
from infrastructure.outreach.guard import AddressGuard
from infrastructure.outreach.sender import DeliveryFailed, WebhookSender

REFUSED = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "169.254.169.254",  # cloud metadata
    "169.254.1.1",  # link-local
    "100.64.0.1",  # carrier-grade NAT
    "100.100.100.200",  # Alibaba metadata
    "224.0.0.1",  # multicast
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",  # link-local
    "fc00::1",  # unique local
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "ff02::1",  # multicast
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"]


@pytest.mark.parametrize("text", REFUSED)
def test_private_loopback_link_local_and_metadata_are_refused(text: str) -> None:
    assert address_refusal(ipaddress.ip_address(text), allow_loopback=False) is not None


@pytest.mark.parametrize("text", ALLOWED)
def test_public_addresses_pass(text: str) -> None:
    assert address_refusal(ipaddress.ip_address(text), allow_loopback=False) is None


def test_loopback_only_with_the_flag_and_nothing_else_private() -> None:
    for text in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert address_refusal(ipaddress.ip_address(text), allow_loopback=True) is None
    for text in ("10.0.0.1", "169.254.169.254", "fe80::1"):
        assert address_refusal(ipaddress.ip_address(text), allow_loopback=True) is not None


def fixed(*addresses: str) -> Any:
    def resolve(host: str, port: int) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # plain http off loopback
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https:///nohost",
        "not a url",
        "https://hooks.example.com/" + "a" * MAX_URL,
    ],
)
def test_bad_urls_are_refused_before_any_lookup(url: str) -> None:
    guard = AddressGuard(allow_loopback=False, resolve=fixed("93.184.216.34"))
    with pytest.raises(InvalidInput):
        guard.check(url)


def test_a_name_resolving_anywhere_private_is_refused() -> None:
    # One private answer among public ones is enough to refuse.
    guard = AddressGuard(False, resolve=fixed("93.184.216.34", "10.1.2.3"))
    with pytest.raises(InvalidInput, match="private"):
        guard.check("https://hooks.example.com/in")
    with pytest.raises(InvalidInput, match="metadata"):
        AddressGuard(False, resolve=fixed("169.254.169.254")).check("https://meta.example/")
    with pytest.raises(InvalidInput, match="does not resolve"):
        AddressGuard(False, resolve=fixed()).check("https://nothing.example/")
    AddressGuard(False, resolve=fixed("93.184.216.34")).check("https://hooks.example.com/in")


def test_http_only_to_loopback_and_only_with_the_flag() -> None:
    with pytest.raises(InvalidInput, match="https"):
        AddressGuard(False, resolve=fixed("127.0.0.1")).check("http://127.0.0.1:9/x")
    AddressGuard(True, resolve=fixed("127.0.0.1")).check("http://127.0.0.1:9/x")
    with pytest.raises(InvalidInput, match="https"):
        AddressGuard(True, resolve=fixed("93.184.216.34")).check("http://hooks.example.com/")


def test_the_address_is_checked_again_at_delivery_dns_rebinding() -> None:
    answers = [["93.184.216.34"], ["127.0.0.1"]]

    def rebinding(host: str, port: int) -> list[Any]:
        found = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in found]

    guard = AddressGuard(False, resolve=rebinding)
    guard.check("https://rebind.example/hook")  # at `add`: public
    sender = WebhookSender(guard, timeout_s=1)
    with pytest.raises(DeliveryFailed, match="loopback"):
        sender.post("https://rebind.example/hook", b"k", "id", "auth_failure", b"{}", 1)


def test_signature_backoff_and_names() -> None:
    # HMAC-SHA256("key", "1700000000000.{}") computed independently with openssl.
    assert signature(b"key", 1700000000000, b"{}") == (
        "36a72f4525d3323bd0f238fe82098164fb77b1e42288ff8e07b074c686178ad3"
    )
    delays = [retry_delay_ms(n, 1000, 60_000, 0.999) for n in range(1, 10)]
    assert delays[:4] == [999, 1999, 3998, 7996] and max(delays) <= 60_000
    assert retry_delay_ms(3, 1000, 60_000, 0.0) == 2000  # jitter halves at most
    assert humanise("auth_failure") == "Auth Failure"
    assert parse_url("https://h.example", False).port == 443
