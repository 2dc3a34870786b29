"""Canary secrets: tripwires nobody legitimate reads.

A canary is an ordinary sealed secret of type `canary` with a server-generated value;
machines are told it is `standard`. `Tripwire.trip` runs on the read path after the
gate let the read through and before the answer is built: it freezes the project
(and, if asked, the projects sharing a machine with it) as ledger events, then
queues a `canary_triggered` record that commits no later than the read's own record,
which the answer waits for. The reader still gets its 200 and the value.
"""

from __future__ import annotations

from typing import Any, Protocol

from application.access import Caller
from application.accesslog import Decision, PendingRecord, RecordWriter
from application.freezes import ProjectFreezes
from application.ledger import Ledger
from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.errors import NotFound
from domain.project import Project
from domain.secret import Secret
from domain.values import CANARY_LENGTH, CanaryOptions, Charset, generate_value


class TripLog(Protocol):
    def trips(self, secret_id: str) -> tuple[int, int | None]:
        """How many `canary_triggered` records, and the newest one's time (ms)."""
        ...


class CanaryDirectory(Protocol):
    def canary_ids(self, project_id: str | None = None) -> list[str]: ...

    def machine_projects(self, machine_id: str) -> list[str]: ...


class Tripwire:
    def __init__(
        self,
        ledger: Ledger,
        freezes: ProjectFreezes,
        records: RecordWriter,
        directory: CanaryDirectory,
    ) -> None:
        self.ledger = ledger
        self.freezes = freezes
        self.records = records
        self.directory = directory

    def trip(self, caller: Caller, secret: Secret, project: Project) -> bool:
        """Freeze first (durable before the answer exists), then queue the record.

        True when this trip froze the canary's own project: only that read may still be
        answered past the freeze (a later one, or one that lost the race, gets 423)."""
        options = secret.canary or CanaryOptions()
        machine_id = caller.machine.machine_id
        targets = [project.project_id] if options.freeze_project else []
        if options.freeze_related:
            targets += self._related(project)
        frozen: list[str] = []
        if targets:
            why = f"canary {secret.secret_id} read by machine {machine_id}"
            stamp = AuditStamp(
                ActorKind.SYSTEM, caller.source_ip, machine_id=machine_id, detail=why
            )
            frozen = self.freezes.freeze_quietly(targets, stamp)
        detail = f"froze {', '.join(frozen)}" if frozen else "no new freeze"
        self.record(caller, secret, project, detail)
        return project.project_id in frozen

    def record(
        self, caller: Caller, secret: Secret, project: Project, detail: str, *, wait: bool = False
    ) -> None:
        """Queued unkeyed; the writer commits in order, so it lands before the read's.

        `wait`: no read record follows (a refusal), so wait for this one's commit."""
        entry = self.records.entry(
            "canary_triggered",
            caller.stamp(detail),
            secret.secret_id,
            project_id=project.project_id,
            secret_version=secret.current.number,
        )
        future = self.records.submit_record(PendingRecord(Decision(entry)))
        if wait:
            future.result(timeout=30)

    def _related(self, project: Project) -> list[str]:
        """Projects sharing a machine with this one (members from the aggregate)."""
        related: list[str] = []
        for machine_id in sorted(project.machines):
            related += self.directory.machine_projects(machine_id)
        return [p for p in related if p != project.project_id]


class Canaries:
    """The operator's side: create, list, show, arm and disarm (never a value out)."""

    def __init__(self, ledger: Ledger, directory: CanaryDirectory, trips: TripLog) -> None:
        self.ledger = ledger
        self.directory = directory
        self.trip_log = trips

    def create(
        self,
        project_id: str,
        name: str,
        audit: AuditStamp,
        *,
        freeze_project: bool = True,
        freeze_related: bool = False,
        armed: bool = True,
    ) -> Secret:
        options = CanaryOptions(armed, freeze_project, freeze_related)
        value = generate_value(CANARY_LENGTH, Charset.SYMBOLS)
        claim, secret, _project = self.ledger.prepare_secret(
            project_id, name, audit.with_detail("canary"), value=value, canary=options
        )
        self.ledger.save_or_conflict(claim, secret)
        return secret

    def canary(self, secret_id: str) -> Secret:
        secret = self.ledger.secret(secret_id)
        if secret.canary is None:
            raise NotFound(f"Canary {secret_id[:40]} not found")
        return secret

    def set_armed(self, secret_id: str, armed: bool, audit: AuditStamp) -> Secret:
        secret = self.canary(secret_id)
        if secret.set_armed(armed, audit):
            self.ledger.save_or_conflict(secret)
        return secret

    def view(self, secret: Secret) -> dict[str, Any]:
        assert secret.canary is not None
        fired, last = self.trip_log.trips(secret.secret_id)
        return {
            "id": secret.secret_id,
            "projectId": secret.project_id,
            "name": secret.name,
            "type": secret.secret_type.value,
            "enabled": secret.canary.armed,
            "triggerFreezeProject": secret.canary.freeze_project,
            "triggerFreezeRelatedProjects": secret.canary.freeze_related,
            "fireCount": fired,
            "lastTriggeredAt": last,
            "grants": sorted(secret.grants),
            "createdAt": int(secret.created_on.timestamp() * 1000),
            "deleted": secret.in_trash,
        }

    def list(self, project_id: str | None = None) -> list[dict[str, Any]]:
        if project_id is not None:
            self.ledger.project(ids.require(ids.PROJECT, project_id))
        out = []
        for secret_id in self.directory.canary_ids(project_id):
            try:
                out.append(self.view(self.canary(secret_id)))
            except NotFound:
                continue
        return out
