"""The audit action catalogue: every action keyledger records, in one table.

Severity, category and the kinds of actor that can cause each action live here and
nowhere else: `domain.audit` derives the per-topic and per-record severities from
this table, the query validates action names against it, and
`GET /v1/admin/audit/actions` serves it. A new action is added here first (a unit
test fails for any action the code can emit that is missing).
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


# Most severe first: the rank a severity sort uses (critical = 0).
SEVERITY_RANK: dict[str, int] = {s.value: rank for rank, s in enumerate(Severity)}


@dataclass(frozen=True)
class CatalogueEntry:
    action: str
    severity: Severity
    category: str
    actor_kinds: tuple[ActorKind, ...]


HIGH, MED, LOW, INFO = (Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)
_U = (ActorKind.USER,)
_S = (ActorKind.SYSTEM,)
_US = (ActorKind.USER, ActorKind.SYSTEM)
_MA = (ActorKind.MACHINE, ActorKind.AI_AGENT)
_ANY = (ActorKind.USER, ActorKind.MACHINE, ActorKind.AI_AGENT, ActorKind.EXTERNAL)

_ROWS: tuple[tuple[str, Severity, str, tuple[ActorKind, ...]], ...] = (
    # Vault: the server, its key and its network allowlist.
    ("vault_create", HIGH, "Vault", _U),
    ("server_seal", HIGH, "Vault", _U),
    ("server_unseal", HIGH, "Vault", _U),
    ("ipallowlist_enable", HIGH, "Vault", _U),
    ("ipallowlist_disable", HIGH, "Vault", _U),
    ("ipallowlist_add", MED, "Vault", _U),
    ("ipallowlist_remove", MED, "Vault", _U),
    # Projects
    ("project_create", INFO, "Projects", _U),
    ("project_update", LOW, "Projects", _U),
    ("project_machine_add", MED, "Projects", (ActorKind.USER, ActorKind.EXTERNAL)),
    ("project_machine_remove", MED, "Projects", _U),
    ("project_delete", HIGH, "Projects", _U),
    ("project_restore", HIGH, "Projects", _U),
    ("project_purge", HIGH, "Projects", _US),  # the sweep purges after 30 days
    # A canary's trip freezes as SYSTEM (the stamp names the reading machine).
    ("project_freeze", HIGH, "Projects", _US),
    ("project_unfreeze", HIGH, "Projects", _U),
    # Secrets
    ("secret_create", INFO, "Secrets", _U),
    ("secret_update", MED, "Secrets", _U),
    ("secret_rename", LOW, "Secrets", _U),
    ("secret_note_update", INFO, "Secrets", _U),
    ("secret_delete", HIGH, "Secrets", _U),
    ("secret_restore", MED, "Secrets", _U),
    ("secret_purge", HIGH, "Secrets", _US),
    ("secret_rotate", MED, "Secrets", (*_US, ActorKind.MACHINE)),
    ("secret_read", INFO, "Secrets", _MA),
    ("secret_read_denied", MED, "Secrets", _MA),
    ("trash_purge_expired", MED, "Secrets", _S),
    ("permission_grant", MED, "Secrets", (ActorKind.USER, ActorKind.EXTERNAL)),
    ("permission_revoke", MED, "Secrets", _U),
    # Canaries: tripwire secrets. A trip is recorded per read, with machine and IP.
    ("canary_triggered", Severity.CRITICAL, "Secrets", _MA),
    ("canary_arm", MED, "Secrets", _U),
    ("canary_disarm", HIGH, "Secrets", _U),
    # Share links: one value for one person outside the vault (a wrong passphrase
    # destroys it: the recipient, an EXTERNAL actor, is who destroyed it then).
    ("share_create", MED, "Secrets", _U),
    ("share_view", MED, "Secrets", (ActorKind.EXTERNAL,)),
    ("share_destroy", MED, "Secrets", (ActorKind.USER, ActorKind.EXTERNAL)),
    ("share_expire", LOW, "Secrets", _S),
    # Access policies: per-secret read conditions (refusals are `secret_read_denied`).
    ("policy_create", MED, "Policies", _U),
    ("policy_update", MED, "Policies", _U),
    ("policy_delete", HIGH, "Policies", _U),
    ("policy_bind", MED, "Policies", _U),
    ("policy_unbind", HIGH, "Policies", _U),
    # Docker bundles: a server-made identity handed over once (ADR 0024). A refused
    # download (already taken, expired) is a record in the access log.
    ("docker_bundle_create", HIGH, "Machines", _U),
    ("docker_bundle_download", HIGH, "Machines", (ActorKind.EXTERNAL,)),
    ("docker_bundle_expire", LOW, "Machines", _S),
    ("docker_bundle_download_denied", MED, "Machines", (ActorKind.EXTERNAL,)),
    # Machines
    # The operator registers a machine itself when it provisions a Docker bundle.
    ("machine_register", MED, "Machines", (ActorKind.MACHINE, ActorKind.EXTERNAL, ActorKind.USER)),
    ("machine_approve", MED, "Machines", _U),
    ("machine_deny", MED, "Machines", _U),
    ("machine_disable", MED, "Machines", _U),
    ("machine_enable", MED, "Machines", _U),
    ("machine_rename", LOW, "Machines", _U),
    ("machine_revoke", HIGH, "Machines", _U),
    ("bootstrap_token_create", MED, "Machines", _U),
    # Ephemeral (enrollment) and temporary machines: lifetimes, extensions, the sweep.
    ("enrollment_token_create", MED, "Machines", _U),
    ("enrollment_token_revoke", MED, "Machines", _U),
    ("machine_enroll", MED, "Machines", (ActorKind.EXTERNAL,)),
    ("temp_token_create", MED, "Machines", _U),
    ("temp_machine_create", MED, "Machines", (ActorKind.MACHINE,)),
    ("machine_extend", MED, "Machines", _U),
    ("machine_extend_revert", MED, "Machines", _U),
    ("machine_expire", LOW, "Machines", _S),
    # Rotation: schedules, their runs, and the agents that carry them out.
    ("rotation_schedule_create", MED, "Rotation", _U),
    ("rotation_schedule_update", LOW, "Rotation", _U),
    ("rotation_schedule_pause", MED, "Rotation", _US),
    ("rotation_schedule_resume", LOW, "Rotation", _U),
    ("rotation_schedule_cancel", MED, "Rotation", _U),
    ("rotation_schedule_reinstate", MED, "Rotation", _U),
    ("rotation_pending", INFO, "Rotation", _S),
    ("rotation_held", MED, "Rotation", _S),
    ("rotation_confirm", INFO, "Rotation", (ActorKind.MACHINE, ActorKind.SYSTEM)),
    ("rotation_reject", HIGH, "Rotation", (ActorKind.MACHINE, ActorKind.SYSTEM)),
    ("rotation_failed", HIGH, "Rotation", (ActorKind.MACHINE, ActorKind.SYSTEM)),
    ("rotation_retry", LOW, "Rotation", _U),
    ("rotation_withdraw", MED, "Rotation", _US),
    ("agent_bind", HIGH, "Rotation", _U),
    ("agent_unbind", HIGH, "Rotation", _U),
    ("agent_status_change", MED, "Rotation", (ActorKind.MACHINE, ActorKind.SYSTEM)),
    ("agent_sync", INFO, "Rotation", (ActorKind.MACHINE,)),
    ("agent_denied", HIGH, "Rotation", (ActorKind.MACHINE,)),
    # Authentication and sessions
    ("auth_failure", MED, "Authentication", _ANY),
    ("user_login", INFO, "Sessions", _U),
    ("user_logout", INFO, "Sessions", _U),
    ("session_revoke", LOW, "Sessions", _US),
    # Integrations: webhooks and email alerts (where the audit log goes out)
    ("webhook_create", MED, "Integrations", _U),
    ("webhook_enable", MED, "Integrations", _U),
    ("webhook_disable", MED, "Integrations", _U),
    ("webhook_auto_disable", HIGH, "Integrations", _S),  # 10 failed deliveries in a row
    ("webhook_delete", HIGH, "Integrations", _U),
    ("webhook_test", INFO, "Integrations", _U),
    ("alert_settings_update", MED, "Integrations", _U),
    ("alert_smtp_update", MED, "Integrations", _U),
    ("alert_test", INFO, "Integrations", _U),
)

CATALOGUE: tuple[CatalogueEntry, ...] = tuple(CatalogueEntry(*row) for row in _ROWS)
BY_ACTION: dict[str, CatalogueEntry] = {entry.action: entry for entry in CATALOGUE}


def severity_of(action: str) -> Severity:
    """The catalogue's severity for `action` (KeyError: not a catalogued action)."""
    return BY_ACTION[action].severity
