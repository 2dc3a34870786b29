"""The audit fields every ledger event carries, and which action each event topic is.

The event store *is* the audit log: an audit entry is an event seen through this
module. Actions are derived from the event's topic here, never typed by hand at a
call site, so a new event type without an entry is caught by a test; severities come
from the one catalogue (domain.auditcatalogue).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.auditcatalogue import ActorKind as ActorKind
from domain.auditcatalogue import Severity as Severity
from domain.auditcatalogue import severity_of


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

    def with_machine(self, machine_id: str) -> AuditStamp:
        return AuditStamp(
            self.actor_kind, self.source_ip, self.user_id, machine_id, self.ai_agent_id, self.detail
        )

    def with_detail(self, detail: str) -> AuditStamp:
        return AuditStamp(
            actor_kind=self.actor_kind,
            source_ip=self.source_ip,
            user_id=self.user_id,
            machine_id=self.machine_id,
            ai_agent_id=self.ai_agent_id,
            detail=detail,
        )


# topic -> action. `None` marks bookkeeping events (name claims) that are chained
# like every event but are not vault actions of their own. Severities come from the
# catalogue (domain.auditcatalogue), never from here.
TOPIC_ACTIONS: dict[str, str | None] = {
    "keyledger.vault.Created": "vault_create",
    "keyledger.vault.Sealed": "server_seal",
    "keyledger.vault.Unsealed": "server_unseal",
    "keyledger.vault.AllowlistEnabled": "ipallowlist_enable",
    "keyledger.vault.AllowlistDisabled": "ipallowlist_disable",
    "keyledger.vault.AllowlistEntryAdded": "ipallowlist_add",
    "keyledger.vault.AllowlistEntryRemoved": "ipallowlist_remove",
    "keyledger.project.Created": "project_create",
    "keyledger.project.MachineAdded": "project_machine_add",
    "keyledger.project.MachineRemoved": "project_machine_remove",
    "keyledger.project.Updated": "project_update",
    "keyledger.project.Deleted": "project_delete",
    "keyledger.project.Restored": "project_restore",
    "keyledger.project.Purged": "project_purge",
    "keyledger.project.Frozen": "project_freeze",
    "keyledger.project.Unfrozen": "project_unfreeze",
    "keyledger.secret.Created": "secret_create",
    "keyledger.secret.Replaced": "secret_update",
    "keyledger.secret.RolledBack": "secret_update",
    "keyledger.secret.Renamed": "secret_rename",
    "keyledger.secret.NoteUpdated": "secret_note_update",
    "keyledger.secret.Deleted": "secret_delete",
    "keyledger.secret.Restored": "secret_restore",
    "keyledger.secret.Purged": "secret_purge",
    "keyledger.secret.Rotated": "secret_rotate",
    "keyledger.secret.RotationPromoted": "secret_rotate",
    "keyledger.secret.Granted": "permission_grant",
    "keyledger.secret.GrantRevoked": "permission_revoke",
    "keyledger.secret.CanaryArmed": "canary_arm",
    "keyledger.secret.PolicyBound": "policy_bind",
    "keyledger.secret.PolicyUnbound": "policy_unbind",
    "keyledger.policy.Created": "policy_create",
    "keyledger.policy.Updated": "policy_update",
    "keyledger.policy.Deleted": "policy_delete",
    "keyledger.policy.SecretBound": None,
    "keyledger.policy.SecretUnbound": None,
    "keyledger.project.PolicyAdded": None,
    "keyledger.project.PolicyRemoved": None,
    "keyledger.secret.CanaryDisarmed": "canary_disarm",
    "keyledger.machine.Registered": "machine_register",
    "keyledger.machine.Approved": "machine_approve",
    "keyledger.machine.Denied": "machine_deny",
    "keyledger.machine.Disabled": "machine_disable",
    "keyledger.machine.Enabled": "machine_enable",
    "keyledger.machine.Renamed": "machine_rename",
    "keyledger.machine.Revoked": "machine_revoke",
    "keyledger.machine.Enrolled": "machine_enroll",
    "keyledger.machine.TempCreated": "temp_machine_create",
    "keyledger.machine.Extended": "machine_extend",
    "keyledger.machine.ExtensionReverted": "machine_extend_revert",
    "keyledger.machine.Expired": "machine_expire",
    "keyledger.enrollment.Created": "enrollment_token_create",
    "keyledger.enrollment.Used": None,  # the machine's `machine_enroll` names the token
    "keyledger.enrollment.Revoked": "enrollment_token_revoke",
    "keyledger.enrollment.BookOpened": None,
    "keyledger.enrollment.Listed": None,
    "keyledger.temptoken.Created": "temp_token_create",
    "keyledger.temptoken.Redeemed": None,
    "keyledger.rotation.Created": "rotation_schedule_create",
    "keyledger.rotation.PolicyUpdated": "rotation_schedule_update",
    "keyledger.rotation.Paused": "rotation_schedule_pause",
    "keyledger.rotation.Resumed": "rotation_schedule_resume",
    "keyledger.rotation.Cancelled": "rotation_schedule_cancel",
    "keyledger.rotation.Reinstated": "rotation_schedule_reinstate",
    "keyledger.rotation.Advanced": None,
    "keyledger.rotation.PendingIssued": "rotation_pending",
    "keyledger.rotation.Held": "rotation_held",
    "keyledger.rotation.Confirmed": "rotation_confirm",
    "keyledger.rotation.Rejected": "rotation_reject",
    "keyledger.rotation.Failed": "rotation_failed",
    "keyledger.rotation.RetryRequested": "rotation_retry",
    "keyledger.rotation.Withdrawn": "rotation_withdraw",
    "keyledger.rotation.AgentBound": "agent_bind",
    "keyledger.rotation.AgentUnbound": "agent_unbind",
    "keyledger.rotation.AgentStatusChanged": "agent_status_change",
    "keyledger.share.Created": "share_create",
    "keyledger.share.Viewed": "share_view",
    "keyledger.share.Destroyed": "share_destroy",
    "keyledger.share.Expired": "share_expire",
    "keyledger.bundle.Created": "docker_bundle_create",
    "keyledger.bundle.Downloaded": "docker_bundle_download",
    "keyledger.bundle.Expired": "docker_bundle_expire",
    "keyledger.token.Created": "bootstrap_token_create",
    "keyledger.token.Redeemed": None,
    "keyledger.name.Claimed": None,
    "keyledger.name.Released": None,
    "keyledger.name.Reclaimed": None,
    # Standalone records: the action is carried by the event itself.
    "keyledger.record.Recorded": "*",
}

# Actions recorded as standalone records (ledger AuditRecord or the access log).
RECORD_ACTIONS: tuple[str, ...] = (
    "auth_failure",
    "user_login",
    "user_logout",
    "session_revoke",
    "trash_purge_expired",
    "secret_read",
    "secret_read_denied",
    "canary_triggered",
    "agent_sync",
    "agent_denied",
    "webhook_create",
    "webhook_enable",
    "webhook_disable",
    "webhook_auto_disable",
    "webhook_delete",
    "webhook_test",
    "alert_settings_update",
    "alert_smtp_update",
    "alert_test",
    "docker_bundle_download_denied",
)

# Derived from the catalogue: one source of truth for severities.
ACTIONS: dict[str, tuple[str, Severity] | None] = {
    topic: None
    if action is None
    else (action, Severity.INFO if action == "*" else severity_of(action))
    for topic, action in TOPIC_ACTIONS.items()
}
RECORD_SEVERITY: dict[str, Severity] = {action: severity_of(action) for action in RECORD_ACTIONS}


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
