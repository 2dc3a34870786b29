"""The dashboard's Managed secrets page: agent health, pending/held/failed rotations,
and the two actions an operator takes on them (Retry rotation, Rotate now).

Both actions call the Rotations service behind POST /v1/admin/secrets/{id}/retry-rotation
and /rotate, so the saga's rules (a failed rotation blocks new ones until retried) hold
here too. The page shows the rotation's error text, never a value.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.response import Template

from domain import ids
from domain.errors import Conflict, InvalidInput, NotFound
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.web.auth import Form
from interfaces.web.pages import attention, page
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, done, refused, user_stamp

BACK = "/managed"
STATUS: dict[type[Exception], int] = {NotFound: 404, Conflict: 409}


def not_done(viewer: Viewer, error: Exception) -> Template:
    """The refusal page with the API's status code for the same error."""
    shown = refused(viewer, str(error), BACK, "managed")
    shown.status_code = STATUS.get(type(error), 400)
    return shown


def needs_retry(status: dict[str, Any]) -> bool:
    """What the service's retry accepts: a failed rotation, or rejections since the last
    success (a held rotation without rejections resumes by itself when the agent is back)."""
    return status["rotation"] == "failed" or bool(status.get("failures"))


class ManagedPages(Controller):
    path = "/managed"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def managed(self, viewer: Viewer, services: Services) -> Template:
        services.catch_up()
        statuses = services.rotations.managed_statuses()
        names = {p["id"]: p["name"] for p in services.read_models.projects()}
        machines = {m["id"]: m["name"] for m in services.read_models.machines()}
        for status in statuses:
            status["retry"] = needs_retry(status)
        return page(
            "managed.html",
            viewer,
            "managed",
            managed=statuses,
            names=names,
            machines=machines,
            counts=attention(statuses),
        )

    @post("/{secret_id:str}/retry", sync_to_thread=True)
    def retry(
        self, secret_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """Reset a failed rotation: the next cycle (or Rotate now) tries again."""
        check_csrf(viewer.csrf, data)
        try:
            services.rotations.retry(
                ids.require(ids.SECRET, secret_id), user_stamp(request, viewer)
            )
        except REFUSED as error:
            return not_done(viewer, error)
        services.catch_up()
        return done(BACK, "rotation-retried")

    @post("/{secret_id:str}/rotate", sync_to_thread=True)
    def rotate(
        self, secret_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """Issue a pending rotation now; the agent applies it and confirms or rejects."""
        check_csrf(viewer.csrf, data)
        try:
            secret_id = ids.require(ids.SECRET, secret_id)
            if not services.rotations.status(secret_id)["managed"]:
                raise InvalidInput(f"{secret_id} is not a managed secret")
            services.rotations.rotate_now(secret_id, user_stamp(request, viewer))
        except REFUSED as error:
            return not_done(viewer, error)
        services.catch_up()
        return done(BACK, "rotation-issued")
