"""An access policy: a named bundle of read conditions inside one project.

Its own aggregate (ADR 0023): edits apply to every bound secret on its next read
without touching the secrets. The binding lives on the secret (`policy_id`, so the
gate's cost for an unbound secret is one attribute) and is mirrored here as
bookkeeping (`bound`), so a delete can refuse while bindings remain (409).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound
from domain.policyrules import PolicyRules

MAX_NAME = 100


def validate_policy_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Policy name must not be empty")
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise InvalidInput(
            f"Policy name must be 1–{MAX_NAME} characters without control characters"
        )
    return name


class AccessPolicy(Aggregate):
    TOPIC = "keyledger.policy.AccessPolicy"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.policy.Event"

    @staticmethod
    def create_id(policy_id: str) -> UUID:
        return ids.aggregate_id(policy_id)

    @event("Created", topic="keyledger.policy.Created")
    def __init__(
        self, policy_id: str, project_id: str, name: str, rules: dict[str, Any], audit: AuditStamp
    ) -> None:
        self.policy_id = policy_id
        self.project_id = project_id
        self.name = name
        self.rules = PolicyRules.from_dict(rules)
        self.bound: set[str] = set()
        self.deleted = False

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Policy {self.policy_id} not found")

    def update(self, name: str, rules: PolicyRules, audit: AuditStamp) -> None:
        self.require_live()
        self._updated(self.project_id, name, rules.as_dict(), audit)

    @event("Updated", topic="keyledger.policy.Updated")
    def _updated(
        self, project_id: str, name: str, rules: dict[str, Any], audit: AuditStamp
    ) -> None:
        self.name = name
        self.rules = PolicyRules.from_dict(rules)

    def delete(self, still_bound: set[str], audit: AuditStamp) -> None:
        """`still_bound`: the mirrored secrets that exist and still name this policy
        (a purged secret leaves its mirror entry behind; it binds nothing)."""
        self.require_live()
        if still_bound:
            raise Conflict(
                f"Policy {self.policy_id} is bound to {len(still_bound)} secret(s); unbind first"
            )
        self._deleted(self.project_id, audit)

    @event("Deleted", topic="keyledger.policy.Deleted")
    def _deleted(self, project_id: str, audit: AuditStamp) -> None:
        self.deleted = True

    def note_bound(self, secret_id: str, audit: AuditStamp) -> None:
        self.require_live()
        self._secret_bound(secret_id, audit)

    @event("SecretBound", topic="keyledger.policy.SecretBound")
    def _secret_bound(self, secret_id: str, audit: AuditStamp) -> None:
        self.bound = self.bound | {secret_id}

    def note_unbound(self, secret_id: str, audit: AuditStamp) -> None:
        self._secret_unbound(secret_id, audit)

    @event("SecretUnbound", topic="keyledger.policy.SecretUnbound")
    def _secret_unbound(self, secret_id: str, audit: AuditStamp) -> None:
        self.bound = self.bound - {secret_id}
