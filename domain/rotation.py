"""A secret's rotation schedule and, for managed secrets, the two-phase rotation saga.

One `RotationSchedule` aggregate per secret (its id derives from the secret id) so
the `Secret` stays about versions. For a managed secret every saga step is an event:
due → PendingIssued → (agent) Confirmed → the Secret's RotationPromoted | Rejected,
and Held while the agent is away. Live values only change on the Secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput
from domain.values import Charset, SealedValue, SecretVersion

MIN_INTERVAL_S = 300
MAX_INTERVAL_S = 30 * 24 * 3600
FAILURES_BEFORE_FAILED = 3
UNHEALTHY_AFTER_MS = 90_000

NO_AGENT, HEALTHY, UNHEALTHY, ERROR = "no agent", "healthy", "unhealthy", "error"
NONE, PENDING, FAILED = "none", "pending", "failed"


@dataclass(frozen=True)
class RotationPolicy:
    """How and when values are generated. `fields`: the rotating fields (None = all)."""

    interval_s: int
    length: int = 32
    charset: Charset = Charset.SYMBOLS
    fields: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not MIN_INTERVAL_S <= self.interval_s <= MAX_INTERVAL_S:
            raise InvalidInput(
                f"interval must be between {MIN_INTERVAL_S} s and {MAX_INTERVAL_S} s (30 days)"
            )
        if not 1 <= self.length <= 1024:
            raise InvalidInput("length must be between 1 and 1024")


@dataclass(frozen=True)
class ManagedSpec:
    """What the agent needs besides the value: provider, role, sealed connection."""

    provider: str
    username: str
    connection: SealedValue  # Connection JSON, sealed with the project key


@dataclass(frozen=True)
class PendingRotation:
    rotation_id: str
    version: SecretVersion  # the sealed new value, numbered as the next version
    issued_ms: int
    reason: str


def schedule_id(secret_id: str) -> UUID:
    return uuid5(ids.aggregate_id(secret_id), "rotation-schedule")


class RotationSchedule(Aggregate):
    TOPIC = "keyledger.rotation.RotationSchedule"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.rotation.Event"

    @staticmethod
    def create_id(secret_id: str) -> UUID:
        return schedule_id(secret_id)

    @event("Created", topic="keyledger.rotation.Created")
    def __init__(
        self,
        secret_id: str,
        project_id: str,
        policy: RotationPolicy,
        managed: ManagedSpec | None,
        next_due_ms: int,
        audit: AuditStamp,
    ) -> None:
        self.secret_id = secret_id
        self.project_id = project_id
        self.policy = policy
        self.managed = managed
        self.next_due_ms = next_due_ms
        self.enabled = True
        self.cancelled = False
        self.pending: PendingRotation | None = None
        self.held = False
        self.failures = 0
        self.failed = False
        self.last_error = ""
        self.agent_machine_id: str | None = None
        self.agent_status = NO_AGENT

    # -- queries ---------------------------------------------------------------

    @property
    def rotation_status(self) -> str:
        if self.failed:
            return FAILED
        return PENDING if self.pending is not None else NONE

    def is_due(self, now_ms: int) -> bool:
        return (
            self.enabled
            and not self.cancelled
            and not self.failed
            and self.pending is None
            and self.next_due_ms <= now_ms
        )

    def _require_active(self) -> None:
        if self.cancelled:
            raise Conflict(f"The rotation schedule of {self.secret_id} was cancelled")

    # -- schedule --------------------------------------------------------------

    def update_policy(self, policy: RotationPolicy, now_ms: int, audit: AuditStamp) -> None:
        """Change the policy; on a schedule cancelled with its (restored) secret: re-attach."""
        if self.cancelled and self.managed is not None:
            raise Conflict(f"The managed schedule of {self.secret_id} was cancelled")
        self._policy_updated(policy, now_ms + policy.interval_s * 1000, audit)

    @event("PolicyUpdated", topic="keyledger.rotation.PolicyUpdated")
    def _policy_updated(self, policy: RotationPolicy, next_due_ms: int, audit: AuditStamp) -> None:
        self.policy = policy
        self.next_due_ms = next_due_ms
        self.enabled = True  # setting a policy (re)starts the schedule
        self.cancelled = False

    def pause(self, audit: AuditStamp) -> None:
        self._require_active()
        if not self.enabled:
            raise Conflict("Rotation is already paused")
        self._paused(audit)

    @event("Paused", topic="keyledger.rotation.Paused")
    def _paused(self, audit: AuditStamp) -> None:
        self.enabled = False

    def resume(self, now_ms: int, audit: AuditStamp) -> None:
        self._require_active()
        if self.enabled:
            raise Conflict("Rotation is not paused")
        self._resumed(max(self.next_due_ms, now_ms), audit)

    @event("Resumed", topic="keyledger.rotation.Resumed")
    def _resumed(self, next_due_ms: int, audit: AuditStamp) -> None:
        self.enabled = True
        self.next_due_ms = next_due_ms

    def cancel(self, audit: AuditStamp) -> None:
        if not self.cancelled:
            self._cancelled(audit)

    @event("Cancelled", topic="keyledger.rotation.Cancelled")
    def _cancelled(self, audit: AuditStamp) -> None:
        self.cancelled = True  # `enabled` is kept: a restore brings back a paused schedule paused
        self.pending = None

    def reinstate(self, now_ms: int, audit: AuditStamp) -> None:
        """The secret came back from the trash: its schedule (and sync config) with it."""
        if self.cancelled:
            self._reinstated(max(self.next_due_ms, now_ms), audit)

    @event("Reinstated", topic="keyledger.rotation.Reinstated")
    def _reinstated(self, next_due_ms: int, audit: AuditStamp) -> None:
        self.cancelled = False
        self.next_due_ms = next_due_ms

    @event("Advanced", topic="keyledger.rotation.Advanced")
    def advance(self, next_due_ms: int) -> None:
        """A standard/structured rotation happened; the Secret event is the audit entry."""
        self.next_due_ms = next_due_ms

    # -- the saga (managed secrets) --------------------------------------------

    def issue_pending(self, pending: PendingRotation, audit: AuditStamp) -> None:
        self._require_active()
        if self.managed is None:
            raise InvalidInput("Only a managed secret has pending rotations")
        if self.failed:
            raise Conflict(
                f"Rotation failed ({self.last_error}); run `keyledger secret retry-rotation` first"
            )
        if self.pending is not None:
            raise Conflict(f"Rotation {self.pending.rotation_id} is already pending")
        self._pending_issued(pending, pending.issued_ms + self.policy.interval_s * 1000, audit)

    @event("PendingIssued", topic="keyledger.rotation.PendingIssued")
    def _pending_issued(
        self, pending: PendingRotation, next_due_ms: int, audit: AuditStamp
    ) -> None:
        self.pending = pending
        self.held = False
        self.next_due_ms = next_due_ms

    def require_pending(self, rotation_id: str) -> PendingRotation:
        if self.pending is None or self.pending.rotation_id != rotation_id:
            raise Conflict(f"Rotation {rotation_id[:40]!r} is not pending")
        return self.pending

    @event("Held", topic="keyledger.rotation.Held")
    def hold(self, audit: AuditStamp) -> None:
        self.held = True

    def confirm(self, rotation_id: str, audit: AuditStamp) -> PendingRotation:
        pending = self.require_pending(rotation_id)
        self._confirmed(rotation_id, audit)
        return pending

    @event("Confirmed", topic="keyledger.rotation.Confirmed")
    def _confirmed(self, rotation_id: str, audit: AuditStamp) -> None:
        self.pending = None
        self.held = False
        self.failures = 0
        self.last_error = ""

    def reject(self, rotation_id: str, error: str, audit: AuditStamp) -> None:
        self.require_pending(rotation_id)
        self._rejected(rotation_id, error[:1000], audit)
        if self.failures >= FAILURES_BEFORE_FAILED:
            self._failed(self.last_error, audit.with_detail(f"rotation failed: {self.last_error}"))

    @event("Rejected", topic="keyledger.rotation.Rejected")
    def _rejected(self, rotation_id: str, error: str, audit: AuditStamp) -> None:
        self.pending = None
        self.held = False
        self.failures += 1
        self.last_error = error

    @event("Failed", topic="keyledger.rotation.Failed")
    def _failed(self, error: str, audit: AuditStamp) -> None:
        self.failed = True

    def retry(self, audit: AuditStamp) -> None:
        self._require_active()
        if not self.failed and not self.failures:
            raise Conflict("Rotation has not failed")
        self._retried(audit)

    @event("RetryRequested", topic="keyledger.rotation.RetryRequested")
    def _retried(self, audit: AuditStamp) -> None:
        self.failed = False
        self.failures = 0
        self.last_error = ""

    # -- the agent: named by the operator, never self-chosen --------------------

    def set_agent(self, machine_id: str, now_ms: int, audit: AuditStamp) -> None:
        """Name the machine that may fetch the connection and confirm rotations.

        Replacing another agent withdraws a pending rotation it may have seen: that
        value must never go live, so a fresh one is due at once instead."""
        if self.managed is None:
            raise InvalidInput(f"{self.secret_id} is not a managed secret")
        self._require_active()
        if self.agent_machine_id == machine_id:
            raise Conflict(f"Machine {machine_id} is already the agent of {self.secret_id}")
        if self.agent_machine_id is not None:
            self._withdraw(now_ms, audit, "the agent changed")
        self._agent_bound(machine_id, audit)

    def unset_agent(self, now_ms: int, audit: AuditStamp) -> None:
        if self.agent_machine_id is None:
            raise Conflict(f"{self.secret_id} has no agent")
        self._withdraw(now_ms, audit, "the agent was unbound")
        self._agent_unbound(audit)

    def release_agent(self, machine_id: str, now_ms: int, audit: AuditStamp) -> bool:
        """Unbind `machine_id` if it is the agent (a revoke or removal cascades here)."""
        if self.agent_machine_id != machine_id:
            return False
        self.unset_agent(now_ms, audit)
        return True

    def _withdraw(self, now_ms: int, audit: AuditStamp, why: str) -> None:
        if self.pending is not None:
            rotation_id = self.pending.rotation_id
            self._withdrawn(
                rotation_id,
                min(self.next_due_ms, now_ms),
                audit.with_detail(f"rotation {rotation_id} withdrawn: {why}"),
            )

    @event("Withdrawn", topic="keyledger.rotation.Withdrawn")
    def _withdrawn(self, rotation_id: str, next_due_ms: int, audit: AuditStamp) -> None:
        self.pending = None
        self.held = False
        self.next_due_ms = next_due_ms

    @event("AgentBound", topic="keyledger.rotation.AgentBound")
    def _agent_bound(self, machine_id: str, audit: AuditStamp) -> None:
        self.agent_machine_id = machine_id
        self.agent_status = NO_AGENT  # until the new agent's first heartbeat
        self.last_agent_error = ""

    @event("AgentUnbound", topic="keyledger.rotation.AgentUnbound")
    def _agent_unbound(self, audit: AuditStamp) -> None:
        self.agent_machine_id = None
        self.agent_status = NO_AGENT
        self.last_agent_error = ""

    def change_agent_status(self, status: str, error: str, audit: AuditStamp) -> None:
        if status != self.agent_status or (status == ERROR and error != self.last_agent_error):
            self._agent_status_changed(status, error[:1000], audit)

    @event("AgentStatusChanged", topic="keyledger.rotation.AgentStatusChanged")
    def _agent_status_changed(self, status: str, error: str, audit: AuditStamp) -> None:
        self.agent_status = status
        self.last_agent_error = error

    last_agent_error = ""
