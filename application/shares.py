"""Share links: create, list, destroy, open once, and the expiry sweep.

A share's value is sealed by the `KeyService` under a master key of the share's own
(as a project's secrets are under the project's); when the share ends — viewed,
destroyed, expired — the event is saved first and the key destroyed after, so the
ciphertext left in the ledger can never be opened again (ADR 0022). Two recipients
at once: both load version 1, only one `Viewed` (or `Destroyed`) event can be saved
as version 2, the other save fails the store's version check and that caller is
told the share is gone. The recipient endpoint is unauthenticated, so every attempt
counts against its source in a `Backoff` before the passphrase is hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError

from application.failures import source_key
from application.ledger import Ledger
from application.ports import Clock, PasswordHasher
from application.throttle import Backoff
from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    Sealed,
)
from domain.share import (
    Share,
    ShareStatus,
    validate_lifetime,
    validate_share_name,
    validate_share_value,
)
from domain.values import Charset, generate_value

PASSPHRASE_LENGTH = 24  # alphanumeric: about 143 bits, typed by a person
WRONG_PASSPHRASE = "Wrong passphrase: the share is now destroyed"  # noqa: S105 - a message
LIST_LIMIT = 500


class ShareIndex(Protocol):
    """Which shares exist and which are still pending: for the list and the sweep.

    Not the record (the aggregate is): a row may lag its share's end; readers re-check."""

    def add(self, share_id: str, created_ms: int, expires_ms: int) -> None: ...

    def ended(self, share_id: str, status: str) -> None: ...

    def newest(self, limit: int) -> list[str]: ...

    def due(self, now_ms: int) -> list[str]: ...


@dataclass(frozen=True)
class NewShare:
    """What the operator sees once: the passphrase is never stored in the clear."""

    share: Share
    passphrase: str
    generated: str | None = None  # a generated value: the operator sees it this once


def share_view(share: Share) -> dict[str, Any]:
    """A share's metadata for the operator: never its value or passphrase."""
    return {
        "id": share.share_id,
        "name": share.name,
        "status": share.status.value,
        "createdAt": share.created_ms,
        "expiresAt": share.expires_ms,
        "endedAt": share.ended_ms,
    }


