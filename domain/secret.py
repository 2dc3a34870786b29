"""A secret: versions of sealed ciphertext, a name unique in its project, a trash life.

Validation happens in the public command methods; the `@event` methods only apply
state, because they run again on every replay.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound
from domain.values import CanaryOptions, SecretType, SecretVersion

MAX_NAME = 255
MAX_VALUE_BYTES = 12 * 1024
MAX_NOTE = 2000
MAX_FIELDS = 100
MAX_FIELD_NAME = 64
TRASH_RETENTION_MS = 30 * 24 * 3600 * 1000


def validate_secret_name(name: str) -> str:
    if not name or not name.strip():
        raise InvalidInput("Secret name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Secret name must be at most {MAX_NAME} characters")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("Secret name must not contain control characters")
    return name


def validate_value_size(plaintext: str) -> None:
    if len(plaintext.encode()) > MAX_VALUE_BYTES:
        raise InvalidInput(f"Secret value must be at most {MAX_VALUE_BYTES} bytes")


def validate_field_names(names: list[str]) -> tuple[str, ...]:
    if not names:
        raise InvalidInput("A structured secret needs at least one field")
    if len(names) > MAX_FIELDS:
        raise InvalidInput(f"A structured secret has at most {MAX_FIELDS} fields")
    if len(set(names)) != len(names):
        raise InvalidInput("Field names must be unique within a secret")
    for name in names:
        if not name or len(name) > MAX_FIELD_NAME or any(ord(c) < 33 for c in name):
            raise InvalidInput(
                f"Field name {name[:MAX_FIELD_NAME]!r} must be 1–{MAX_FIELD_NAME} "
                "characters without spaces or control characters"
            )
    return tuple(names)


def validate_note(note: str) -> str:
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"Note must be at most {MAX_NOTE} characters")
    return note


class Secret(Aggregate):
    TOPIC = "keyledger.secret.Secret"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.secret.Event"

    # The bound access policy (class default: secrets from before policies have none).
    policy_id: str | None = None

    @staticmethod
    def create_id(secret_id: str) -> UUID:
        return ids.aggregate_id(secret_id)

    @event("Created", topic="keyledger.secret.Created")
    def __init__(
        self,
        secret_id: str,
        project_id: str,
        name: str,
        secret_type: SecretType,
        field_names: tuple[str, ...] | None,
        note: str,
        first_version: SecretVersion,
        audit: AuditStamp,
        managed: bool = False,
        canary: CanaryOptions | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.canary = canary  # set only for SecretType.CANARY
        self.managed = managed  # the rotation schedule owns every value
        self.project_id = project_id
        self.name = name
        self.secret_type = secret_type
        self.field_names = tuple(field_names) if field_names is not None else None
        self.note = note
        self.versions: list[SecretVersion] = [first_version]
        self.deleted_at_ms: int | None = None
        self.purged = False
        self.grants: set[str] = set()

    # -- queries ---------------------------------------------------------------

    @property
    def current(self) -> SecretVersion:
        return self.versions[-1]

    @property
    def in_trash(self) -> bool:
        return self.deleted_at_ms is not None

    @property
    def armed_canary(self) -> bool:
        """A read of this secret is a tripwire: freeze, record, still answer."""
        return self.canary is not None and self.canary.armed

    def find_version(self, number: int) -> SecretVersion:
        for version in self.versions:
            if version.number == number:
                return version
        raise NotFound(f"Version {number} of {self.secret_id} not found")

    def next_version_number(self) -> int:
        return self.current.number + 1

    def _require_live(self) -> None:
        if self.purged:
            raise NotFound(f"Secret {self.secret_id} not found")
        if self.in_trash:
            raise Conflict(f"Secret {self.secret_id} is in the trash; restore it first")

    # -- commands --------------------------------------------------------------

    def _require_unmanaged(self, what: str) -> None:
        if self.managed:
            raise Conflict(
                f"{self.secret_id} is a managed secret: its rotation schedule owns every value, "
                f"so it cannot be {what}"
            )

    def replace(
        self, version: SecretVersion, field_names: tuple[str, ...] | None, audit: AuditStamp
    ) -> None:
        self._require_live()
        self._require_unmanaged("replaced by hand")
        if (field_names is None) != (self.secret_type is SecretType.STANDARD):
            raise InvalidInput(f"A {self.secret_type.value} secret keeps its type on replace")
        self._replaced(version, field_names, audit)

    @event("Replaced", topic="keyledger.secret.Replaced")
    def _replaced(
        self, version: SecretVersion, field_names: tuple[str, ...] | None, audit: AuditStamp
    ) -> None:
        self.versions.append(version)
        self.field_names = tuple(field_names) if field_names is not None else None

    def roll_back(self, to_number: int, created_ms: int, audit: AuditStamp) -> SecretVersion:
        """Write a NEW version that points at version `to_number`'s ciphertext."""
        self._require_live()
        self._require_unmanaged("rolled back")
        target = self.find_version(to_number)
        if target.number == self.current.number:
            raise Conflict(f"Version {to_number} is already the current version")
        new = SecretVersion(
            number=self.next_version_number(),
            sealed=target.sealed,
            created_ms=created_ms,
            rolled_back_from=target.number,
            field_names=target.field_names,
        )
        self._rolled_back(new, audit.with_detail(f"rolled back to version {to_number}"))
        return new

    @event("RolledBack", topic="keyledger.secret.RolledBack")
    def _rolled_back(self, version: SecretVersion, audit: AuditStamp) -> None:
        self.versions.append(version)
        if self.secret_type is SecretType.STRUCTURED and version.field_names is not None:
            self.field_names = tuple(version.field_names)

    def rotate(self, version: SecretVersion, audit: AuditStamp) -> None:
        """A server-generated value (schedule or rotate-now) becomes the live version."""
        self._require_live()
        self._require_unmanaged("rotated without its agent")
        self._rotated(version, audit)

    @event("Rotated", topic="keyledger.secret.Rotated")
    def _rotated(self, version: SecretVersion, audit: AuditStamp) -> None:
        self.versions.append(version)

    def promote(self, version: SecretVersion, rotation_id: str, audit: AuditStamp) -> None:
        """The agent proved the database accepts the pending value: it goes live."""
        self._require_live()
        if version.number != self.next_version_number():
            version = SecretVersion(
                number=self.next_version_number(),
                sealed=version.sealed,
                created_ms=version.created_ms,
                field_names=version.field_names,
            )
        self._rotation_promoted(version, rotation_id, audit)

    @event("RotationPromoted", topic="keyledger.secret.RotationPromoted")
    def _rotation_promoted(
        self, version: SecretVersion, rotation_id: str, audit: AuditStamp
    ) -> None:
        self.versions.append(version)

    def rename(self, name: str, audit: AuditStamp) -> None:
        self._require_live()
        self._renamed(validate_secret_name(name), audit)

    @event("Renamed", topic="keyledger.secret.Renamed")
    def _renamed(self, name: str, audit: AuditStamp) -> None:
        self.name = name

    def update_note(self, note: str, audit: AuditStamp) -> None:
        self._require_live()
        self._note_updated(validate_note(note), audit)

    @event("NoteUpdated", topic="keyledger.secret.NoteUpdated")
    def _note_updated(self, note: str, audit: AuditStamp) -> None:
        self.note = note

    def delete(self, at_ms: int, audit: AuditStamp) -> None:
        self._require_live()
        self._deleted(at_ms, audit)

    @event("Deleted", topic="keyledger.secret.Deleted")
    def _deleted(self, at_ms: int, audit: AuditStamp) -> None:
        self.deleted_at_ms = at_ms

    def restore(self, now_ms: int, audit: AuditStamp) -> None:
        if self.purged:
            raise NotFound(f"Secret {self.secret_id} not found")
        if self.deleted_at_ms is None:
            raise Conflict(f"Secret {self.secret_id} is not in the trash")
        if now_ms - self.deleted_at_ms > TRASH_RETENTION_MS:
            raise NotFound(f"Secret {self.secret_id} has left the trash")
        self._restored(audit)

    @event("Restored", topic="keyledger.secret.Restored")
    def _restored(self, audit: AuditStamp) -> None:
        self.deleted_at_ms = None

    def purge(self, audit: AuditStamp) -> None:
        if self.purged:
            raise NotFound(f"Secret {self.secret_id} not found")
        if self.deleted_at_ms is None:
            raise Conflict(f"Secret {self.secret_id} must be deleted before it is purged")
        self._purged(audit)

    @event("Purged", topic="keyledger.secret.Purged")
    def _purged(self, audit: AuditStamp) -> None:
        self.purged = True
        self.versions = self.versions[-1:]  # history is gone; its keys are shredded

    # -- canary arming (idempotent: arming an armed canary changes nothing) -------

    def set_armed(self, armed: bool, audit: AuditStamp) -> bool:
        """Arm or disarm a canary; False (and no event) when it already is."""
        self._require_live()
        if self.canary is None:
            raise InvalidInput(f"{self.secret_id} is not a canary secret")
        if self.canary.armed == armed:
            return False
        if armed:
            self._canary_armed(audit)
        else:
            self._canary_disarmed(audit)
        return True

    @event("CanaryArmed", topic="keyledger.secret.CanaryArmed")
    def _canary_armed(self, audit: AuditStamp) -> None:
        assert self.canary is not None
        self.canary = replace(self.canary, armed=True)

    @event("CanaryDisarmed", topic="keyledger.secret.CanaryDisarmed")
    def _canary_disarmed(self, audit: AuditStamp) -> None:
        assert self.canary is not None
        self.canary = replace(self.canary, armed=False)

    # -- grants ----------------------------------------------------------------

    def grant(self, machine_id: str, audit: AuditStamp) -> None:
        self._require_live()
        if machine_id in self.grants:
            raise Conflict(f"Machine {machine_id} already holds a grant on {self.secret_id}")
        self._granted(machine_id, audit)

    @event("Granted", topic="keyledger.secret.Granted")
    def _granted(self, machine_id: str, audit: AuditStamp) -> None:
        self.grants = self.grants | {machine_id}

    def revoke_grant(self, machine_id: str, audit: AuditStamp) -> None:
        if machine_id not in self.grants:
            raise Conflict(f"Machine {machine_id} holds no grant on {self.secret_id}")
        self._grant_revoked(machine_id, audit)

    @event("GrantRevoked", topic="keyledger.secret.GrantRevoked")
    def _grant_revoked(self, machine_id: str, audit: AuditStamp) -> None:
        self.grants = self.grants - {machine_id}

    # -- access policy binding (at most one; binding replaces) --------------------

    def bind_policy(self, policy_id: str, audit: AuditStamp) -> None:
        self._require_live()
        self._policy_bound(policy_id, self.policy_id, audit)

    @event("PolicyBound", topic="keyledger.secret.PolicyBound")
    def _policy_bound(self, policy_id: str, replaced: str | None, audit: AuditStamp) -> None:
        self.policy_id = policy_id

    def unbind_policy(self, audit: AuditStamp) -> str:
        if self.policy_id is None:
            raise Conflict(f"Secret {self.secret_id} has no policy bound")
        unbound = self.policy_id
        self._policy_unbound(unbound, audit)
        return unbound

    @event("PolicyUnbound", topic="keyledger.secret.PolicyUnbound")
    def _policy_unbound(self, policy_id: str, audit: AuditStamp) -> None:
        self.policy_id = None

    def trash_expired(self, now_ms: int) -> bool:
        return (
            not self.purged
            and self.deleted_at_ms is not None
            and now_ms - self.deleted_at_ms > TRASH_RETENTION_MS
        )
