"""Webhooks: register, list, enable/disable, remove, test; and each delivery's outcome.

A webhook's URL passes the SSRF guard when it is added and again before every
delivery (the resolver's answer may change: DNS rebinding). Its signing secret is
shown once, at creation, and stored sealed under the server key. Ten failed
attempts in a row disable it (audited, so the alert set and other webhooks hear of
it); enabling resets the count and releases the deliveries it held back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from application.ports import Clock
from domain import ids
from domain.audit import AuditStamp
from domain.auditcatalogue import BY_ACTION
from domain.errors import InvalidInput, NotFound
from domain.outreach import MAX_FAILURES, parse_actions, parse_url


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    url: str
    actions: tuple[str, ...]
    enabled: bool
    created_ms: int
    consecutive_failures: int = 0
    last_delivered_ms: int | None = None
    last_failed_ms: int | None = None
    last_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.webhook_id,
            "url": self.url,
            "actions": list(self.actions),
            "enabled": self.enabled,
            "createdAt": self.created_ms,
            "consecutiveFailures": self.consecutive_failures,
            "lastDeliveredAt": self.last_delivered_ms,
            "lastFailedAt": self.last_failed_ms,
            "lastError": self.last_error,
        }


class WebhookStore(Protocol):
    def add(self, webhook: Webhook, sealed_secret: bytes) -> None: ...

    def get(self, webhook_id: str) -> Webhook | None: ...

    def all(self) -> list[Webhook]: ...

    def sealed_secret(self, webhook_id: str) -> bytes | None: ...

    def set_enabled(self, webhook_id: str, enabled: bool) -> None:
        """Enabling also resets the failure count and the last error, and releases
        the deliveries held back while it was disabled."""
        ...

    def remove(self, webhook_id: str) -> None: ...


class AddressGuard(Protocol):
    def check(self, url: str) -> None:
        """InvalidInput unless every address the URL's host resolves to may be used."""
        ...


class Sealer(Protocol):
    def seal_setting(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open_setting(self, blob: bytes, aad: bytes) -> bytes: ...


class AuditLog(Protocol):
    def record(self, action: str, audit: AuditStamp, secret_id: str | None = None) -> None: ...


class SampleSender(Protocol):
    def send_sample(self, webhook_id: str) -> dict[str, Any]: ...


def secret_aad(webhook_id: str) -> bytes:
    return f"keyledger webhook secret {webhook_id}".encode()


class Webhooks:
    def __init__(
        self,
        store: WebhookStore,
        guard: AddressGuard,
        sealer: Sealer,
        audit: AuditLog,
        clock: Clock,
        allow_loopback: bool,
    ) -> None:
        self.store = store
        self.guard = guard
        self.sealer = sealer
        self.audit = audit
        self.clock = clock
        self.allow_loopback = allow_loopback

    def add(self, url: str, actions: list[str], stamp: AuditStamp) -> tuple[Webhook, str]:
        """The new webhook and its signing secret (returned this once, never again)."""
        parse_url(url, self.allow_loopback)
        chosen = parse_actions(actions, set(BY_ACTION))
        if not chosen:
            raise InvalidInput("A webhook needs at least one action (--actions a,b)")
        self.guard.check(url)
        webhook_id = ids.new_public_id(ids.WEBHOOK)
        signing_secret = "whsec_" + secrets.token_urlsafe(32)
        sealed = self.sealer.seal_setting(signing_secret.encode(), secret_aad(webhook_id))
        webhook = Webhook(webhook_id, url, chosen, True, self.clock.now_ms())
        self.store.add(webhook, sealed)
        self.audit.record(
            "webhook_create",
            stamp.with_detail(f"Webhook {webhook_id} for {', '.join(chosen)}"),
        )
        return webhook, signing_secret

    def get(self, webhook_id: str) -> Webhook:
        found = self.store.get(ids.require(ids.WEBHOOK, webhook_id))
        if found is None:
            raise NotFound(f"Webhook {webhook_id} not found")
        return found

    def all(self) -> list[Webhook]:
        return self.store.all()

    def enable(self, webhook_id: str, stamp: AuditStamp) -> Webhook:
        self.get(webhook_id)
        self.store.set_enabled(webhook_id, True)
        self.audit.record("webhook_enable", stamp.with_detail(f"Webhook {webhook_id} enabled"))
        return self.get(webhook_id)

    def disable(self, webhook_id: str, stamp: AuditStamp) -> Webhook:
        self.get(webhook_id)
        self.store.set_enabled(webhook_id, False)
        self.audit.record("webhook_disable", stamp.with_detail(f"Webhook {webhook_id} disabled"))
        return self.get(webhook_id)

    def remove(self, webhook_id: str, stamp: AuditStamp) -> None:
        self.get(webhook_id)
        self.store.remove(webhook_id)
        self.audit.record("webhook_delete", stamp.with_detail(f"Webhook {webhook_id} removed"))

    def signing_secret(self, webhook_id: str) -> bytes:
        sealed = self.store.sealed_secret(webhook_id)
        if sealed is None:
            raise NotFound(f"Webhook {webhook_id} not found")
        return self.sealer.open_setting(sealed, secret_aad(webhook_id))

    def record_test(self, webhook_id: str, stamp: AuditStamp) -> None:
        self.audit.record("webhook_test", stamp.with_detail(f"Sample sent to webhook {webhook_id}"))

    def auto_disabled(self, webhook_id: str, error: str) -> None:
        """Called once a delivery made the failure count reach the threshold."""
        self.store.set_enabled(webhook_id, False)
        detail = f"Webhook {webhook_id} disabled after {MAX_FAILURES} failed deliveries: {error}"
        self.audit.record("webhook_auto_disable", AuditStamp.system(detail[:500]))
