"""Canaries and project freeze for the operator: metadata only, never a canary's value."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter

from domain import ids
from domain.audit import AuditStamp
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator, provide_stamp
from interfaces.http.schemas import CanaryBody


def _frozen(project_id: str, frozen: bool) -> dict[str, Any]:
    return {"id": project_id, "frozen": frozen}


class CanaryController(Controller):
    path = "/v1/admin"
    tags = ["canaries"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/canaries", sync_to_thread=True, status_code=201)
    def create(self, data: CanaryBody, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        canaries = services.canaries
        secret = canaries.create(
            ids.require(ids.PROJECT, data.project_id),
            data.name,
            stamp,
            freeze_project=data.trigger_freeze_project,
            freeze_related=data.trigger_freeze_related_projects,
            armed=data.enabled,
        )
        services.projector.catch_up()
        return canaries.view(secret)

    @get("/canaries", sync_to_thread=True)
    def list_canaries(
        self,
        services: Services,
        stamp: AuditStamp,
        project_id: Annotated[str | None, Parameter(query="projectId", required=False)] = None,
    ) -> dict[str, Any]:
        """All canaries, or one project's (`?projectId=`)."""
        services.projector.catch_up()
        return {"canaries": services.canaries.list(project_id)}

    @get("/canaries/{secret_id:str}", sync_to_thread=True)
    def show(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        canaries = services.canaries
        return canaries.view(canaries.canary(ids.require(ids.SECRET, secret_id)))

    @post("/canaries/{secret_id:str}/arm", sync_to_thread=True, status_code=200)
    def arm(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        canaries = services.canaries
        return canaries.view(canaries.set_armed(ids.require(ids.SECRET, secret_id), True, stamp))

    @post("/canaries/{secret_id:str}/disarm", sync_to_thread=True, status_code=200)
    def disarm(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        canaries = services.canaries
        return canaries.view(canaries.set_armed(ids.require(ids.SECRET, secret_id), False, stamp))

    @post("/projects/{project_id:str}/freeze", sync_to_thread=True, status_code=200)
    def freeze(self, project_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """Every machine request touching the project answers 423 until unfrozen."""
        project = services.freezes.freeze(ids.require(ids.PROJECT, project_id), stamp)
        return _frozen(project.project_id, project.frozen)

    @post("/projects/{project_id:str}/unfreeze", sync_to_thread=True, status_code=200)
    def unfreeze(self, project_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """Reads resume; canaries stay armed."""
        project = services.freezes.unfreeze(ids.require(ids.PROJECT, project_id), stamp)
        return _frozen(project.project_id, project.frozen)
