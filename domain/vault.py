"""The vault: one per installation, owned by the operator account that initialised it."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.allowlist import AllowlistEntry, parse_cidr
from domain.audit import AuditStamp
from domain.errors import Conflict, NotFound


class Vault(Aggregate):
    TOPIC = "keyledger.vault.Vault"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.vault.Event"

    @staticmethod
    def create_id() -> UUID:
        return ids.VAULT_SINGLETON

    @event("Created", topic="keyledger.vault.Created")
    def __init__(
        self,
        vault_id: str,
        owner_id: str,
        owner_email: str,
        password_hash: str,
        audit: AuditStamp,
    ) -> None:
        self.vault_id = vault_id
        self.owner_id = owner_id
        self.owner_email = owner_email
        self.password_hash = password_hash
        self.sealed_by_operator = False
        self.allowlist_enabled = False
        self.allowlist: list[AllowlistEntry] = []

    @event("Sealed", topic="keyledger.vault.Sealed")
    def seal(self, audit: AuditStamp) -> None:
        self.sealed_by_operator = True

    @event("Unsealed", topic="keyledger.vault.Unsealed")
    def unseal(self, audit: AuditStamp) -> None:
        self.sealed_by_operator = False

    # -- IP allowlist ----------------------------------------------------------

    def enable_allowlist(self, audit: AuditStamp) -> None:
        if self.allowlist_enabled:
            raise Conflict("The IP allowlist is already enabled")
        self._allowlist_enabled(audit)

    @event("AllowlistEnabled", topic="keyledger.vault.AllowlistEnabled")
    def _allowlist_enabled(self, audit: AuditStamp) -> None:
        self.allowlist_enabled = True

    def disable_allowlist(self, audit: AuditStamp) -> None:
        if not self.allowlist_enabled:
            raise Conflict("The IP allowlist is already disabled")
        self._allowlist_disabled(audit)

    @event("AllowlistDisabled", topic="keyledger.vault.AllowlistDisabled")
    def _allowlist_disabled(self, audit: AuditStamp) -> None:
        self.allowlist_enabled = False

    def add_allowlist_entry(
        self, entry_id: str, cidr: str, label: str, audit: AuditStamp
    ) -> AllowlistEntry:
        cidr = parse_cidr(cidr)
        if any(e.cidr == cidr for e in self.allowlist):
            raise Conflict(f"{cidr} is already on the allowlist")
        self._allowlist_entry_added(entry_id, cidr, label[:200], audit)
        return self.allowlist[-1]

    @event("AllowlistEntryAdded", topic="keyledger.vault.AllowlistEntryAdded")
    def _allowlist_entry_added(
        self, entry_id: str, cidr: str, label: str, audit: AuditStamp
    ) -> None:
        self.allowlist = [*self.allowlist, AllowlistEntry(entry_id, cidr, label)]

    def remove_allowlist_entry(self, entry_id: str, audit: AuditStamp) -> None:
        if not any(e.entry_id == entry_id for e in self.allowlist):
            raise NotFound(f"Allowlist entry {entry_id} not found")
        self._allowlist_entry_removed(entry_id, audit)

    @event("AllowlistEntryRemoved", topic="keyledger.vault.AllowlistEntryRemoved")
    def _allowlist_entry_removed(self, entry_id: str, audit: AuditStamp) -> None:
        self.allowlist = [e for e in self.allowlist if e.entry_id != entry_id]
