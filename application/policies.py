"""The operator's access policies: create, update, bind, unbind, list, show, delete.

Every change is a ledger event (the audit); the wire shape uses the product's field
names (product-facts §9). Validation is strict and happens before anything is saved.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from application.ledger import Ledger
from application.ports import Clock
from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound
from domain.policy import AccessPolicy, validate_policy_name
from domain.policyrules import PolicyRules
from domain.secret import Secret


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_KINDS: dict[str, tuple[type, ...]] = {"bool": (bool,), "int | None": (int, type(None))}
WIRE: dict[str, tuple[str, str]] = {
    camel(f.name): (f.name, str(f.type)) for f in fields(PolicyRules) if f.name != "networks"
}


def rules_from_wire(body: dict[str, Any], base: PolicyRules | None = None) -> PolicyRules:
    """Axis fields from a JSON body onto `base` (unknown or mistyped fields: 400)."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key not in WIRE:
            raise InvalidInput(f"Unknown policy field {key[:60]!r}")
        name, kind = WIRE[key]
        if kind == "bool" and not isinstance(value, bool):
            raise InvalidInput(f"{key} must be true or false")
        if kind == "int | None" and (isinstance(value, bool) or not isinstance(value, int | None)):
            raise InvalidInput(f"{key} must be a whole number")
        if kind == "str | None" and not isinstance(value, str | None):
            raise InvalidInput(f"{key} must be a string")
        if kind.startswith("tuple"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidInput(f"{key} must be a list of strings")
            value = tuple(v.strip().lower() if name == "time_window_days" else v for v in value)
        changes[name] = value
    return replace(base or PolicyRules(), **changes)


def rules_to_wire(rules: PolicyRules) -> dict[str, Any]:
    return {camel(k): v for k, v in rules.as_dict().items()}


class Policies:
    def __init__(self, ledger: Ledger, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock

    def view(self, policy: AccessPolicy) -> dict[str, Any]:
        return {
            "id": policy.policy_id,
            "projectId": policy.project_id,
            "name": policy.name,
            "enabledAxes": policy.rules.enabled_axes(),
            **rules_to_wire(policy.rules),
            "boundSecrets": sorted(self._still_bound(policy)),
        }

    def _validated(self, project_id: str, rules: PolicyRules) -> PolicyRules:
        project = self.ledger.project(project_id)
        return rules.validate(self.clock.now_ms(), project.machines)

    def _name_free(self, project_id: str, name: str, policy_id: str | None = None) -> None:
        for other in self.list(project_id):
            if other.name == name and other.policy_id != policy_id:
                raise Conflict(f"A policy named {name!r} already exists in {project_id}")

    def create(
        self, project_id: str, name: str, body: dict[str, Any], audit: AuditStamp
    ) -> AccessPolicy:
        project = self.ledger.project(ids.require(ids.PROJECT, project_id))
        name = validate_policy_name(name)
        rules = self._validated(project_id, rules_from_wire(body))
        self._name_free(project_id, name)
        policy = AccessPolicy(
            policy_id=ids.new_public_id(ids.POLICY),
            project_id=project_id,
            name=name,
            rules=rules.as_dict(),
            audit=audit,
        )
        project.add_policy(policy.policy_id, audit)
        self.ledger.save_or_conflict(policy, project)
        return policy

    def update(
        self, policy_id: str, name: str | None, body: dict[str, Any], audit: AuditStamp
    ) -> AccessPolicy:
        """Only the fields given change; a toggle off keeps the axis's values."""
        policy = self.ledger.policy(policy_id)
        new_name = validate_policy_name(name) if name is not None else policy.name
        rules = self._validated(policy.project_id, rules_from_wire(body, policy.rules))
        if new_name != policy.name:
            self._name_free(policy.project_id, new_name, policy_id)
        policy.update(new_name, rules, audit)
        self.ledger.save_or_conflict(policy)
        return policy

    def bind(self, secret_id: str, policy_id: str, audit: AuditStamp) -> Secret:
        """Bind; a secret's previous policy (if any) is replaced in the same commit."""
        secret = self.ledger.secret(secret_id)
        policy = self.ledger.policy(policy_id)
        if policy.project_id != secret.project_id:
            raise InvalidInput(f"Policy {policy_id} is not in the secret's project")
        if secret.policy_id == policy_id:
            return secret
        changed: list[Any] = [secret, policy]
        if secret.policy_id is not None:
            try:
                previous = self.ledger.policy(secret.policy_id)
                previous.note_unbound(secret_id, audit)
                changed.append(previous)
            except NotFound:
                pass
        secret.bind_policy(policy_id, audit)
        policy.note_bound(secret_id, audit)
        self.ledger.save_or_conflict(*changed)
        return secret

    def unbind(self, secret_id: str, audit: AuditStamp) -> Secret:
        secret = self.ledger.secret(secret_id)
        unbound = secret.unbind_policy(audit)
        changed: list[Any] = [secret]
        try:
            policy = self.ledger.policy(unbound)
            policy.note_unbound(secret_id, audit)
            changed.append(policy)
        except NotFound:
            pass
        self.ledger.save_or_conflict(*changed)
        return secret

    def list(self, project_id: str) -> list[AccessPolicy]:
        project = self.ledger.project(ids.require(ids.PROJECT, project_id), in_trash=True)
        found = []
        for policy_id in sorted(project.policies):
            try:
                found.append(self.ledger.policy(policy_id))
            except NotFound:
                continue
        return sorted(found, key=lambda p: p.name)

    def show(self, policy_id: str) -> AccessPolicy:
        return self.ledger.policy(policy_id)

    def delete(self, policy_id: str, audit: AuditStamp) -> AccessPolicy:
        policy = self.ledger.policy(policy_id)
        policy.delete(self._still_bound(policy), audit)
        project = self.ledger.project_any(policy.project_id)
        project.remove_policy(policy_id, audit)
        self.ledger.save_or_conflict(policy, project)
        return policy

    def _still_bound(self, policy: AccessPolicy) -> set[str]:
        still = set()
        for secret_id in policy.bound:
            try:
                if self.ledger.secret(secret_id).policy_id == policy.policy_id:
                    still.add(secret_id)
            except NotFound:
                continue
        return still
