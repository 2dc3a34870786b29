"""Machines: workload identities that prove themselves with an Ed25519 key.

The server keeps only the raw 32-byte public key. A machine registers pending; the
owner approves or denies it; an approved machine can be disabled and enabled; a
revoked or replaced machine is gone for good (its history stays in the log).
"""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput

MAX_NAME = 255


class MachineStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REVOKED = "revoked"


def validate_machine_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise InvalidInput(f"Machine name must be 1–{MAX_NAME} printable characters")
    return name


def validate_public_key(raw: bytes) -> bytes:
    if len(raw) != 32:
        raise InvalidInput("publicKey must be a raw 32-byte Ed25519 key in standard base64")
    return raw


class Machine(Aggregate):
    TOPIC = "keyledger.machine.Machine"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.machine.Event"

    @staticmethod
    def create_id(machine_id: str) -> UUID:
        return UUID(machine_id)

    @event("Registered", topic="keyledger.machine.Registered")
    def __init__(
        self,
        machine_id: str,
        name: str,
        public_key: bytes,
        hostname: str,
        replaces: str | None,
        audit: AuditStamp,
    ) -> None:
        self.machine_id = machine_id
        self.name = name
        self.public_key = public_key
        self.hostname = hostname
        self.status = MachineStatus.PENDING
        self.enabled = True
        self.name_history: list[str] = [name]

    @property
    def may_authenticate(self) -> bool:
        """Approved and enabled: the machine-level part of the gate."""
        return self.status is MachineStatus.APPROVED and self.enabled

    def _require(self, *allowed: MachineStatus) -> None:
        if self.status not in allowed:
            raise Conflict(f"Machine {self.machine_id} is {self.status.value}")

    def approve(self, audit: AuditStamp) -> None:
        self._require(MachineStatus.PENDING)
        self._approved(audit)

    @event("Approved", topic="keyledger.machine.Approved")
    def _approved(self, audit: AuditStamp) -> None:
        self.status = MachineStatus.APPROVED

    def deny(self, audit: AuditStamp) -> None:
        self._require(MachineStatus.PENDING)
        self._denied(audit)

    @event("Denied", topic="keyledger.machine.Denied")
    def _denied(self, audit: AuditStamp) -> None:
        self.status = MachineStatus.DENIED

    def disable(self, audit: AuditStamp) -> None:
        self._require(MachineStatus.APPROVED)
        if not self.enabled:
            raise Conflict(f"Machine {self.machine_id} is already disabled")
        self._disabled(audit)

    @event("Disabled", topic="keyledger.machine.Disabled")
    def _disabled(self, audit: AuditStamp) -> None:
        self.enabled = False

    def enable(self, audit: AuditStamp) -> None:
        self._require(MachineStatus.APPROVED)
        if self.enabled:
            raise Conflict(f"Machine {self.machine_id} is already enabled")
        self._enabled(audit)

    @event("Enabled", topic="keyledger.machine.Enabled")
    def _enabled(self, audit: AuditStamp) -> None:
        self.enabled = True

    def rename(self, name: str, audit: AuditStamp) -> None:
        self._require(MachineStatus.PENDING, MachineStatus.APPROVED)
        self._renamed(validate_machine_name(name), audit)

    @event("Renamed", topic="keyledger.machine.Renamed")
    def _renamed(self, name: str, audit: AuditStamp) -> None:
        self.name = name
        self.name_history.append(name)

    def revoke(self, audit: AuditStamp) -> None:
        self._require(MachineStatus.PENDING, MachineStatus.APPROVED, MachineStatus.DENIED)
        self._revoked(audit)

    @event("Revoked", topic="keyledger.machine.Revoked")
    def _revoked(self, audit: AuditStamp) -> None:
        self.status = MachineStatus.REVOKED
        self.enabled = False