class ShareDesk:
    def __init__(
        self,
        ledger: Ledger,
        hasher: PasswordHasher,
        index: ShareIndex,
        clock: Clock,
        throttle: Backoff,
    ) -> None:
        self.ledger = ledger
        self.hasher = hasher
        self.index = index
        self.clock = clock
        self.throttle = throttle

    # -- operator ----------------------------------------------------------------

    def create(
        self,
        name: str,
        value: str | None,
        generate_length: int | None,
        lifetime_seconds: int,
        audit: AuditStamp,
    ) -> NewShare:
        """Seal `value` (or a generated one) for `lifetime_seconds` (60–86400)."""
        name = validate_share_name(name)
        validate_lifetime(lifetime_seconds)
        if (value is None) == (generate_length is None):
            raise InvalidInput("Give exactly one of value or generate (with a length)")
        generated = None if value is not None else generate_value(generate_length or 0)
        data = validate_share_value(value if value is not None else generated or "")
        if self.ledger.keys.is_sealed:
            raise Sealed()
        share_id = ids.new_public_id(ids.SHARE)
        passphrase = generate_value(PASSPHRASE_LENGTH, Charset.ALPHANUMERIC)
        keys = self.ledger.keys
        key_ref = keys.new_project_key(share_id)
        now = self.clock.now_ms()
        share = Share(
            share_id=share_id,
            name=name,
            key_ref=key_ref,
            sealed=keys.seal_value(key_ref, share_id, 1, data),
            passphrase_hash=self.hasher.hash(passphrase),
            expires_ms=now + lifetime_seconds * 1000,
            audit=audit.with_detail(f"share {share_id} ({name}), {lifetime_seconds} s"),
        )
        self.ledger.save_or_conflict(share)
        self.index.add(share_id, share.created_ms, share.expires_ms)
        return NewShare(share, passphrase, generated)

    def share(self, share_id: str) -> Share:
        what = f"Share {share_id[:40]} not found"
        try:
            found: object = self.ledger.repository.get(
                ids.aggregate_id(ids.require(ids.SHARE, share_id))
            )
        except AggregateNotFoundError:
            raise NotFound(what) from None
        if not isinstance(found, Share):
            raise NotFound(what)
        return found

    def listing(self) -> list[dict[str, Any]]:
        """The newest shares, their state from the ledger (a lapsed one shows expired)."""
        shares = []
        for share_id in self.index.newest(LIST_LIMIT):
            try:
                shares.append(self.share(share_id))
            except NotFound:  # indexed, its event lost to a failed save: nothing to list
                continue
        now = self.clock.now_ms()
        return [share_view(s) | ({"status": "expired"} if s.is_due(now) else {}) for s in shares]

    def destroy(self, share_id: str, audit: AuditStamp) -> Share:
        share = self.share(share_id)
        share.destroy(self.clock.now_ms(), audit.with_detail(f"share {share_id} destroyed"))
        self._end(share)
        return share

    # -- recipient -----------------------------------------------------------------

    def status(self, share_id: str) -> ShareStatus:
        """For the recipient's page: pending (the form) or why not."""
        share = self.share(share_id)
        if share.is_due(self.clock.now_ms()):
            return ShareStatus.EXPIRED
        return share.status

    def open(self, share_id: str, passphrase: str, source_ip: str) -> str:
        """The value, once, for the right passphrase; a wrong one destroys the share.

        Every attempt (right, wrong, unknown id) counts against the source."""
        source = "share:" + source_key(source_ip)
        self.throttle.check(source)
        self.throttle.failed(source)
        share = self.share(share_id)
        now = self.clock.now_ms()
        if share.is_due(now):
            self._expire(share, now)
            raise Gone("This share has expired")
        share.require_pending()
        stamp = AuditStamp(ActorKind.EXTERNAL, source_ip, detail=f"share {share_id} ({share.name})")
        if not passphrase or not self.hasher.verify(passphrase, share.passphrase_hash):
            share.destroy(now, stamp.with_detail(f"share {share_id}: wrong passphrase"))
            self._end(share)
            raise Forbidden(WRONG_PASSPHRASE)
        if self.ledger.keys.is_sealed:
            raise Sealed()
        try:
            value = self.ledger.keys.open_value(share.key_ref, share_id, share.sealed).decode()
        except IntegrityFailure:
            if not self.share(share_id).is_pending():  # ended meanwhile: its key is gone
                raise Gone("This share was just viewed or destroyed by someone else") from None
            raise
        share.view(now, stamp.with_detail(f"share {share_id} viewed"))
        self._end(share)  # a lost race raises here: the value is dropped unseen
        return value

    # -- sweep ---------------------------------------------------------------------

    def expire_due(self, now_ms: int | None = None) -> list[str]:
        """Expire every pending share past its lifetime (the scheduler's job, each tick)."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        expired = []
        for share_id in self.index.due(now):
            try:
                share = self.share(share_id)
            except NotFound:
                continue
            if not share.is_due(now):
                if not share.is_pending():
                    self.index.ended(share_id, share.status.value)  # the index lagged
                continue
            try:
                self._expire(share, now)
            except Gone:
                continue  # someone ended it meanwhile
            expired.append(share_id)
        return expired

    def _expire(self, share: Share, now: int) -> None:
        share.expire(now, AuditStamp.system(f"share {share.share_id} expired"))
        self._end(share)

    def _end(self, share: Share) -> None:
        """Save the end, then destroy the key: the event records that it was destroyed."""
        try:
            self.ledger.save_or_conflict(share)
        except Conflict:
            raise Gone("This share was just viewed or destroyed by someone else") from None
        self.ledger.keys.shred_project_key(share.share_id, [share.share_id])
        self.index.ended(share.share_id, share.status.value)
