"""The agent's half of the saga, as the server sees it (signed machine requests).

The agent is a machine the operator named (`keyledger secret set-agent`): the gate's
read checks apply first (a revoked grant is a 403, a deleted secret a 404, which
stop the agent), then the binding. Any other machine, granted or not, gets an
audited 403 before anything is decrypted: only the agent sees the admin connection
and the pending value, and only it can confirm or reject.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.access import Caller, MachineGate
from application.ledger import Ledger
from application.ports import HeartbeatStore
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.project import Project
from domain.rotation import ERROR, HEALTHY, RotationSchedule, schedule_id
from domain.secret import Secret

POLL_INTERVAL_S = 10
AGENT_STATUSES = (HEALTHY, ERROR)
SAVE_ATTEMPTS = 3
Settle = Callable[[RotationSchedule], list[Aggregate]]


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
        self, caller: Caller, secret_id: str, action: str, *, fresh: bool
    ) -> tuple[RotationSchedule, Secret, Project]:
        secret, project = self.gate.check_secret(caller, secret_id)
        schedule = self._schedule(secret_id, fresh=fresh)
        self._require_agent(caller, schedule, action)
        return schedule, secret, project

    def _require_agent(self, caller: Caller, schedule: RotationSchedule, action: str) -> None:
        """Only the bound agent; anyone else is refused (audited) before any decryption."""
        machine_id = caller.machine.machine_id
        if schedule.agent_machine_id == machine_id:
            return
        self.gate.records.write(
            "agent_denied",
            caller.stamp(f"{action}: not this secret's agent"),
            secret_id=schedule.secret_id,
            key=caller.nonce_key,
        )
        raise Forbidden(
            f"Machine {machine_id} is not the agent of {schedule.secret_id}; the operator "
            f"names it with `keyledger secret set-agent {schedule.secret_id} {machine_id}`"
        )

    def sync_config(self, caller: Caller, secret_id: str) -> dict[str, Any]:
        schedule, _secret, project = self._check(caller, secret_id, "sync-config", fresh=False)
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
        schedule, _secret, _project = self._check(caller, secret_id, "wait", fresh=False)
        return schedule.pending.rotation_id if schedule.pending else None

    def heartbeat(self, caller: Caller, secret_id: str, status: str, error: str) -> dict[str, Any]:
        if status not in AGENT_STATUSES:
            raise InvalidInput("status must be healthy or error")
        if len(error) > 1000:
            raise InvalidInput("error must be at most 1000 characters")
        schedule, _secret, _project = self._check(caller, secret_id, "heartbeat", fresh=False)
        self.heartbeats.beat(secret_id, caller.machine.machine_id, self.clock.now_ms())
        error = error if status == ERROR else ""
        if status != schedule.agent_status or error != schedule.last_agent_error:
            schedule = self._schedule(secret_id, fresh=True)
            self._require_agent(caller, schedule, "heartbeat")
            detail = f"agent {status}" + (f": {error}" if error else "")
            schedule.change_agent_status(status, error, caller.stamp(detail))
            if schedule.pending_events:
                self.ledger.save_or_conflict(schedule)
        return {"ok": True, "rotationStatus": schedule.rotation_status}

    def _settle(
        self, caller: Caller, secret_id: str, action: str, change: Settle
    ) -> RotationSchedule:
        """Check, change and save on fresh aggregates, so the binding is judged as of
        the write. A lost race with the sweep or a heartbeat is retried, not answered
        409: to an agent a 409 means "no longer pending" and it would undo its apply."""
        self._check(caller, secret_id, action, fresh=False)
        for _retry in range(SAVE_ATTEMPTS - 1):
            schedule = self._schedule(secret_id, fresh=True)
            self._require_agent(caller, schedule, action)
            with contextlib.suppress(IntegrityError):
                self.ledger.save(*change(schedule))
                return schedule
        schedule = self._schedule(secret_id, fresh=True)
        self._require_agent(caller, schedule, action)
        self.ledger.save_or_conflict(*change(schedule))
        return schedule

    def confirm(self, caller: Caller, secret_id: str, rotation_id: str) -> dict[str, Any]:
        """The agent proved the database takes the pending value: promote it."""
        promoted: list[Secret] = []

        def change(schedule: RotationSchedule) -> list[Aggregate]:
            secret = self.ledger.secret(secret_id)
            stamp = caller.stamp(f"rotation {rotation_id[:40]} confirmed")
            pending = schedule.confirm(rotation_id, stamp)
            number = secret.next_version_number()
            detail = f"rotation {rotation_id} promoted to version {number}"
            secret.promote(pending.version, rotation_id, caller.stamp(detail))
            promoted[:] = [secret]
            return [schedule, secret]

        self._settle(caller, secret_id, "confirm", change)
        return {"version": promoted[0].current.number}

    def reject(
        self, caller: Caller, secret_id: str, rotation_id: str, error: str
    ) -> dict[str, Any]:
        """The agent could not make the database take it: live stays as it was."""
        error = error.strip()[:1000] or "the agent gave no reason"

        def change(schedule: RotationSchedule) -> list[Aggregate]:
            stamp = caller.stamp(f"rotation {rotation_id} rejected: {error}")
            schedule.reject(rotation_id, error, stamp)
            return [schedule]

        schedule = self._settle(caller, secret_id, "reject", change)
        return {"rotationStatus": schedule.rotation_status, "failures": schedule.failures}
