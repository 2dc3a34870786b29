"""What a proven machine may read: values, listings, export, change polling.

Candidates for listings come from the read models (fast, may lag by a moment); the
final say for every secret comes from the gate's checks on the aggregates, so a
lagging read model can hide a fresh grant but can never leak a value.
"""

from __future__ import annotations

from typing import Any, Protocol

from application.access import Caller, MachineGate
from application.ledger import Ledger
from application.ports import FetchLog
from domain.errors import AuthenticationFailed, KeyledgerError, Locked, NotFound
from domain.machine import Machine
from domain.project import Project
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
        self.cache = gate.cache

    def _reveal(self, caller: Caller, secret: Secret, project: Project, key: str | None) -> str:
        """Decrypt, then wait for the durable `secret_read` record before answering."""
        value = self.ledger.open_current(secret, project)
        future = self.gate.records.submit(
            "secret_read",
            caller.stamp(f"version {secret.current.number}"),
            secret.secret_id,
            key,
            fetched_version=secret.current.number,
        )
        if not future.result(timeout=30):
            self.gate.refuse_replay(caller.source_ip, caller.machine.machine_id)
            raise AuthenticationFailed("Nonce already used (replayed request)")
        return value

    def get_secret(self, caller: Caller, secret_id: str) -> str:
        secret, project = self.gate.check_secret(caller, secret_id)
        return self._reveal(caller, secret, project, caller.nonce_key)

    def readable(self, machine: Machine, project_id: str | None = None) -> list[Secret]:
        """Every secret this machine may read now (optionally in one project)."""
        out = []
        for secret_id in sorted(set(self.directory.machine_grants(machine.machine_id))):
            try:
                secret = self.cache.secret(secret_id)
                if project_id is not None and secret.project_id != project_id:
                    continue
                project = self.cache.project(secret.project_id)
            except NotFound:
                continue
            _reason, error = self.gate.denial(machine, secret, project)
            if isinstance(error, Locked) and project_id is not None:
                raise error  # asked about a frozen project: say so (423)
            if error is None:
                out.append(secret)  # a frozen project elsewhere only hides its own secrets
        return out

    def list_secrets(self, caller: Caller, project_id: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "id": s.secret_id,
                "name": s.name,
                "fieldNames": field_names(s),
                "projectId": s.project_id,
            }
            for s in self.readable(caller.machine, project_id)
        ]

    def export(self, caller: Caller, project_id: str | None) -> list[dict[str, Any]]:
        return [
            {
                "id": s.secret_id,
                "name": s.name,
                "value": self._reveal(caller, s, self.cache.project(s.project_id), None),
                "fieldNames": field_names(s),
            }
            for s in self.readable(caller.machine, project_id)
        ]

    def poll(self, caller: Caller, watch: list[str]) -> dict[str, dict[str, str]]:
        """Changes since this machine last fetched each secret (unchanged ids omitted)."""
        machine = caller.machine
        last = self.fetches.last(machine.machine_id, watch)
        changes: dict[str, dict[str, str]] = {}
        baseline: list[tuple[str, str, int]] = []
        for secret_id in dict.fromkeys(watch):
            try:
                secret = self.cache.secret(secret_id)
                project = self.cache.project(secret.project_id)
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
                baseline.append((machine.machine_id, secret_id, secret.current.number))
            elif secret.current.number != last[secret_id]:
                changes[secret_id] = {"status": "changed"}
        if baseline:
            self.fetches.record_many(baseline)
        return changes

    def verify_access(self, caller: Caller, project_id: str) -> dict[str, Any]:
        try:
            project = self.cache.project(project_id)
        except KeyledgerError:
            return {"valid": False, "projectName": None, "error": "Project not found"}
        if caller.machine.machine_id not in project.machines:
            return {"valid": False, "projectName": None, "error": "Machine is not in this project"}
        if project.frozen:
            return {"valid": False, "projectName": project.name, "error": "Project is frozen"}
        return {"valid": True, "projectName": project.name, "error": None}

    def projects(self, caller: Caller) -> list[dict[str, Any]]:
        out = []
        machine_id = caller.machine.machine_id
        for project_id in sorted(self.directory.machine_projects(machine_id)):
            try:
                project = self.cache.project(project_id)
            except NotFound:
                continue
            if machine_id in project.machines:
                out.append(
                    {
                        "projectId": project.project_id,
                        "projectName": project.name,
                        "applicationId": None,
                        "applicationName": None,
                    }
                )
        return out

    def cli_secrets(self, caller: Caller) -> list[dict[str, Any]]:
        out = []
        for s in self.readable(caller.machine):
            out.append(
                {
                    "id": s.secret_id,
                    "name": s.name,
                    "fieldNames": field_names(s),
                    "projectId": s.project_id,
                    "projectName": self.cache.project(s.project_id).name,
                    "applicationId": None,
                    "applicationName": None,
                    "type": s.secret_type.value,
                }
            )
        return out
