"""What a proven machine may read: values, listings, export, change polling.

Candidates for listings come from the read models (fast, may lag by a moment); the
final say for every secret comes from `MachineGate.check_secret` on the aggregates,
so a lagging read model can hide a fresh grant but can never leak a value.
"""

from __future__ import annotations

from typing import Any, Protocol

from application.access import MachineGate
from application.ledger import Ledger
from application.ports import FetchLog
from domain.audit import ActorKind, AuditStamp
from domain.errors import KeyledgerError, Locked, NotFound
from domain.machine import Machine
from domain.secret import Secret


class MachineDirectory(Protocol):
    """Read-model queries: what a machine is attached to."""

    def machine_grants(self, machine_id: str) -> list[str]: ...

    def machine_projects(self, machine_id: str) -> list[str]: ...


def field_names(secret: Secret) -> str | None:
    return ",".join(secret.field_names) if secret.field_names is not None else None


class MachineReads:
    def __init__(
        self, ledger: Ledger, gate: MachineGate, directory: MachineDirectory, fetches: FetchLog
    ) -> None:
        self.ledger = ledger
        self.gate = gate
        self.directory = directory
        self.fetches = fetches

    def _reveal(self, machine: Machine, secret: Secret, source_ip: str) -> str:
        value = self.ledger.reveal(secret.secret_id)
        self.ledger.record(
            "secret_read",
            AuditStamp(
                ActorKind.MACHINE,
                source_ip,
                machine_id=machine.machine_id,
                detail=f"version {secret.current.number}",
            ),
            secret_id=secret.secret_id,
        )
        self.fetches.record(machine.machine_id, secret.secret_id, secret.current.number)
        return value

    def get_secret(self, machine: Machine, secret_id: str, source_ip: str) -> str:
        secret, _project = self.gate.check_secret(machine, secret_id, source_ip)
        return self._reveal(machine, secret, source_ip)

    def readable(self, machine: Machine, project_id: str | None = None) -> list[Secret]:
        """Every secret this machine may read now (optionally in one project)."""
        out = []
        for secret_id in sorted(set(self.directory.machine_grants(machine.machine_id))):
            try:
                secret = self.ledger.secret(secret_id)
                if project_id is not None and secret.project_id != project_id:
                    continue
                project = self.ledger.project(secret.project_id)
            except NotFound:
                continue
            _reason, error = self.gate.denial(machine, secret, project)
            if isinstance(error, Locked):
                raise error
            if error is None:
                out.append(secret)
        return out

    def list_secrets(self, machine: Machine, project_id: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "id": s.secret_id,
                "name": s.name,
                "fieldNames": field_names(s),
                "projectId": s.project_id,
            }
            for s in self.readable(machine, project_id)
        ]

    def export(
        self, machine: Machine, project_id: str | None, source_ip: str
    ) -> list[dict[str, Any]]:
        return [
            {
                "id": s.secret_id,
                "name": s.name,
                "value": self._reveal(machine, s, source_ip),
                "fieldNames": field_names(s),
            }
            for s in self.readable(machine, project_id)
        ]

    def poll(self, machine: Machine, watch: list[str]) -> dict[str, dict[str, str]]:
        """Changes since this machine last fetched each secret (unchanged ids omitted)."""
        last = self.fetches.last(machine.machine_id, watch)
        changes: dict[str, dict[str, str]] = {}
        for secret_id in dict.fromkeys(watch):
            try:
                secret = self.ledger.secret(secret_id)
                project = self.ledger.project(secret.project_id)
            except NotFound:
                changes[secret_id] = {"status": "deleted"}
                continue
            _reason, error = self.gate.denial(machine, secret, project)
            if isinstance(error, NotFound):
                changes[secret_id] = {"status": "deleted"}
            elif error is not None:
                changes[secret_id] = {"status": "access_denied"}
            elif secret_id not in last:
                # Never fetched: take now as the baseline instead of a spurious change.
                self.fetches.record(machine.machine_id, secret_id, secret.current.number)
            elif secret.current.number != last[secret_id]:
                changes[secret_id] = {"status": "changed"}
        return changes

    def verify_access(self, machine: Machine, project_id: str) -> dict[str, Any]:
        try:
            project = self.ledger.project(project_id)
        except KeyledgerError:
            return {"valid": False, "projectName": None, "error": "Project not found"}
        if machine.machine_id not in project.machines:
            return {"valid": False, "projectName": None, "error": "Machine is not in this project"}
        if project.frozen:
            return {"valid": False, "projectName": project.name, "error": "Project is frozen"}
        return {"valid": True, "projectName": project.name, "error": None}

    def projects(self, machine: Machine) -> list[dict[str, Any]]:
        out = []
        for project_id in sorted(self.directory.machine_projects(machine.machine_id)):
            try:
                project = self.ledger.project(project_id)
            except NotFound:
                continue
            if machine.machine_id in project.machines:
                out.append(
                    {
                        "projectId": project.project_id,
                        "projectName": project.name,
                        "applicationId": None,
                        "applicationName": None,
                    }
                )
        return out

    def cli_secrets(self, machine: Machine) -> list[dict[str, Any]]:
        names: dict[str, str] = {}
        out = []
        for s in self.readable(machine):
            if s.project_id not in names:
                names[s.project_id] = self.ledger.project(s.project_id).name
            out.append(
                {
                    "id": s.secret_id,
                    "name": s.name,
                    "fieldNames": field_names(s),
                    "projectId": s.project_id,
                    "projectName": names[s.project_id],
                    "applicationId": None,
                    "applicationName": None,
                    "type": s.secret_type.value,
                }
            )
        return out
