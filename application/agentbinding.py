"""Which machine is a managed secret's sync agent: the operator names it.

The agent receives the database admin connection and decides, by confirming, which
password goes live; so it is never self-chosen by whichever granted machine asks
first. The operator binds it (`set-agent`), unbinds it (`unset-agent`), and
revoking the machine, removing it from the project or revoking its grant unbinds
it in the same save. A rotation pending when the agent changes is withdrawn (the
old agent has seen its value); the schedule issues a fresh one at once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

from eventsourcing.application import AggregateNotFoundError

from application.ledger import Ledger
from application.ports import Clock
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound
from domain.machine import Machine, MachineStatus
from domain.rotation import RotationSchedule, schedule_id


def find_schedule(ledger: Ledger, secret_id: str) -> RotationSchedule | None:
    try:
        schedule: RotationSchedule = ledger.repository.get(schedule_id(secret_id))
    except AggregateNotFoundError:
        return None
    return schedule


def released(
    ledger: Ledger,
    secret_ids: Iterable[str],
    machine_id: str,
    now_ms: int,
    stamp: AuditStamp,
    project_id: str | None = None,
) -> list[RotationSchedule]:
    """The schedules among `secret_ids` (of `project_id`, if given) whose agent
    `machine_id` was: unbound, to be saved with the change that caused it."""
    changed = []
    for secret_id in dict.fromkeys(secret_ids):
        schedule = find_schedule(ledger, secret_id)
        if schedule is None or (project_id is not None and schedule.project_id != project_id):
            continue
        if schedule.release_agent(machine_id, now_ms, stamp):
            changed.append(schedule)
    return changed


class AgentBinding:
    def __init__(self, ledger: Ledger, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock

    def _managed(self, secret_id: str) -> RotationSchedule:
        schedule = find_schedule(self.ledger, secret_id)
        if schedule is None or schedule.managed is None:
            raise InvalidInput(f"{secret_id[:40]} is not a managed secret")
        return schedule

    def _machine(self, machine_id: str) -> Machine:
        try:
            machine: Machine = self.ledger.repository.get(uuid.UUID(machine_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"Machine {machine_id[:40]} not found") from None
        if not isinstance(machine, Machine):
            raise NotFound(f"Machine {machine_id[:40]} not found")
        return machine

    def set_agent(self, secret_id: str, machine_id: str, audit: AuditStamp) -> RotationSchedule:
        """Bind an approved machine that is in the secret's project and holds a grant
        on it (the agent reads the live value to restore it after a failed apply)."""
        secret = self.ledger.secret(secret_id)
        schedule = self._managed(secret_id)
        machine = self._machine(machine_id)
        mid = machine.machine_id
        if machine.status is not MachineStatus.APPROVED:
            raise Conflict(f"Machine {mid} is {machine.status.value}: the agent must be approved")
        if secret.in_trash:
            raise Conflict(f"Secret {secret_id} is in the trash; restore it first")
        if mid not in self.ledger.project(secret.project_id).machines:
            raise Conflict(f"Add machine {mid} to project {secret.project_id} first")
        if mid not in secret.grants:
            raise Conflict(
                f"Grant machine {mid} read access first: `keyledger grant {mid} {secret_id}`"
            )
        previous = schedule.agent_machine_id
        detail = f"agent of {secret_id}: {mid}" + (f" (was {previous})" if previous else "")
        stamp = dataclasses.replace(audit, machine_id=mid, detail=detail)
        schedule.set_agent(mid, self.clock.now_ms(), stamp)
        self.ledger.save_or_conflict(schedule)
        return schedule

    def unset_agent(self, secret_id: str, audit: AuditStamp) -> RotationSchedule:
        self.ledger.secret(secret_id)  # an unknown secret is a 404, as everywhere
        schedule = self._managed(secret_id)
        mid = schedule.agent_machine_id
        stamp = dataclasses.replace(audit, machine_id=mid, detail=f"agent of {secret_id} unbound")
        schedule.unset_agent(self.clock.now_ms(), stamp)
        self.ledger.save_or_conflict(schedule)
        return schedule
