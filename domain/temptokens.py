"""Temporary-machine bootstrap tokens: single use, carrying the machine's lifetime
and guardrails. Like bootstrap tokens (same 48-hex shape, same script) but the
machine they register expires, and may be held to source CIDRs and hours."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.audit import AuditStamp
from domain.errors import AuthenticationFailed
from domain.ids import index_id
from domain.tokens import token_digest

TEMP_TOKEN_TTL_MS = 24 * 3600 * 1000  # the link is good for a day; the machine, its lifetime


def temp_token_id(token: str) -> UUID:
    return index_id("temp-token", token_digest(token))


class TempToken(Aggregate):
    TOPIC = "keyledger.temptoken.TempToken"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.temptoken.Event"

    @staticmethod
    def create_id(digest: str) -> UUID:
        return index_id("temp-token", digest)

    @event("Created", topic="keyledger.temptoken.Created")
    def __init__(
        self,
        digest: str,
        machine_name: str,
        lifetime_ms: int,
        expires_ms: int,
        cidrs: list[str],
        hours: str | None,
        tz: str,
        audit: AuditStamp,
    ) -> None:
        self.digest = digest
        self.machine_name = machine_name
        self.lifetime_ms = lifetime_ms
        self.expires_ms = expires_ms
        self.cidrs = list(cidrs)
        self.hours = hours
        self.tz = tz
        self.redeemed_by: str | None = None

    def redeem(self, machine_id: str, now_ms: int, audit: AuditStamp) -> None:
        if self.redeemed_by is not None or now_ms >= self.expires_ms:
            raise AuthenticationFailed("Bootstrap token is invalid, expired or already used")
        self._redeemed(machine_id, audit)

    @event("Redeemed", topic="keyledger.temptoken.Redeemed")
    def _redeemed(self, machine_id: str, audit: AuditStamp) -> None:
        self.redeemed_by = machine_id

    def limits(self, now_ms: int) -> tuple[int, list[str], str | None, str]:
        """The registered machine's expiry and guardrails (its lifetime runs from now)."""
        return now_ms + self.lifetime_ms, list(self.cidrs), self.hours, self.tz
