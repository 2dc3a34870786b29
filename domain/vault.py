"""The vault: one per installation, owned by the operator account that initialised it."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp


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

    @event("Sealed", topic="keyledger.vault.Sealed")
    def seal(self, audit: AuditStamp) -> None:
        self.sealed_by_operator = True

    @event("Unsealed", topic="keyledger.vault.Unsealed")
    def unseal(self, audit: AuditStamp) -> None:
        self.sealed_by_operator = False
