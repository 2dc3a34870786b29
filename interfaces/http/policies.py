"""Access policies for the operator: `/v1/admin/projects/{id}/policies`, bindings, dry-run.

Bodies carry the product's axis fields (product-facts §9); unknown fields are a 400.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from domain.audit import AuditStamp
from domain.errors import InvalidInput
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator, provide_stamp


def _name(body: dict[str, Any], required: bool) -> str | None:
    name = body.pop("name", None)
    if name is None and required:
        raise InvalidInput("name is required")
    if name is not None and not isinstance(name, str):
        raise InvalidInput("name must be a string")
    return name


class PolicyController(Controller):
    path = "/v1/admin"
    tags = ["policies"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/projects/{project_id:str}/policies", sync_to_thread=True, status_code=201)
    def create(
        self, project_id: str, data: dict[str, Any], services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """Only the axes whose `…Enabled` is true are judged; each must be complete."""
        body = dict(data)
        name = _name(body, required=True)
        assert name is not None
        policies = services.policies
        return policies.view(policies.create(project_id, name, body, stamp))

    @get("/projects/{project_id:str}/policies", sync_to_thread=True)
    def list_policies(
        self, project_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        policies = services.policies
        return {"policies": [policies.view(p) for p in policies.list(project_id)]}

    @get("/policies/{policy_id:str}", sync_to_thread=True)
    def show(self, policy_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        policies = services.policies
        return policies.view(policies.show(policy_id))

    @post("/policies/{policy_id:str}/update", sync_to_thread=True, status_code=200)
    def update(
        self, policy_id: str, data: dict[str, Any], services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """Only the fields given change; edits apply to every bound secret's next read."""
        body = dict(data)
        name = _name(body, required=False)
        policies = services.policies
        return policies.view(policies.update(policy_id, name, body, stamp))

    @post("/policies/{policy_id:str}/delete", sync_to_thread=True, status_code=200)
    def delete(self, policy_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """409 while any secret is still bound to it."""
        policy = services.policies.delete(policy_id, stamp)
        return {"id": policy.policy_id, "deleted": True}

    @get("/secrets/{secret_id:str}/binding", sync_to_thread=True)
    def binding(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        secret = services.ledger.secret(secret_id)
        return {"secretId": secret.secret_id, "policyId": secret.policy_id}

    @post("/secrets/{secret_id:str}/binding", sync_to_thread=True, status_code=200)
    def bind(
        self, secret_id: str, data: dict[str, Any], services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """Binds `policyId` (same project); a previous binding is replaced."""
        policy_id = data.get("policyId")
        if not isinstance(policy_id, str):
            raise InvalidInput("policyId is required")
        secret = services.policies.bind(secret_id, policy_id, stamp)
        return {"secretId": secret.secret_id, "policyId": secret.policy_id}

    @post("/secrets/{secret_id:str}/binding/delete", sync_to_thread=True, status_code=200)
    def unbind(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        secret = services.policies.unbind(secret_id, stamp)
        return {"secretId": secret.secret_id, "policyId": secret.policy_id}

    @post("/policies/{policy_id:str}/dry-run", sync_to_thread=True, status_code=200)
    def dry_run(
        self, policy_id: str, data: dict[str, Any], services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """Every recorded read of the bound (or `secretId`) secrets in the last `days`,
        re-judged: allowed or blocked, by condition, per machine and per day."""
        secret_id = data.get("secretId")
        if secret_id is not None and not isinstance(secret_id, str):
            raise InvalidInput("secretId must be a string")
        return services.dry_runs.run(policy_id, secret_id, data.get("days", 7))
