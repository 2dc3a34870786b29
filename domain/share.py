"""A share link: one value for one person outside the vault, seen at most once.

The events hold the value only as ciphertext (sealed under a key of the share's own,
which is destroyed once the share is over) and the passphrase only as an Argon2id
hash. Every end is final: viewed, destroyed (by the operator or a wrong passphrase)
or expired. Validation lives in the command methods; `@event` methods only apply.
"""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp
from domain.errors import Gone, InvalidInput
from domain.values import SealedValue

MAX_NAME = 256
MAX_VALUE_BYTES = 100 * 1024
MIN_LIFETIME_S = 60
MAX_LIFETIME_S = 24 * 3600


class ShareStatus(str, Enum):
    PENDING = "pending"
    VIEWED = "viewed"
    DESTROYED = "destroyed"
    EXPIRED = "expired"


def validate_share_name(name: str) -> str:
    if not name or not name.strip():
        raise InvalidInput("Share name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Share name must be at most {MAX_NAME} characters")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("Share name must not contain control characters")
    return name


def validate_share_value(value: str) -> bytes:
    if not value:
        raise InvalidInput("Share value must not be empty")
    data = value.encode()
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidInput(f"Share value must be at most {MAX_VALUE_BYTES} bytes (100 KB)")
    return data


def validate_lifetime(seconds: int) -> int:
    if not MIN_LIFETIME_S <= seconds <= MAX_LIFETIME_S:
        raise InvalidInput("Share lifetime must be between 1 minute and 24 hours")
    return seconds


class Share(Aggregate):
    TOPIC = "keyledger.share.Share"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.share.Event"

    @staticmethod
    def create_id(share_id: str) -> UUID:
        return ids.aggregate_id(share_id)

    @event("Created", topic="keyledger.share.Created")
    def __init__(
        self,
        share_id: str,
        name: str,
        key_ref: str,
        sealed: SealedValue,
        passphrase_hash: str,
        expires_ms: int,
        audit: AuditStamp,
    ) -> None:
        self.share_id = share_id
        self.name = name
        self.key_ref = key_ref
        self.sealed = sealed
        self.passphrase_hash = passphrase_hash
        self.expires_ms = expires_ms
        self.status = ShareStatus.PENDING
        self.ended_ms: int | None = None

    @property
    def created_ms(self) -> int:
        return int(self.created_on.timestamp() * 1000)

    def is_pending(self) -> bool:
        return self.status is ShareStatus.PENDING

    def is_due(self, now_ms: int) -> bool:
        """Pending but past its lifetime: the sweeper (or the next visitor) expires it."""
        return self.is_pending() and now_ms >= self.expires_ms

    def require_pending(self) -> None:
        if not self.is_pending():
            raise Gone(f"This share is {self.status.value}: it can no longer be viewed")

    # -- commands --------------------------------------------------------------

    def view(self, now_ms: int, audit: AuditStamp) -> None:
        self.require_pending()
        self._viewed(at_ms=now_ms, audit=audit)

    def destroy(self, now_ms: int, audit: AuditStamp) -> None:
        """By the operator, or by a wrong passphrase (the stamp's detail says which)."""
        self.require_pending()
        self._destroyed(at_ms=now_ms, audit=audit)

    def expire(self, now_ms: int, audit: AuditStamp) -> None:
        self.require_pending()
        self._expired(at_ms=now_ms, audit=audit)

    # -- events ----------------------------------------------------------------

    @event("Viewed", topic="keyledger.share.Viewed")
    def _viewed(self, at_ms: int, audit: AuditStamp) -> None:
        self.status = ShareStatus.VIEWED
        self.ended_ms = at_ms

    @event("Destroyed", topic="keyledger.share.Destroyed")
    def _destroyed(self, at_ms: int, audit: AuditStamp) -> None:
        self.status = ShareStatus.DESTROYED
        self.ended_ms = at_ms

    @event("Expired", topic="keyledger.share.Expired")
    def _expired(self, at_ms: int, audit: AuditStamp) -> None:
        self.status = ShareStatus.EXPIRED
        self.ended_ms = at_ms
