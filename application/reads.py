"""What a proven machine may read: values, listings, export, change polling.

Candidates for listings come from the read models (fast, may lag by a moment); the
final say for every secret comes from the gate's checks on the aggregates, so a
lagging read model can hide a fresh grant but can never leak a value.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError

from application.access import Caller, MachineGate
from application.accesslog import Decision, PendingRecord, Verdict
from application.canaries import Tripwire
from application.ledger import Ledger
from application.policygate import PolicyGate, PolicyRefusal
from application.ports import FetchLog
from domain.allowlist import ip_allowed
from domain.audit import ActorKind, AuditStamp
from domain.errors import (
    AuthenticationFailed,
    Forbidden,
    KeyledgerError,
    Locked,
    NotFound,
    Sealed,
)
from domain.machine import Machine, MachineStatus
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
        self,
        ledger: Ledger,
        gate: MachineGate,
        directory: MachineDirectory,
        fetches: FetchLog,
        tripwire: Tripwire,
        policies: PolicyGate,
    ) -> None:
        self.ledger = ledger
        self.policies = policies
        self.tripwire = tripwire
        self.gate = gate
        self.directory = directory
        self.fetches = fetches
        self.cache = gate.cache

    def start_read(
        self, caller: Caller, secret_id: str, key: str | None
    ) -> tuple[str, PendingRecord]:
        """Check and decrypt now; the answer waits for the record's commit (`finish_read`).

        The record is re-decided at commit if the ledger moved since `caller.head`.
        An armed canary trips here, after the gate and before the value is opened; the
        read whose trip froze the project is re-decided as if that freeze were not there."""
        secret, project = self._checked(caller, secret_id)
        if secret.policy_id is not None:  # the only cost for a secret without a policy
            self.policies.enforce(caller, secret)
        tripped = secret.armed_canary and self.tripwire.trip(caller, secret, project)
        value = self.ledger.open_current(secret, project)
        record = PendingRecord(
            self._read_decision(caller, secret, project, key),
            decided_head=caller.head,
            recheck=lambda head: self._redecide(caller, secret_id, secret, key, head, tripped),
        )
        self.gate.records.submit_record(record)
        return value, record

    def _checked(self, caller: Caller, secret_id: str) -> tuple[Secret, Project]:
        """The gate's answer; an armed canary touched in a frozen project is still a trip."""
        try:
            return self.gate.check_secret(caller, secret_id)
        except Locked:
            secret, project = self.cache.secret_and_project(secret_id)
            if secret.armed_canary and caller.machine.machine_id in secret.grants:
                self.tripwire.record(
                    caller, secret, project, "refused: project is frozen", wait=True
                )
            raise

    def finish_read(self, caller: Caller, value: str, verdict: Verdict) -> str:
        if not verdict.written:
            self.gate.refuse_replay(caller.source_ip, caller.machine.machine_id)
        if verdict.refusal is not None:
            raise verdict.refusal
        if isinstance(verdict.subject, tuple):  # re-decided on a newer version
            secret, project = verdict.subject
            return self.ledger.open_current(secret, project)
        return value

    def _read_decision(
        self,
        caller: Caller,
        secret: Secret,
        project: Project,
        key: str | None,
        redone: bool = False,
    ) -> Decision:
        number = secret.current.number
        entry = self.gate.records.entry(
            "secret_read",
            caller.stamp(f"version {number}"),
            secret.secret_id,
            key,
            project_id=project.project_id,
            secret_version=number,
        )
        return Decision(entry, subject=(secret, project) if redone else None)

    def _redecide(
        self,
        caller: Caller,
        secret_id: str,
        decided: Secret,
        key: str | None,
        head: object,
        tripped: bool = False,
    ) -> Decision | None:
        """The same checks against the ledger at `head` (a commit landed meanwhile)."""
        self.cache.sync(head)
        records = self.gate.records
        vault = self.cache.vault()
        if vault is None or not ip_allowed(
            caller.source_ip, vault.allowlist_enabled, vault.allowlist
        ):
            stamp = caller.stamp(f"IP {caller.source_ip} not on the vault allowlist")
            return Decision(
                records.entry("auth_failure", stamp, key=key), Forbidden("Access denied")
            )
        try:
            machine = self.cache.get(uuid.UUID(caller.machine.machine_id))
        except (ValueError, AggregateNotFoundError):
            machine = None
        if not isinstance(machine, Machine) or machine.status is MachineStatus.REVOKED:
            stamp = caller.stamp("machine was revoked")
            entry = records.entry("auth_failure", stamp, key=key)
            return Decision(entry, AuthenticationFailed("Unknown machine"))
        if not machine.may_authenticate:
            state = "disabled" if machine.status is MachineStatus.APPROVED else machine.status.value
            stamp = AuditStamp(
                ActorKind.MACHINE, caller.source_ip, machine_id=machine.machine_id,
                detail=f"machine is {state}",
            )  # fmt: skip
            return Decision(
                records.entry("auth_failure", stamp, key=key), Forbidden(f"Machine is {state}")
            )
        guarded = machine.refusal(caller.source_ip, self.gate.clock.now_ms())
        if guarded is not None:
            entry = records.entry("auth_failure", caller.stamp(guarded[0]), key=key)
            refused: Exception = AuthenticationFailed("Machine has expired")
            if not guarded[1]:
                refused = Forbidden(f"Access denied: {guarded[0]}")
            return Decision(entry, refused)
        if self.gate.keys.is_sealed:
            stamp = caller.stamp("server is sealed (GET /v1/secret)")
            return Decision(records.entry("secret_read_denied", stamp, key=key), Sealed())
        try:
            secret, project = self.cache.secret_and_project(secret_id)
        except NotFound as missing:
            stamp = caller.stamp(f"no such secret {secret_id[:40]!r}")
            return Decision(records.entry("secret_read_denied", stamp, key=key), missing)
        reason, error = self.gate.denial(machine, secret, project, thawed=tripped)
        if error is not None:
            stamp = caller.stamp(reason)
            entry = records.entry("secret_read_denied", stamp, secret.secret_id, key)
            return Decision(entry, error)
        if secret.policy_id is not None:  # bound or edited since the read was decided
            fresh = secret.policy_id != decided.policy_id
            verdict = (self.policies.admit if fresh else self.policies.peek)(caller, secret)
            if isinstance(verdict, PolicyRefusal):
                stamp = caller.stamp(verdict.detail)
                entry = records.entry("secret_read_denied", stamp, secret.secret_id, key)
                return Decision(entry, verdict.error())
        if secret.current.number == decided.current.number:
            return None
        return self._read_decision(caller, secret, project, key, redone=True)

    def _reveal(self, caller: Caller, secret: Secret, project: Project, key: str | None) -> str:
        """Decrypt, then wait for the durable `secret_read` record before answering."""
        value = self.ledger.open_current(secret, project)
        record = PendingRecord(self._read_decision(caller, secret, project, key))
        verdict = self.gate.records.submit_record(record).result(timeout=30)
        return self.finish_read(caller, value, verdict)

    def readable(self, machine: Machine, project_id: str | None = None) -> list[Secret]:
        """Every secret this machine may read now (optionally in one project).

        A grant in a frozen project makes the whole request 423: it touches that project."""
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
            if isinstance(error, Locked):
                raise error
            if error is None:
                out.append(secret)
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
        """Every readable value. Armed canaries among them trip before any is opened."""
        readable = [
            s
            for s in self.readable(caller.machine, project_id)
            if s.policy_id is None or not self.policies.skips(caller, s)
        ]
        for secret in readable:
            if secret.armed_canary:
                self.tripwire.trip(caller, secret, self.cache.project(secret.project_id))
        return [
            {
                "id": s.secret_id,
                "name": s.name,
                "value": self._reveal(caller, s, self.cache.project(s.project_id), None),
                "fieldNames": field_names(s),
            }
            for s in readable
        ]

    def poll(self, caller: Caller, watch: list[str]) -> dict[str, dict[str, str]]:
        """Changes since this machine last fetched each secret (unchanged ids omitted)."""
        machine = caller.machine
        last = self.fetches.last(machine.machine_id, watch)
        changes: dict[str, dict[str, str]] = {}
        baseline: list[tuple[str, str, int]] = []
        for secret_id in dict.fromkeys(watch):
            try:
                secret, project = self.cache.secret_and_project(secret_id)
            except NotFound:
                changes[secret_id] = {"status": "deleted"}
                continue
            _reason, error = self.gate.denial(machine, secret, project)
            if isinstance(error, NotFound):
                changes[secret_id] = {"status": "deleted"}
            elif error is not None or (
                secret.policy_id is not None and self.policies.peek(caller, secret) is not None
            ):
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
                    "type": s.secret_type.machine_facing,
                }
            )
        return out
