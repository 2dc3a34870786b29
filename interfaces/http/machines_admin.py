"""The operator's machine management: tokens, approval, membership, grants, allowlist."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from domain.audit import AuditStamp
from domain.errors import InvalidInput, NotFound
from domain.machine import Machine
from domain.vault import Vault
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, provide_operator, provide_stamp
from interfaces.http.enroll import api_url
from interfaces.http.schemas import (
    AllowlistBody,
    MachineRenameBody,
    ProjectIdBody,
    RevokeBody,
    SecretIdBody,
    TokenBody,
)


def connect_commands(url: str, token: str) -> dict[str, str]:
    """The two ways a machine uses a bootstrap token (API and dashboard show the same)."""
    return {
        "sh": f"curl -sSL {url}/v1/bootstrap/{token} | sh",
        "python": f"keyledger connect --token {token} --server {url}",
    }


def machine_view(machine: Machine) -> dict[str, Any]:
    return {
        "id": machine.machine_id,
        "name": machine.name,
        "hostname": machine.hostname,
        "status": machine.status.value,
        "enabled": machine.enabled,
        "nameHistory": list(machine.name_history),
        "kind": "temporary"
        if machine.temporary
        else "ephemeral"
        if machine.enrollment_id
        else "standard",
        "expiresAt": machine.expires_ms,
        "enrollmentId": machine.enrollment_id,
        "guardrails": {
            "sourceCidrs": list(machine.guard_cidrs),
            "hours": machine.guard_hours,
            "tz": machine.guard_tz,
        },
        "extensions": [dict(e) for e in machine.extensions],
    }


def allowlist_json(vault: Vault) -> dict[str, Any]:
    return {
        "enabled": vault.allowlist_enabled,
        "entries": [{"id": e.entry_id, "cidr": e.cidr, "label": e.label} for e in vault.allowlist],
    }


class MachineAdminController(Controller):
    path = "/v1/admin"
    tags = ["machines"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/machines/token", sync_to_thread=True, status_code=201)
    def token(
        self, data: TokenBody, request: AnyRequest, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """A single-use bootstrap token (10 minutes) and the two ways to use it."""
        url = api_url(request, services)  # a bad Host is refused before a token is made
        token, expires = services.machines.create_bootstrap_token(data.name, stamp)
        services.projector.catch_up()
        return {
            "token": token,
            "expiresAt": expires,
            "commands": connect_commands(url, token),
        }

    @get("/machines", sync_to_thread=True)
    def list_machines(
        self, services: Services, stamp: AuditStamp, status: str | None = None
    ) -> dict[str, Any]:
        if status is not None and status not in {"pending", "approved", "denied", "revoked"}:
            raise InvalidInput("status must be pending, approved, denied or revoked")
        services.projector.catch_up()
        return {"machines": services.read_models.machines(status)}

    @get("/machines/{machine_id:str}", sync_to_thread=True)
    def get_machine(self, machine_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        services.projector.catch_up()
        machine = services.machines.machine(machine_id)
        return {
            **machine_view(machine),
            "projects": services.read_models.machine_projects(machine.machine_id),
            "grants": services.read_models.machine_grants(machine.machine_id),
        }

    def _act(self, services: Services, verb: str, machine_id: str, stamp: AuditStamp) -> Any:
        machine = getattr(services.machines, verb)(machine_id, stamp)
        services.projector.catch_up()
        return machine_view(machine)

    @post("/machines/{machine_id:str}/approve", sync_to_thread=True, status_code=200)
    def approve(self, machine_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return dict(self._act(services, "approve", machine_id, stamp))

    @post("/machines/{machine_id:str}/deny", sync_to_thread=True, status_code=200)
    def deny(self, machine_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return dict(self._act(services, "deny", machine_id, stamp))

    @post("/machines/{machine_id:str}/disable", sync_to_thread=True, status_code=200)
    def disable(self, machine_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return dict(self._act(services, "disable", machine_id, stamp))

    @post("/machines/{machine_id:str}/enable", sync_to_thread=True, status_code=200)
    def enable(self, machine_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return dict(self._act(services, "enable", machine_id, stamp))

    @post("/machines/{machine_id:str}/rename", sync_to_thread=True, status_code=200)
    def rename(
        self, machine_id: str, data: MachineRenameBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        machine = services.machines.rename(machine_id, data.name, stamp)
        services.projector.catch_up()
        return machine_view(machine)

    @post("/machines/{machine_id:str}/revoke", sync_to_thread=True, status_code=200)
    def revoke(
        self, machine_id: str, data: RevokeBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """Revoke for good; `preview` only counts what the cascade would drop."""
        services.projector.catch_up()
        if data.preview:
            return {"preview": True, **services.machines.revoke_preview(machine_id)}
        dropped = services.machines.revoke(machine_id, stamp)
        services.projector.catch_up()
        return {"preview": False, "revoked": True, **dropped}

    @post("/machines/{machine_id:str}/projects", sync_to_thread=True, status_code=200)
    def add_to_project(
        self, machine_id: str, data: ProjectIdBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        services.machines.add_to_project(machine_id, data.project_id, stamp)
        services.projector.catch_up()
        return {"machineId": machine_id, "projectId": data.project_id, "member": True}

    @post(
        "/machines/{machine_id:str}/projects/{project_id:str}/remove",
        sync_to_thread=True,
        status_code=200,
    )
    def remove_from_project(
        self, machine_id: str, project_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        services.projector.catch_up()
        dropped = services.machines.remove_from_project(machine_id, project_id, stamp)
        services.projector.catch_up()
        return {"machineId": machine_id, "projectId": project_id, "grantsDropped": dropped}

    @post("/machines/{machine_id:str}/grants", sync_to_thread=True, status_code=200)
    def grant(
        self, machine_id: str, data: SecretIdBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        services.machines.grant(machine_id, data.secret_id, stamp)
        services.projector.catch_up()
        return {"machineId": machine_id, "secretId": data.secret_id, "granted": True}

    @post(
        "/machines/{machine_id:str}/grants/{secret_id:str}/revoke",
        sync_to_thread=True,
        status_code=200,
    )
    def revoke_grant(
        self, machine_id: str, secret_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        services.machines.revoke_grant(machine_id, secret_id, stamp)
        services.projector.catch_up()
        return {"machineId": machine_id, "secretId": secret_id, "granted": False}

    # -- IP allowlist ----------------------------------------------------------

    @get("/ipallowlist", sync_to_thread=True)
    def allowlist(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        vault = services.ledger.vault()
        if vault is None:
            raise NotFound("The vault is not initialised")
        return allowlist_json(vault)

    @post("/ipallowlist/enable", sync_to_thread=True, status_code=200)
    def enable_allowlist(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return allowlist_json(services.machines.set_allowlist(True, stamp))

    @post("/ipallowlist/disable", sync_to_thread=True, status_code=200)
    def disable_allowlist(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return allowlist_json(services.machines.set_allowlist(False, stamp))

    @post("/ipallowlist", sync_to_thread=True, status_code=201)
    def add_entry(
        self, data: AllowlistBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        return allowlist_json(services.machines.add_allowlist_entry(data.cidr, data.label, stamp))

    @post("/ipallowlist/{entry_id:str}/delete", sync_to_thread=True, status_code=200)
    def remove_entry(self, entry_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return allowlist_json(services.machines.remove_allowlist_entry(entry_id, stamp))
