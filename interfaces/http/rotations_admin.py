"""Operator endpoints for rotation: managed secrets, schedules, rotate now, status."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from domain import ids
from domain.audit import AuditStamp
from domain.errors import InvalidInput
from domain.managed import DEFAULT_PORTS, Connection, parse_provider
from domain.rotation import RotationPolicy
from domain.values import Charset
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator, provide_stamp
from interfaces.http.schemas import MachineIdBody, ManagedSecretBody, ScheduleBody
from interfaces.http.vault import _check, _secret


def _charset(value: str) -> Charset:
    try:
        return Charset(value)
    except ValueError:
        names = ", ".join(c.value for c in Charset)
        raise InvalidInput(f"charset must be one of {names}") from None


def _policy(interval: int, length: int, charset: str, fields: list[str] | None) -> RotationPolicy:
    return RotationPolicy(
        interval_s=interval,
        length=length,
        charset=_charset(charset),
        fields=tuple(fields) if fields is not None else None,
    )


class RotationAdminController(Controller):
    path = "/v1/admin"
    tags = ["rotation"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/projects/{project_id:str}/managed-secrets", sync_to_thread=True, status_code=201)
    def create_managed(
        self, project_id: str, data: ManagedSecretBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """A managed secret: {username, password}, a sealed connection and a schedule."""
        _check(ids.PROJECT, project_id, "Project")
        provider = parse_provider(data.provider)
        connection = Connection(
            provider=provider,
            host=data.host,
            port=data.port or DEFAULT_PORTS[provider],
            database=data.database,
            admin_user=data.admin_user,
            admin_pass=data.admin_pass,
            options=dict(data.options or {}),
        )
        policy = _policy(data.interval_seconds, data.length, data.charset, None)
        secret = services.rotations.create_managed(
            project_id, data.name, connection, data.username, policy, stamp, note=data.note
        )
        return {
            **_secret(services, secret.secret_id),
            **services.rotations.status(secret.secret_id),
        }

    @post("/secrets/{secret_id:str}/schedule", sync_to_thread=True, status_code=200)
    def set_schedule(
        self, secret_id: str, data: ScheduleBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        policy = _policy(data.interval_seconds, data.length, data.charset, data.fields)
        services.rotations.set_schedule(secret_id, policy, stamp)
        return services.rotations.status(secret_id)

    @post("/secrets/{secret_id:str}/schedule/pause", sync_to_thread=True, status_code=200)
    def pause(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.rotations.pause(secret_id, stamp)
        return services.rotations.status(secret_id)

    @post("/secrets/{secret_id:str}/schedule/resume", sync_to_thread=True, status_code=200)
    def resume(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.rotations.resume(secret_id, stamp)
        return services.rotations.status(secret_id)

    @post("/secrets/{secret_id:str}/rotate", sync_to_thread=True, status_code=200)
    def rotate(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """Rotate now: a managed secret's schedule is brought forward (the saga)."""
        _check(ids.SECRET, secret_id, "Secret")
        outcome = services.rotations.rotate_now(secret_id, stamp)
        return {**services.rotations.status(secret_id), **outcome}

    @post("/secrets/{secret_id:str}/retry-rotation", sync_to_thread=True, status_code=200)
    def retry(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.rotations.retry(secret_id, stamp)
        return services.rotations.status(secret_id)

    @post("/secrets/{secret_id:str}/set-agent", sync_to_thread=True, status_code=200)
    def set_agent(
        self, secret_id: str, data: MachineIdBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """Name the machine that runs this managed secret's sync agent (re-binding too)."""
        _check(ids.SECRET, secret_id, "Secret")
        services.agents.set_agent(secret_id, data.machine_id, stamp)
        return services.rotations.status(secret_id)

    @post("/secrets/{secret_id:str}/unset-agent", sync_to_thread=True, status_code=200)
    def unset_agent(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """No machine is the agent any more: sync-config, confirm, reject answer 403."""
        _check(ids.SECRET, secret_id, "Secret")
        services.agents.unset_agent(secret_id, stamp)
        return services.rotations.status(secret_id)

    @get("/secrets/{secret_id:str}/rotation", sync_to_thread=True)
    def status(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        return services.rotations.status(secret_id)
