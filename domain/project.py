"""A project groups secrets; each has its own master key (referenced, never carried)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput

MAX_NAME = 100
MAX_DESCRIPTION = 1000


def validate_project_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("Project name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Project name must be at most {MAX_NAME} characters")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("Project name must not contain control characters")
    return name


def validate_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"Description must be at most {MAX_DESCRIPTION} characters")
    return description


class Project(Aggregate):
    TOPIC = "keyledger.project.Project"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.project.Event"

    @staticmethod
    def create_id(project_id: str) -> UUID:
        return ids.aggregate_id(project_id)

    @event("Created", topic="keyledger.project.Created")
    def __init__(
        self,
        project_id: str,
        name: str,
        description: str,
        key_ref: str,
        audit: AuditStamp,
    ) -> None:
        self.project_id = project_id
        self.name = name
        self.description = description
        self.key_ref = key_ref
        self.machines: set[str] = set()
        self.frozen = False

    def update(self, name: str | None, description: str | None, audit: AuditStamp) -> None:
        new_name = validate_project_name(name) if name is not None else self.name
        new_description = (
            validate_description(description) if description is not None else self.description
        )
        self._updated(new_name, new_description, audit)

    @event("Updated", topic="keyledger.project.Updated")
    def _updated(self, name: str, description: str, audit: AuditStamp) -> None:
        self.name = name
        self.description = description

    # -- machine membership ----------------------------------------------------

    def add_machine(self, machine_id: str, audit: AuditStamp) -> None:
        if machine_id in self.machines:
            raise Conflict(f"Machine {machine_id} is already in project {self.project_id}")
        self._machine_added(machine_id, audit)

    @event("MachineAdded", topic="keyledger.project.MachineAdded")
    def _machine_added(self, machine_id: str, audit: AuditStamp) -> None:
        self.machines = self.machines | {machine_id}

    def remove_machine(self, machine_id: str, audit: AuditStamp) -> None:
        if machine_id not in self.machines:
            raise Conflict(f"Machine {machine_id} is not in project {self.project_id}")
        self._machine_removed(machine_id, audit)

    @event("MachineRemoved", topic="keyledger.project.MachineRemoved")
    def _machine_removed(self, machine_id: str, audit: AuditStamp) -> None:
        self.machines = self.machines - {machine_id}
