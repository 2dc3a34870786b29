"""Rotation schedules and the server half of the two-phase saga.

The operator side (create a managed secret, schedule, rotate now, retry, status) and
the scheduler's jobs (`run_due`, `sweep`). Jobs take ids, re-read the aggregates and
do nothing when the work is no longer due, so running one twice is harmless.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from application.ledger import Ledger
from application.ports import HeartbeatStore, RotationDirectory
from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound
from domain.managed import Connection, validate_username
from domain.project import Project
from domain.rotation import (
    ERROR,
    HEALTHY,
    NO_AGENT,
    UNHEALTHY,
    UNHEALTHY_AFTER_MS,
    ManagedSpec,
    PendingRotation,
    RotationPolicy,
    RotationSchedule,
    schedule_id,
)
from domain.secret import Secret
from domain.values import SecretType, SecretVersion, generate_value

MANAGED_FIELDS = ("username", "password")
CONNECTION_VERSION = 0  # the sealed connection's AAD slot; values start at 1


class Rotations:
    def __init__(
        self, ledger: Ledger, heartbeats: HeartbeatStore, directory: RotationDirectory
    ) -> None:
        self.ledger = ledger
        self.keys = ledger.keys
        self.clock = ledger.clock
        self.heartbeats = heartbeats
        self.directory = directory

    # -- loading ---------------------------------------------------------------

    def schedule(self, secret_id: str) -> RotationSchedule:
        try:
            schedule: RotationSchedule = self.ledger.repository.get(schedule_id(secret_id))
        except AggregateNotFoundError:
            raise NotFound(f"Secret {secret_id[:40]} has no rotation schedule") from None
        return schedule

    def _find_schedule(self, secret_id: str) -> RotationSchedule | None:
        try:
            return self.schedule(secret_id)
        except NotFound:
            return None

    # -- operator commands -----------------------------------------------------

    def create_managed(
        self,
        project_id: str,
        name: str,
        connection: Connection,
        username: str,
        policy: RotationPolicy,
        audit: AuditStamp,
        note: str = "",
    ) -> Secret:
        """A structured {username, password} secret, its sealed connection and schedule."""
        username = validate_username(username)
        if policy.fields not in (None, ("password",)):
            raise InvalidInput("A managed secret rotates its password field only")
        password = generate_value(policy.length, policy.charset)
        claim, secret, project = self.ledger.prepare_secret(
            project_id,
            name,
            audit,
            fields={"username": username, "password": password},
            note=note,
            managed=True,
        )
        sealed = self.keys.seal_value(
            project.key_ref,
            secret.secret_id,
            CONNECTION_VERSION,
            json.dumps(connection.to_wire()).encode(),
        )
        schedule = RotationSchedule(
            secret_id=secret.secret_id,
            project_id=project_id,
            policy=RotationPolicy(policy.interval_s, policy.length, policy.charset, ("password",)),
            managed=ManagedSpec(connection.provider.value, username, sealed),
            next_due_ms=self.clock.now_ms() + policy.interval_s * 1000,
            audit=audit.with_detail(f"managed {connection.provider.value} role {username}"),
        )
        self.ledger.save_or_conflict(claim, secret, schedule)
        return secret

    def set_schedule(
        self, secret_id: str, policy: RotationPolicy, audit: AuditStamp
    ) -> RotationSchedule:
        """Attach a schedule to a secret, or change the one it has."""
        secret = self.ledger.secret(secret_id)
        if secret.canary is not None:
            raise InvalidInput(f"{secret_id} is a canary: its value never rotates")
        if policy.fields is not None:
            known = secret.field_names or ()
            unknown = [f for f in policy.fields if f not in known]
            if secret.secret_type is SecretType.STANDARD or unknown:
                raise InvalidInput(f"Not fields of {secret_id}: {', '.join(unknown) or 'any'}")
        schedule = self._find_schedule(secret_id)
        if secret.in_trash:
            raise Conflict(f"Secret {secret_id} is in the trash; restore it first")
        if schedule is None:
            schedule = RotationSchedule(
                secret_id=secret_id,
                project_id=secret.project_id,
                policy=policy,
                managed=None,
                next_due_ms=self.clock.now_ms() + policy.interval_s * 1000,
                audit=audit,
            )
        else:
            if schedule.managed is not None:
                policy = RotationPolicy(
                    policy.interval_s, policy.length, policy.charset, ("password",)
                )
            schedule.update_policy(policy, self.clock.now_ms(), audit)
        self.ledger.save_or_conflict(schedule)
        return schedule

    def pause(self, secret_id: str, audit: AuditStamp) -> RotationSchedule:
        schedule = self.schedule(secret_id)
        schedule.pause(audit)
        self.ledger.save_or_conflict(schedule)
        return schedule

    def resume(self, secret_id: str, audit: AuditStamp) -> RotationSchedule:
        schedule = self.schedule(secret_id)
        schedule.resume(self.clock.now_ms(), audit)
        self.ledger.save_or_conflict(schedule)
        return schedule

    def retry(self, secret_id: str, audit: AuditStamp) -> RotationSchedule:
        schedule = self.schedule(secret_id)
        schedule.retry(audit)
        self.ledger.save_or_conflict(schedule)
        return schedule

    def rotate_now(self, secret_id: str, audit: AuditStamp) -> dict[str, Any]:
        """Managed: issue the pending rotation now (the saga). Else a new version now."""
        secret = self.ledger.secret(secret_id)
        if secret.canary is not None:
            raise InvalidInput(f"{secret_id} is a canary: its value never rotates")
        schedule = self._find_schedule(secret_id)
        if schedule is not None and schedule.managed is not None:
            pending = self._issue(schedule, secret, audit, "rotate now")
            return {"rotationId": pending.rotation_id, "rotationStatus": "pending"}
        policy = schedule.policy if schedule is not None and not schedule.cancelled else None
        version = self._rotate(secret, policy, audit)
        if schedule is not None and not schedule.cancelled and schedule.enabled:
            schedule.advance(self.clock.now_ms() + schedule.policy.interval_s * 1000)
            self.ledger.save_or_conflict(secret, schedule)
        else:
            self.ledger.save_or_conflict(secret)
        return {"version": version.number, "rotationStatus": "none"}

    # -- the scheduler's jobs --------------------------------------------------

    def run_due(self, secret_id: str, due_ms: int) -> str:
        """Rotate a secret whose schedule is due (idempotent: re-checks everything)."""
        schedule = self._find_schedule(secret_id)
        now = self.clock.now_ms()
        if schedule is None or schedule.next_due_ms != due_ms or not schedule.is_due(now):
            return "not due"
        try:
            secret = self.ledger.secret(secret_id)
        except NotFound:
            return "gone"
        project = self.ledger.project(secret.project_id, in_trash=True)
        if secret.in_trash or project.in_trash:
            return "in trash"
        if project.frozen:
            return "frozen"  # waits: its agent is refused (423) until an operator unfreezes
        stamp = AuditStamp.system("scheduled rotation")
        if schedule.managed is not None:
            pending = self._issue(schedule, secret, stamp, "schedule")
            return f"pending {pending.rotation_id}"
        version = self._rotate(secret, schedule.policy, stamp)
        schedule.advance(now + schedule.policy.interval_s * 1000)
        self.ledger.save_or_conflict(secret, schedule)
        return f"version {version.number}"

    def due(self) -> list[tuple[str, int]]:
        return self.directory.due(self.clock.now_ms())

    def sweep(self) -> None:
        """Mark silent agents unhealthy and hold their pending rotations (audited once)."""
        now = self.clock.now_ms()
        for secret_id in self.directory.watched():
            schedule = self._find_schedule(secret_id)
            if schedule is None or schedule.managed is None or schedule.cancelled:
                continue
            status = self.agent_status(schedule, now)
            system = AuditStamp.system()
            if status == UNHEALTHY and schedule.agent_status != UNHEALTHY:
                schedule.change_agent_status(
                    UNHEALTHY, "", system.with_detail("no heartbeat for 90 s")
                )
            if schedule.pending is not None and not schedule.held and status != HEALTHY:
                schedule.hold(
                    system.with_detail(
                        f"rotation {schedule.pending.rotation_id} held: agent is {status}"
                    )
                )
            if schedule.pending_events:
                # Lost a race (a job or an agent saved it first): the next tick redoes it,
                # and the other schedules are still swept.
                with contextlib.suppress(Conflict):
                    self.ledger.save_or_conflict(schedule)

    # -- status ----------------------------------------------------------------

    def agent_status(self, schedule: RotationSchedule, now_ms: int) -> str:
        if schedule.agent_machine_id is None:
            return NO_AGENT
        last = self.heartbeats.last(schedule.secret_id, schedule.agent_machine_id)
        if last is None or now_ms - last > UNHEALTHY_AFTER_MS:
            return UNHEALTHY
        return ERROR if schedule.agent_status == ERROR else HEALTHY

    def status(self, secret_id: str) -> dict[str, Any]:
        secret = self.ledger.secret(secret_id)
        schedule = self._find_schedule(secret_id)
        out: dict[str, Any] = {
            "secretId": secret_id,
            "managed": secret.managed,
            "version": secret.current.number,
            "schedule": None,
            "agent": None,
            "rotation": "none",
            "error": None,
        }
        if schedule is None or schedule.cancelled:
            return out
        policy = schedule.policy
        out["schedule"] = {
            "intervalSeconds": policy.interval_s,
            "length": policy.length,
            "charset": policy.charset.value,
            "fields": list(policy.fields) if policy.fields is not None else None,
            "enabled": schedule.enabled,
            "nextDueMs": schedule.next_due_ms,
        }
        out["rotation"] = schedule.rotation_status
        out["error"] = schedule.last_error or None
        out["failures"] = schedule.failures
        if schedule.managed is not None:
            out["agent"] = self.agent_status(schedule, self.clock.now_ms())
            out["agentMachineId"] = schedule.agent_machine_id
            out["agentError"] = schedule.last_agent_error or None
            agent = schedule.agent_machine_id
            out["lastHeartbeatMs"] = self.heartbeats.last(secret_id, agent) if agent else None
            out["provider"] = schedule.managed.provider
            out["managedUsername"] = schedule.managed.username
            out["pendingRotationId"] = schedule.pending.rotation_id if schedule.pending else None
            out["held"] = schedule.held
        return out

    def managed_statuses(self) -> list[dict[str, Any]]:
        """status() of every managed secret not in the trash, with its name and project:
        the dashboard's Managed secrets page and overview counts (one query, then the
        aggregates, so agent health is as live as GET /rotation's)."""
        out = []
        for secret_id in self.directory.managed():
            try:
                secret = self.ledger.secret(secret_id)
            except NotFound:
                continue
            if secret.in_trash:
                continue
            status = self.status(secret_id)
            out.append({**status, "name": secret.name, "projectId": secret.project_id})
        return out

    # -- internals -------------------------------------------------------------

    def _project(self, secret: Secret) -> Project:
        return self.ledger.project(secret.project_id)

    def _next_plaintext(self, secret: Secret, policy: RotationPolicy | None) -> str:
        length = policy.length if policy else 32
        charset = policy.charset if policy else RotationPolicy(300).charset
        if secret.secret_type is SecretType.STANDARD:
            return generate_value(length, charset)
        current = json.loads(self.ledger.open_current(secret, self._project(secret)))
        rotating = policy.fields if policy and policy.fields is not None else tuple(current)
        for name in rotating:
            current[name] = generate_value(length, charset)
        return json.dumps(current, separators=(",", ":"))

    def _seal(self, secret: Secret, plaintext: str) -> SecretVersion:
        number = secret.next_version_number()
        sealed = self.keys.seal_value(
            self._project(secret).key_ref, secret.secret_id, number, plaintext.encode()
        )
        return SecretVersion(number, sealed, self.clock.now_ms(), field_names=secret.field_names)

    def _rotate(
        self, secret: Secret, policy: RotationPolicy | None, audit: AuditStamp
    ) -> SecretVersion:
        version = self._seal(secret, self._next_plaintext(secret, policy))
        secret.rotate(version, audit.with_detail(f"rotated to version {version.number}"))
        return version

    def _issue(
        self, schedule: RotationSchedule, secret: Secret, audit: AuditStamp, reason: str
    ) -> PendingRotation:
        if secret.in_trash:
            raise Conflict(f"Secret {secret.secret_id} is in the trash; restore it first")
        if schedule.cancelled:
            raise Conflict(f"The rotation schedule of {secret.secret_id} was cancelled")
        assert schedule.managed is not None
        value = {
            "username": schedule.managed.username,
            "password": generate_value(schedule.policy.length, schedule.policy.charset),
        }
        version = self._seal(secret, json.dumps(value, separators=(",", ":")))
        pending = PendingRotation(
            rotation_id=ids.new_public_id(ids.ROTATION),
            version=version,
            issued_ms=self.clock.now_ms(),
            reason=reason,
        )
        schedule.issue_pending(pending, audit.with_detail(f"{reason}: {pending.rotation_id}"))
        self.ledger.save_or_conflict(schedule)
        return pending
