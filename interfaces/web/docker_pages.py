"""The project page's "Docker bundle" form: the same service as
`POST /v1/admin/docker/provision`, behind the form's CSRF token. The link is shown on
the answer page only (no redirect: a link that is a credential never goes into a URL
of ours or the browser's history)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, post
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.response import Template

from domain.bundle import DEFAULT_MOUNT
from domain.errors import Sealed
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.http.docker import ProvisionBody, provision
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, Form, form_field, refused, user_stamp


def chosen(form: dict[str, Any], name: str) -> list[str]:
    """A checkbox group: one value arrives as a string, several as a list."""
    value = form.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in values if str(v).strip()]


class DockerPages(Controller):
    path = "/projects/{project_id:str}"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @post("/docker", sync_to_thread=True)
    def provision(
        self,
        project_id: str,
        data: Form,
        request: AnyRequest,
        viewer: Viewer,
        services: Services,
    ) -> Template:
        check_csrf(viewer.csrf, data)
        back = f"/projects/{project_id}"
        body = ProvisionBody(
            project_id=project_id,
            secret_ids=chosen(data, "secret_id"),
            name=form_field(data, "name"),
            mount_path=form_field(data, "mount_path") or DEFAULT_MOUNT,
        )
        try:
            made = provision(request, services, body, user_stamp(request, viewer))
        except (*REFUSED, Sealed) as error:
            return refused(viewer, str(error), back, "projects")
        return Template(
            template_name="docker_bundle.html",
            context={"csrf": viewer.csrf, "section": "projects", "made": made, "back": back},
            media_type=MediaType.HTML,
        )
