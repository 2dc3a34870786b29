"""The operator's enrollment tokens and temporary machines (admin API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import Provide

from domain.audit import AuditStamp
from domain.enrollment import EnrollmentToken
from domain.errors import InvalidInput
from domain.machineguard import parse_duration_ms
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, provide_operator, provide_stamp
from interfaces.http.enroll import api_url
from interfaces.http.machines_admin import machine_view
from interfaces.http.snippets import snippet


class _Body(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    pass


class EnrollmentBody(_Body):
    name: str
    project_ids: list[str]
    secret_ids: list[str] = []
    token_lifetime: str = "30d"  # noqa: S105 - a duration, not a password
    machine_lifetime: str = "1h"
    max_uses: int = 100
    source_cidr: str | None = None
    hostname_pattern: str | None = None
    name_pattern: str | None = None


class TempTokenBody(_Body):
    name: str
    lifetime: str
    ips: list[str] = []
    hours: str | None = None
    tz: str = "UTC"


class ExtendBody(_Body):
    until: str
    reason: str


def parse_instant_ms(text: str) -> int:
    """An ISO date or date-time (UTC unless it says otherwise) → epoch ms."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("until must be an ISO date such as 2027-03-01") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def enrollment_view(e: EnrollmentToken, now_ms: int) -> dict[str, Any]:
    return {
        "id": e.enrollment_id,
        "name": e.name,
        "status": e.status(now_ms),
        "projectIds": list(e.project_ids),
        "secretIds": list(e.secret_ids),
        "expiresAt": e.expires_ms,
        "machineLifetimeMs": e.machine_lifetime_ms,
        "maxUses": e.max_uses,
        "uses": e.uses,
        "sourceCidr": e.source_cidr,
        "hostnamePattern": e.hostname_pattern,
        "namePattern": e.name_pattern,
        "createdAt": e.created_ms,
        "machineIds": list(e.machine_ids[-100:]),
    }


class EnrollmentAdminController(Controller):
    path = "/v1/admin"
    tags = ["enrollment"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/enrollments", sync_to_thread=True, status_code=201)
    def create(self, data: EnrollmentBody, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """A new enrollment token; its plaintext is in this answer and nowhere else."""
        enrollment, token = services.enrollments.create(
            data.name,
            data.project_ids,
            data.secret_ids,
            parse_duration_ms(data.token_lifetime, "tokenLifetime"),
            parse_duration_ms(data.machine_lifetime, "machineLifetime"),
            data.max_uses,
            data.source_cidr,
            data.hostname_pattern,
            data.name_pattern,
            stamp,
        )
        services.projector.catch_up()
        now = services.clock.now_ms()
        vault = services.ledger.vault()
        return {
            **enrollment_view(enrollment, now),
            "token": token,
            "vaultId": vault.vault_id if vault else None,
        }

    @get("/enrollments", sync_to_thread=True)
    def list_enrollments(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        now = services.clock.now_ms()
        return {"enrollments": [enrollment_view(e, now) for e in services.enrollments.all()]}

    @get("/enrollments/{enrollment_id:str}", sync_to_thread=True)
    def show(self, enrollment_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return enrollment_view(services.enrollments.get(enrollment_id), services.clock.now_ms())

    @post("/enrollments/{enrollment_id:str}/revoke", sync_to_thread=True, status_code=200)
    def revoke(self, enrollment_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """New enrollments stop; machines already enrolled keep their lifetime."""
        enrollment = services.enrollments.revoke(enrollment_id, stamp)
        services.projector.catch_up()
        return enrollment_view(enrollment, services.clock.now_ms())

    @get("/enrollments/{enrollment_id:str}/snippet", sync_to_thread=True)
    def snippet(
        self,
        enrollment_id: str,
        request: AnyRequest,
        services: Services,
        stamp: AuditStamp,
        provider: str = "github",
    ) -> Response[str]:
        enrollment = services.enrollments.get(enrollment_id)
        vault = services.ledger.vault()
        text = snippet(
            provider, api_url(request, services), vault.vault_id if vault else "", enrollment
        )
        return Response(text, media_type="text/plain")

    @post("/machines/temp-token", sync_to_thread=True, status_code=201)
    def temp_token(
        self, data: TempTokenBody, request: AnyRequest, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """A single-use token for one temporary machine (approval still required)."""
        url = api_url(request, services)
        token, expires = services.temp_machines.create_token(
            data.name,
            parse_duration_ms(data.lifetime, "lifetime"),
            data.ips,
            data.hours,
            data.tz,
            stamp,
        )
        services.projector.catch_up()
        vault = services.ledger.vault()
        vault_id = vault.vault_id if vault else ""
        return {
            "token": token,
            "expiresAt": expires,
            "command": f"curl -sSL {url}/v1/{vault_id}/temp-bootstrap/{token} | sh",
        }

    @post("/machines/{machine_id:str}/extend", sync_to_thread=True, status_code=200)
    def extend(
        self, machine_id: str, data: ExtendBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        until = parse_instant_ms(data.until)
        machine = services.temp_machines.extend(machine_id, until, data.reason, stamp)
        services.projector.catch_up()
        return machine_view(machine)

    @post("/machines/{machine_id:str}/extend-revert", sync_to_thread=True, status_code=200)
    def extend_revert(
        self, machine_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        machine = services.temp_machines.revert(machine_id, stamp)
        services.projector.catch_up()
        return machine_view(machine)
