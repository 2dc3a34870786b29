"""The audit fields every ledger event carries, and the one table of action names.

The event store *is* the audit log: an audit entry is an event seen through this
module. Actions and severities are derived from the event's topic here, never typed
by hand at a call site, so a new event type without an entry is caught by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ActorKind(Enum):
    USER = "user"
    MACHINE = "machine"
    AI_AGENT = "ai_agent"
    SYSTEM = "system"
    EXTERNAL = "external"


class Severity(str, Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True)
class AuditStamp:
    """Who did it, from where, and a human detail line. Passed into every command."""

    actor_kind: ActorKind
    source_ip: str
    user_id: str | None = None
    machine_id: str | None = None
    ai_agent_id: str | None = None
    detail: str = ""

    @classmethod
    def system(cls, detail: str = "") -> AuditStamp:
        return cls(actor_kind=ActorKind.SYSTEM, source_ip="system", detail=detail)

    def with_detail(self, detail: str) -> AuditStamp:
        return AuditStamp(
            actor_kind=self.actor_kind,
            source_ip=self.source_ip,
            user_id=self.user_id,
            machine_id=self.machine_id,
            ai_agent_id=self.ai_agent_id,
            detail=detail,
        )


# topic -> (action, severity). `None` marks bookkeeping events (name claims) that
# are chained like every event but are not vault actions of their own.
ACTIONS: dict[str, tuple[str, Severity] | None] = {
    "keyledger.vault.Created": ("vault_create", Severity.HIGH),
    "keyledger.vault.Sealed": ("server_seal", Severity.HIGH),
    "keyledger.vault.Unsealed": ("server_unseal", Severity.HIGH),
    "keyledger.vault.AllowlistEnabled": ("ipallowlist_enable", Severity.HIGH),
    "keyledger.vault.AllowlistDisabled": ("ipallowlist_disable", Severity.HIGH),
    "keyledger.vault.AllowlistEntryAdded": ("ipallowlist_add", Severity.MEDIUM),
    "keyledger.vault.AllowlistEntryRemoved": ("ipallowlist_remove", Severity.MEDIUM),
    "keyledger.project.Created": ("project_create", Severity.INFO),
    "keyledger.project.MachineAdded": ("project_machine_add", Severity.MEDIUM),
    "keyledger.project.MachineRemoved": ("project_machine_remove", Severity.MEDIUM),
    "keyledger.project.Updated": ("project_update", Severity.LOW),
    "keyledger.project.Deleted": ("project_delete", Severity.HIGH),
    "keyledger.project.Restored": ("project_restore", Severity.HIGH),
    "keyledger.project.Purged": ("project_purge", Severity.HIGH),
    "keyledger.secret.Created": ("secret_create", Severity.INFO),
    "keyledger.secret.Replaced": ("secret_update", Severity.MEDIUM),
    "keyledger.secret.RolledBack": ("secret_update", Severity.MEDIUM),
    "keyledger.secret.Renamed": ("secret_rename", Severity.LOW),
    "keyledger.secret.NoteUpdated": ("secret_note_update", Severity.INFO),
    "keyledger.secret.Deleted": ("secret_delete", Severity.HIGH),
    "keyledger.secret.Restored": ("secret_restore", Severity.MEDIUM),
    "keyledger.secret.Purged": ("secret_purge", Severity.HIGH),
    "keyledger.secret.Rotated": ("secret_rotate", Severity.MEDIUM),
    "keyledger.secret.RotationPromoted": ("secret_rotate", Severity.MEDIUM),
    "keyledger.secret.Granted": ("permission_grant", Severity.MEDIUM),
    "keyledger.secret.GrantRevoked": ("permission_revoke", Severity.MEDIUM),
    "keyledger.machine.Registered": ("machine_register", Severity.MEDIUM),
    "keyledger.machine.Approved": ("machine_approve", Severity.MEDIUM),
    "keyledger.machine.Denied": ("machine_deny", Severity.MEDIUM),
    "keyledger.machine.Disabled": ("machine_disable", Severity.MEDIUM),
    "keyledger.machine.Enabled": ("machine_enable", Severity.MEDIUM),
    "keyledger.machine.Renamed": ("machine_rename", Severity.LOW),
    "keyledger.machine.Revoked": ("machine_revoke", Severity.HIGH),
    "keyledger.rotation.Created": ("rotation_schedule_create", Severity.MEDIUM),
    "keyledger.rotation.PolicyUpdated": ("rotation_schedule_update", Severity.LOW),
    "keyledger.rotation.Paused": ("rotation_schedule_pause", Severity.MEDIUM),
    "keyledger.rotation.Resumed": ("rotation_schedule_resume", Severity.LOW),
    "keyledger.rotation.Cancelled": ("rotation_schedule_cancel", Severity.MEDIUM),
    "keyledger.rotation.Reinstated": ("rotation_schedule_reinstate", Severity.MEDIUM),
    "keyledger.rotation.Advanced": None,
    "keyledger.rotation.PendingIssued": ("rotation_pending", Severity.INFO),
    "keyledger.rotation.Held": ("rotation_held", Severity.MEDIUM),
    "keyledger.rotation.Confirmed": ("rotation_confirm", Severity.INFO),
    "keyledger.rotation.Rejected": ("rotation_reject", Severity.HIGH),
    "keyledger.rotation.Failed": ("rotation_failed", Severity.HIGH),
    "keyledger.rotation.RetryRequested": ("rotation_retry", Severity.LOW),
    "keyledger.rotation.Withdrawn": ("rotation_withdraw", Severity.MEDIUM),
    "keyledger.rotation.AgentBound": ("agent_bind", Severity.HIGH),
    "keyledger.rotation.AgentUnbound": ("agent_unbind", Severity.HIGH),
    "keyledger.rotation.AgentStatusChanged": ("agent_status_change", Severity.MEDIUM),
    "keyledger.token.Created": ("bootstrap_token_create", Severity.MEDIUM),
    "keyledger.token.Redeemed": None,
    "keyledger.name.Claimed": None,
    "keyledger.name.Released": None,
    "keyledger.name.Reclaimed": None,
    # Standalone records: the action is carried by the event itself.
    "keyledger.record.Recorded": ("*", Severity.INFO),
}

# Severities for actions recorded as standalone records.
RECORD_SEVERITY: dict[str, Severity] = {
    "auth_failure": Severity.MEDIUM,
    "user_login": Severity.INFO,
    "user_logout": Severity.INFO,
    "session_revoke": Severity.LOW,
    "trash_purge_expired": Severity.MEDIUM,
    "secret_read": Severity.INFO,
    "secret_read_denied": Severity.MEDIUM,
    "agent_sync": Severity.INFO,
    "agent_denied": Severity.HIGH,
}


def action_for(topic: str, recorded_action: str | None = None) -> tuple[str, Severity] | None:
    """The audit action and severity of an event topic (None: not an audit action)."""
    try:
        entry = ACTIONS[topic]
    except KeyError:
        raise LookupError(f"event topic {topic!r} has no audit action") from None
    if entry is None:
        return None
    if entry[0] == "*":
        action = recorded_action or "unknown"
        return action, RECORD_SEVERITY.get(action, Severity.INFO)
    return entry
