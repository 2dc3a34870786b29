"""`AuditRecord`: one audit entry from either log, as the SIEM formats see it.

Both logs (vault changes in the ledger, machine access in the lanes) carry the same
audit fields (product-facts §11), so one record shape serves every format. It holds
metadata only: no secret value ever reaches an audit entry, so none can be exported.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

PRODUCT = "keyledger"
VENDOR = "keyledger"

# Actions that report a refusal or failure rather than something done.
FAILURES = frozenset({"auth_failure", "secret_read_denied", "secret_rotate_denied", "agent_denied"})


@dataclass(slots=True)
class AuditRecord:
    """`id` is the record's stable id: the ledger notification id ("42") or "lane:seq".

    Slotted and not frozen: the exporter builds one per row, a million a run, and a
    frozen dataclass is built several times slower. Nothing changes a record."""

    id: str
    log: str  # "ledger" or "access"
    timestamp_ms: int
    action: str
    severity: str
    actor_kind: str
    source_ip: str
    detail: str
    user_id: str | None = None
    machine_id: str | None = None
    ai_agent_id: str | None = None
    secret_id: str | None = None
    project_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.action in FAILURES or self.action.endswith("_denied")

    @property
    def actor_id(self) -> str | None:
        """Who acted, by actor kind (the user id is the vault owner scope otherwise)."""
        if self.actor_kind == "machine":
            return self.machine_id
        if self.actor_kind == "ai_agent":
            return self.ai_agent_id
        if self.actor_kind == "user":
            return self.user_id
        return None

    @property
    def ip(self) -> str | None:
        """The source IP if it is one; `system` and `stripe` are sentinels, not addresses."""
        try:
            return str(ipaddress.ip_address(self.source_ip))
        except ValueError:
            return None

    def fields(self) -> dict[str, Any]:
        """The audit entry in the API's shape (what `audit tail --json` prints)."""
        return {
            "id": self.id,
            "log": self.log,
            "action": self.action,
            "severity": self.severity,
            "actorKind": self.actor_kind,
            "userId": self.user_id,
            "machineId": self.machine_id,
            "aiAgentId": self.ai_agent_id,
            "secretId": self.secret_id,
            "projectId": self.project_id,
            "sourceIp": self.source_ip,
            "detail": self.detail,
            "timestamp": self.timestamp_ms,
        }
