"""Bootstrap tokens: single use, ten minutes, stored only as a hash.

The token's aggregate id derives from the token's SHA-256, so redeeming is a
lookup; two hosts racing to redeem write version 2 of the same aggregate and the
store lets only one of them win.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.audit import AuditStamp
from domain.errors import AuthenticationFailed
from domain.ids import index_id

BOOTSTRAP_TTL_MS = 10 * 60 * 1000


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_aggregate_id(token: str) -> UUID:
    return index_id("bootstrap-token", token_digest(token))


class BootstrapToken(Aggregate):
    TOPIC = "keyledger.token.BootstrapToken"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.token.Event"

    @staticmethod
    def create_id(digest: str) -> UUID:
        return index_id("bootstrap-token", digest)

    @event("Created", topic="keyledger.token.Created")
    def __init__(self, digest: str, expires_ms: int, machine_name: str, audit: AuditStamp) -> None:
        self.digest = digest
        self.expires_ms = expires_ms
        self.machine_name = machine_name
        self.redeemed_by: str | None = None

    def redeem(self, machine_id: str, now_ms: int, audit: AuditStamp) -> None:
        if self.redeemed_by is not None or now_ms >= self.expires_ms:
            raise AuthenticationFailed("Bootstrap token is invalid, expired or already used")
        self._redeemed(machine_id, audit)

    @event("Redeemed", topic="keyledger.token.Redeemed")
    def _redeemed(self, machine_id: str, audit: AuditStamp) -> None:
        self.redeemed_by = machine_id
