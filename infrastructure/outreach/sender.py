"""POST one webhook delivery: signed, to the address the guard checked, 10 s at most."""

from __future__ import annotations

import ipaddress
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit, urlunsplit

import httpx

from domain.errors import InvalidInput
from domain.outreach import signature
from infrastructure.outreach.guard import AddressGuard

TIMEOUT_S = 10.0


class DeliveryFailed(Exception):
    """The receiver could not be reached or did not answer 2xx (message: short, no body)."""


def product_version() -> str:
    try:
        return version("keyledger")
    except PackageNotFoundError:
        return "0.1.0"


class WebhookSender:
    def __init__(self, guard: AddressGuard, timeout_s: float = TIMEOUT_S) -> None:
        self.guard = guard
        self.timeout_s = timeout_s
        self.user_agent = f"keyledger-webhook/{product_version()}"

    def post(
        self, url: str, secret: bytes, delivery_id: str, event: str, body: bytes, now_ms: int
    ) -> int:
        """The receiver's status code (2xx); DeliveryFailed otherwise."""
        try:
            target, address = self.guard.pin(url)  # again now: the answer may have changed
        except InvalidInput as exc:
            raise DeliveryFailed(f"refused: {exc}") from None
        parts = urlsplit(url)
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        pinned = urlunsplit(
            (target.scheme, f"{literal}:{target.port}", parts.path or "/", parts.query, "")
        )
        host = parts.netloc.rsplit("@", 1)[-1]
        headers = {
            "Host": host,
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            "X-Keyledger-Delivery-Id": delivery_id,
            "X-Keyledger-Event": event,
            "X-Keyledger-Timestamp": str(now_ms),
            "X-Keyledger-Signature": signature(secret, now_ms, body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
                request = client.build_request(
                    "POST", pinned, content=body, headers=headers, extensions=extensions
                )
                response = client.send(request)
        except httpx.TimeoutException:
            raise DeliveryFailed(f"no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"could not connect ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}")
        return response.status_code
