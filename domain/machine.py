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
from domain.machineguard import MAX_LIFETIME_MS, in_window, ip_in

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

    # Class defaults: machines registered before lifetimes existed have none.
    expires_ms: int | None = None
    expired: bool = False  # disabled by the expiry sweep (an extension re-enables it)
    enrollment_id: str | None = None
    temporary: bool = False
    guard_cidrs: tuple[str, ...] = ()
    guard_hours: str | None = None
    guard_tz: str = "UTC"
    extensions: tuple[dict[str, object], ...] = ()

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

    # -- lifetimes and guardrails (enrollment and temporary machines) ----------

    @property
    def kind(self) -> str:
        """standard (bootstrap), ephemeral (enrollment token) or temporary."""
        if self.temporary:
            return "temporary"
        return "ephemeral" if self.enrollment_id else "standard"

    def refusal(self, ip: str, now_ms: int) -> tuple[str, bool] | None:
        """Why a signed request from `ip` is refused now: (reason, is 401); None: fine."""
        if self.expires_ms is not None and now_ms >= self.expires_ms:
            return "machine has expired", True
        if self.guard_cidrs and not ip_in(ip, self.guard_cidrs):
            return f"IP {ip} outside the machine's source CIDRs", False
        if self.guard_hours and not in_window(self.guard_hours, self.guard_tz, now_ms):
            return f"outside the machine's hours {self.guard_hours} {self.guard_tz}", False
        return None

    def enroll(self, enrollment_id: str, expires_ms: int, audit: AuditStamp) -> None:
        """Auto-approved by an enrollment token, with a fixed lifetime."""
        self._require(MachineStatus.PENDING)
        self._enrolled(enrollment_id, expires_ms, audit)

    @event("Enrolled", topic="keyledger.machine.Enrolled")
    def _enrolled(self, enrollment_id: str, expires_ms: int, audit: AuditStamp) -> None:
        self.status = MachineStatus.APPROVED
        self.enrollment_id = enrollment_id
        self.expires_ms = expires_ms

    def make_temporary(
        self, expires_ms: int, cidrs: list[str], hours: str | None, tz: str, audit: AuditStamp
    ) -> None:
        self._require(MachineStatus.PENDING)
        self._made_temporary(expires_ms, cidrs, hours, tz, audit)

    @event("TempCreated", topic="keyledger.machine.TempCreated")
    def _made_temporary(
        self, expires_ms: int, cidrs: list[str], hours: str | None, tz: str, audit: AuditStamp
    ) -> None:
        self.temporary = True
        self.expires_ms = expires_ms
        self.guard_cidrs = tuple(cidrs)
        self.guard_hours = hours
        self.guard_tz = tz

    def extend(self, until_ms: int, reason: str, now_ms: int, audit: AuditStamp) -> None:
        self._require(MachineStatus.PENDING, MachineStatus.APPROVED)
        if self.expires_ms is None:
            raise Conflict(f"Machine {self.machine_id} has no expiry to extend")
        if not now_ms < until_ms <= now_ms + MAX_LIFETIME_MS:
            raise InvalidInput("--until must be in the future and at most 12 months from now")
        reason = reason.strip()
        if not reason or len(reason) > 500:
            raise InvalidInput("A reason of 1–500 characters is required")
        self._extended(until_ms, self.expires_ms, reason, now_ms, self.expired, audit)

    @event("Extended", topic="keyledger.machine.Extended")
    def _extended(
        self,
        until_ms: int,
        previous_ms: int,
        reason: str,
        at_ms: int,
        reenable: bool,
        audit: AuditStamp,
    ) -> None:
        entry = {"untilMs": until_ms, "previousMs": previous_ms, "reason": reason}
        self.extensions = (*self.extensions, {**entry, "atMs": at_ms, "reverted": False})
        self.expires_ms = until_ms
        if reenable:  # only what the sweep disabled comes back
            self.expired, self.enabled = False, True

    def revert_extension(self, audit: AuditStamp) -> None:
        self._require(MachineStatus.PENDING, MachineStatus.APPROVED)
        if not any(not e["reverted"] for e in self.extensions):
            raise Conflict(f"Machine {self.machine_id} has no extension to revert")
        index = max(i for i, e in enumerate(self.extensions) if not e["reverted"])
        self._extension_reverted(index, int(str(self.extensions[index]["previousMs"])), audit)

    @event("ExtensionReverted", topic="keyledger.machine.ExtensionReverted")
    def _extension_reverted(self, index: int, expires_ms: int, audit: AuditStamp) -> None:
        history = list(self.extensions)
        history[index] = {**history[index], "reverted": True}
        self.extensions = tuple(history)
        self.expires_ms = expires_ms

    def is_due(self, now_ms: int) -> bool:
        """Past its expiry and still able to authenticate: the sweep's work."""
        return self.expires_ms is not None and now_ms >= self.expires_ms and self.may_authenticate

    def expire(self, now_ms: int, audit: AuditStamp) -> None:
        if not self.is_due(now_ms):
            raise Conflict(f"Machine {self.machine_id} is not due to expire")
        self._expired(audit)

    @event("Expired", topic="keyledger.machine.Expired")
    def _expired(self, audit: AuditStamp) -> None:
        self.enabled = False
        self.expired = True
