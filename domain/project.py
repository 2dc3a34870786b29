"""A project groups secrets; each has its own master key (referenced, never carried).

A deleted project waits in the trash for 30 days (restorable, unreadable by
machines); purging it destroys its master key, which the `Purged` event records, so
its secrets' ciphertext in the ledger can never be opened again.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound

MAX_NAME = 100
TRASH_RETENTION_MS = 30 * 24 * 3600 * 1000
MAX_DESCRIPTION = 1000


def validate_project_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("Project name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Project name must be at most {MAX_NAME} characters")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("Project name must not contain control characters")
    return name


def validate_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"Description must be at most {MAX_DESCRIPTION} characters")
    return description


class Project(Aggregate):
    TOPIC = "keyledger.project.Project"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.project.Event"

    # Its access policies' ids (class default: projects from before policies).
    policies: frozenset[str] = frozenset()

    @staticmethod
    def create_id(project_id: str) -> UUID:
        return ids.aggregate_id(project_id)

    @event("Created", topic="keyledger.project.Created")
    def __init__(
        self,
        project_id: str,
        name: str,
        description: str,
        key_ref: str,
        audit: AuditStamp,
    ) -> None:
        self.project_id = project_id
        self.name = name
        self.description = description
        self.key_ref = key_ref
        self.machines: set[str] = set()
        self.frozen = False
        self.deleted_at_ms: int | None = None
        self.purged = False

    @property
    def in_trash(self) -> bool:
        return self.deleted_at_ms is not None

    def require_present(self) -> None:
        """A purged project is gone for good: every use of it is a 404."""
        if self.purged:
            raise NotFound(f"Project {self.project_id} was purged: its key is destroyed")

    def require_live(self) -> None:
        """Not purged and not in the trash (a trashed project's key must not seal)."""
        self.require_present()
        if self.in_trash:
            raise Conflict(f"Project {self.project_id} is in the trash; restore it first")

    def update(self, name: str | None, description: str | None, audit: AuditStamp) -> None:
        self.require_live()
        new_name = validate_project_name(name) if name is not None else self.name
        new_description = (
            validate_description(description) if description is not None else self.description
        )
        self._updated(new_name, new_description, audit)

    @event("Updated", topic="keyledger.project.Updated")
    def _updated(self, name: str, description: str, audit: AuditStamp) -> None:
        self.name = name
        self.description = description

    # -- machine membership ----------------------------------------------------

    def add_machine(self, machine_id: str, audit: AuditStamp) -> None:
        self.require_live()
        if machine_id in self.machines:
            raise Conflict(f"Machine {machine_id} is already in project {self.project_id}")
        self._machine_added(machine_id, audit)

    @event("MachineAdded", topic="keyledger.project.MachineAdded")
    def _machine_added(self, machine_id: str, audit: AuditStamp) -> None:
        self.machines = self.machines | {machine_id}

    def remove_machine(self, machine_id: str, audit: AuditStamp) -> None:
        if machine_id not in self.machines:
            raise Conflict(f"Machine {machine_id} is not in project {self.project_id}")
        self._machine_removed(machine_id, audit)

    @event("MachineRemoved", topic="keyledger.project.MachineRemoved")
    def _machine_removed(self, machine_id: str, audit: AuditStamp) -> None:
        self.machines = self.machines - {machine_id}

    # -- access policies (bookkeeping: the policy's own events are the audit) --------

    def add_policy(self, policy_id: str, audit: AuditStamp) -> None:
        self.require_live()
        self._policy_added(policy_id, audit)

    @event("PolicyAdded", topic="keyledger.project.PolicyAdded")
    def _policy_added(self, policy_id: str, audit: AuditStamp) -> None:
        self.policies = self.policies | {policy_id}

    def remove_policy(self, policy_id: str, audit: AuditStamp) -> None:
        self._policy_removed(policy_id, audit)

    @event("PolicyRemoved", topic="keyledger.project.PolicyRemoved")
    def _policy_removed(self, policy_id: str, audit: AuditStamp) -> None:
        self.policies = self.policies - {policy_id}

    # -- freeze: every machine request touching a frozen project is refused (423) --

    def freeze(self, audit: AuditStamp) -> None:
        self.require_live()
        if self.frozen:
            raise Conflict(f"Project {self.project_id} is already frozen")
        self._frozen(audit)

    @event("Frozen", topic="keyledger.project.Frozen")
    def _frozen(self, audit: AuditStamp) -> None:
        self.frozen = True

    def unfreeze(self, audit: AuditStamp) -> None:
        self.require_live()
        if not self.frozen:
            raise Conflict(f"Project {self.project_id} is not frozen")
        self._unfrozen(audit)

    @event("Unfrozen", topic="keyledger.project.Unfrozen")
    def _unfrozen(self, audit: AuditStamp) -> None:
        self.frozen = False

    # -- trash and crypto-shredding ----------------------------------------------

    def delete(self, at_ms: int, audit: AuditStamp) -> None:
        self.require_present()
        if self.in_trash:
            raise Conflict(f"Project {self.project_id} is already in the trash")
        self._deleted(at_ms, audit)

    @event("Deleted", topic="keyledger.project.Deleted")
    def _deleted(self, at_ms: int, audit: AuditStamp) -> None:
        self.deleted_at_ms = at_ms

    def restore(self, now_ms: int, audit: AuditStamp) -> None:
        if self.purged:
            raise NotFound(
                f"Project {self.project_id} was purged: its key is destroyed, "
                "so it cannot be restored"
            )
        if self.deleted_at_ms is None:
            raise Conflict(f"Project {self.project_id} is not in the trash")
        if self.trash_expired(now_ms):
            raise NotFound(f"Project {self.project_id} has left the trash")
        self._restored(audit)

    @event("Restored", topic="keyledger.project.Restored")
    def _restored(self, audit: AuditStamp) -> None:
        self.deleted_at_ms = None

    def purge(self, audit: AuditStamp) -> None:
        """Destroy the project key (the event says which); delete first, then purge."""
        self.require_present()
        if self.deleted_at_ms is None:
            raise Conflict(f"Project {self.project_id} must be deleted before it is purged")
        self._purged(self.key_ref, audit)

    @event("Purged", topic="keyledger.project.Purged")
    def _purged(self, shredded_key_ref: str, audit: AuditStamp) -> None:
        self.purged = True
        self.machines = set()

    def trash_expired(self, now_ms: int) -> bool:
        return (
            not self.purged
            and self.deleted_at_ms is not None
            and now_ms - self.deleted_at_ms > TRASH_RETENTION_MS
        )
