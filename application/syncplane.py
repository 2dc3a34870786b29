"""The agent's half of the saga, as the server sees it (signed machine requests).

The agent is an ordinary machine: the gate's read checks apply first (so a revoked
grant is a 403 and a deleted secret a 404, which stop the agent). Then the secret's
agent lock: the first machine to fetch sync-config holds it, any other gets 409.
"""

from __future__ import annotations

import json
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from application.access import Caller, MachineGate
from application.ledger import Ledger
from application.ports import HeartbeatStore
from domain.errors import Conflict, InvalidInput, NotFound
from domain.project import Project
from domain.rotation import ERROR, HEALTHY, RotationSchedule, schedule_id
from domain.secret import Secret

POLL_INTERVAL_S = 10
AGENT_STATUSES = (HEALTHY, ERROR)


class SyncPlane:
    def __init__(self, ledger: Ledger, gate: MachineGate, heartbeats: HeartbeatStore) -> None:
        self.ledger = ledger
        self.gate = gate
        self.heartbeats = heartbeats
        self.clock = ledger.clock

    def _schedule(self, secret_id: str, *, fresh: bool) -> RotationSchedule:
        """The managed schedule: from the cache for reads, from the store for writes."""
        try:
            if fresh:
                schedule: RotationSchedule = self.ledger.repository.get(schedule_id(secret_id))
            else:
                schedule = self.gate.cache.get(schedule_id(secret_id))
        except AggregateNotFoundError:
            raise InvalidInput(f"{secret_id} is not a managed secret") from None
        if schedule.managed is None:
            raise InvalidInput(f"{secret_id} is not a managed secret")
        if schedule.cancelled:
            raise NotFound(f"Secret {secret_id} not found")
        return schedule

    def _check(
        self, caller: Caller, secret_id: str, *, fresh: bool
    ) -> tuple[RotationSchedule, Secret, Project]:
        secret, project = self.gate.check_secret(caller, secret_id)
        schedule = self._schedule(secret_id, fresh=fresh)
        agent = schedule.agent_machine_id
        if agent is not None and agent != caller.machine.machine_id:
            raise Conflict("Another machine is this secret's agent")
        return schedule, secret, project

    def _bound(self, caller: Caller, secret_id: str) -> tuple[RotationSchedule, Secret, Project]:
        schedule, secret, project = self._check(caller, secret_id, fresh=False)
        if schedule.agent_machine_id is None:
            schedule = self._schedule(secret_id, fresh=True)
            if schedule.agent_machine_id is None:
                schedule.bind_agent(
                    caller.machine.machine_id, caller.stamp("became this secret's agent")
                )
                self.ledger.save_or_conflict(schedule)  # a lost race is a 409
            elif schedule.agent_machine_id != caller.machine.machine_id:
                raise Conflict("Another machine is this secret's agent")
        return schedule, secret, project

    def sync_config(self, caller: Caller, secret_id: str) -> dict[str, Any]:
        schedule, _secret, project = self._bound(caller, secret_id)
        assert schedule.managed is not None
        keys = self.ledger.keys
        connection = json.loads(
            keys.open_value(project.key_ref, secret_id, schedule.managed.connection)
        )
        pending = schedule.pending
        pending_value = None
        if pending is not None:
            pending_value = keys.open_value(
                project.key_ref, secret_id, pending.version.sealed
            ).decode()
        detail = f"sync-config, pending {pending.rotation_id}" if pending else "sync-config"
        self.gate.records.write("agent_sync", caller.stamp(detail), secret_id=secret_id)
        return {
            "providerType": schedule.managed.provider,
            "connection": connection,
            "managedUsername": schedule.managed.username,
            "pollIntervalSeconds": POLL_INTERVAL_S,
            "pendingRotationId": pending.rotation_id if pending else None,
            "pendingValue": pending_value,
            "rotationStatus": schedule.rotation_status,
        }

    def pending_id(self, caller: Caller, secret_id: str) -> str | None:
        """What the long-poll watches; answers from the head-synced cache."""
        self.gate.cache.sync()
        schedule, _secret, _project = self._check(caller, secret_id, fresh=False)
        return schedule.pending.rotation_id if schedule.pending else None

    def heartbeat(self, caller: Caller, secret_id: str, status: str, error: str) -> dict[str, Any]:
        if status not in AGENT_STATUSES:
            raise InvalidInput("status must be healthy or error")
        if len(error) > 1000:
            raise InvalidInput("error must be at most 1000 characters")
        schedule, _secret, _project = self._bound(caller, secret_id)
        self.heartbeats.beat(secret_id, caller.machine.machine_id, self.clock.now_ms())
        error = error if status == ERROR else ""
        if status != schedule.agent_status or error != schedule.last_agent_error:
            schedule = self._schedule(secret_id, fresh=True)
            detail = f"agent {status}" + (f": {error}" if error else "")
            schedule.change_agent_status(status, error, caller.stamp(detail))
            if schedule.pending_events:
                self.ledger.save_or_conflict(schedule)
        return {"ok": True, "rotationStatus": schedule.rotation_status}

    def confirm(self, caller: Caller, secret_id: str, rotation_id: str) -> dict[str, Any]:
        """The agent proved the database takes the pending value: promote it."""
        self._bound(caller, secret_id)
        schedule = self._schedule(secret_id, fresh=True)
        secret = self.ledger.secret(secret_id)
        stamp = caller.stamp(f"rotation {rotation_id[:40]} confirmed")
        pending = schedule.confirm(rotation_id, stamp)
        secret.promote(
            pending.version,
            rotation_id,
            caller.stamp(
                f"rotation {rotation_id} promoted to version {secret.next_version_number()}"
            ),
        )
        self.ledger.save_or_conflict(schedule, secret)
        return {"version": secret.current.number}

    def reject(
        self, caller: Caller, secret_id: str, rotation_id: str, error: str
    ) -> dict[str, Any]:
        """The agent could not make the database take it: live stays as it was."""
        self._bound(caller, secret_id)
        schedule = self._schedule(secret_id, fresh=True)
        error = error.strip()[:1000] or "the agent gave no reason"
        schedule.reject(
            rotation_id, error, caller.stamp(f"rotation {rotation_id} rejected: {error}")
        )
        self.ledger.save_or_conflict(schedule)
        return {"rotationStatus": schedule.rotation_status, "failures": schedule.failures}
