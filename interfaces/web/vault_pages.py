"""The dashboard's actions on the vault: plain HTML forms, CSRF-checked, PRG redirects.

Each action calls the same application service as the operator API (interfaces/http/
vault.py, machines_admin.py), so the rules, audit records and refusals are the same.
A refusal re-renders a small page with the service's message; values never come back.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.enums import MediaType, RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect, Template

from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.errors import Conflict, Forbidden, InvalidInput, Locked, NotFound
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, client_ip
from interfaces.http.enroll import api_url
from interfaces.http.machines_admin import connect_commands
from interfaces.web.session import Viewer, check_csrf, provide_viewer

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
REFUSED = (InvalidInput, NotFound, Conflict, Locked, Forbidden)
MACHINE_VERBS = ("approve", "deny", "enable", "disable", "revoke")


def user_stamp(request: AnyRequest, viewer: Viewer) -> AuditStamp:
    return AuditStamp(ActorKind.USER, client_ip(request), user_id=viewer.session.user_id)


def form_field(form: dict[str, Any], name: str) -> str:
    return str(form.get(name, "")).strip()


def done(to: str, flash: str) -> Redirect:
    """Post/Redirect/Get: the flash is a fixed key the page maps to its message."""
    return Redirect(f"{to}?done={flash}", status_code=303)


def refused(viewer: Viewer, message: str, back: str, section: str) -> Template:
    return Template(
        template_name="refused.html",
        context={"csrf": viewer.csrf, "section": section, "error": message, "back": back},
        status_code=400,
        media_type=MediaType.HTML,
    )


def machine_verb(
    machine_id: str, verb: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
) -> Any:
    """approve, deny, enable, disable, revoke: the MachineService method of that name."""
    check_csrf(viewer.csrf, data)
    if verb not in MACHINE_VERBS:
        raise NotFoundException(f"No action {verb}")
    try:
        getattr(services.machines, verb)(machine_id, user_stamp(request, viewer))
    except REFUSED as error:
        return refused(viewer, str(error), "/machines", "machines")
    services.projector.catch_up()
    return done("/machines", f"machine-{verb}")


class VaultActions(Controller):
    path = "/"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @post("/projects", sync_to_thread=True)
    def create_project(
        self, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        try:
            project = services.ledger.create_project(
                form_field(data, "name"),
                form_field(data, "description"),
                user_stamp(request, viewer),
            )
        except REFUSED as error:
            return refused(viewer, str(error), "/projects", "projects")
        services.projector.catch_up()
        return done(f"/projects/{project.project_id}", "project-created")

    @post("/projects/{project_id:str}/secrets", sync_to_thread=True)
    def create_secret(
        self, project_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        back = f"/projects/{project_id}"
        value = str(data.get("value", ""))  # never stripped, logged or echoed
        try:
            ids.require(ids.PROJECT, project_id)
            if not value:
                raise InvalidInput("Type the secret's value: it is sent once and never shown")
            services.ledger.create_secret(
                project_id,
                form_field(data, "name"),
                user_stamp(request, viewer),
                value=value,
                note=form_field(data, "note"),
            )
        except REFUSED as error:
            return refused(viewer, str(error), back, "projects")
        services.projector.catch_up()
        return done(back, "secret-created")

    @post("/machines/token", sync_to_thread=True)
    def bootstrap_token(
        self, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """Shown once in this response (no redirect: a token never goes into a URL)."""
        check_csrf(viewer.csrf, data)
        try:
            url = api_url(request, services)
            token, expires = services.machines.create_bootstrap_token(
                form_field(data, "name"), user_stamp(request, viewer)
            )
        except REFUSED as error:
            return refused(viewer, str(error), "/machines", "machines")
        services.projector.catch_up()
        return Template(
            template_name="bootstrap_token.html",
            context={
                "csrf": viewer.csrf,
                "section": "machines",
                "expires": expires,
                "commands": connect_commands(url, token),
            },
            media_type=MediaType.HTML,
        )

    @get("/machines/{machine_id:str}/revoke", sync_to_thread=True)
    def revoke_preview(self, machine_id: str, viewer: Viewer, services: Services) -> Template:
        """What a revoke removes, counted by the API's own preview, before the owner confirms."""
        services.projector.catch_up()
        try:
            machine = services.machines.machine(machine_id)
            preview = services.machines.revoke_preview(machine_id)
        except NotFound as missing:
            raise NotFoundException(str(missing)) from None
        return Template(
            template_name="revoke.html",
            context={"csrf": viewer.csrf, "section": "machines", "machine": machine, **preview},
            media_type=MediaType.HTML,
        )

    @post("/machines/{machine_id:str}/{verb:str}", sync_to_thread=True)
    def machine_action(
        self,
        machine_id: str,
        verb: str,
        data: Form,
        request: AnyRequest,
        viewer: Viewer,
        services: Services,
    ) -> Any:
        return machine_verb(machine_id, verb, data, request, viewer, services)

    @post("/machines/{machine_id:str}/revoke", sync_to_thread=True)
    def revoke(
        self, machine_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """Its own route: the preview's GET on this path would otherwise shadow the POST."""
        return machine_verb(machine_id, "revoke", data, request, viewer, services)

    @post("/projects/{project_id:str}/grants", sync_to_thread=True)
    def grant(
        self, project_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """One click for the operator's two steps: join the project, then the grant."""
        check_csrf(viewer.csrf, data)
        back = f"/projects/{project_id}"
        machine_id, secret_id = form_field(data, "machine_id"), form_field(data, "secret_id")
        stamp = user_stamp(request, viewer)
        try:
            ids.require(ids.PROJECT, project_id)
            ids.require(ids.SECRET, secret_id)
            if services.ledger.secret(secret_id).project_id != project_id:
                raise NotFound(f"Secret {secret_id} not found in this project")
            if machine_id not in services.ledger.project(project_id).machines:
                services.machines.add_to_project(machine_id, project_id, stamp)
            services.machines.grant(machine_id, secret_id, stamp)
        except REFUSED as error:
            return refused(viewer, str(error), back, "projects")
        services.projector.catch_up()
        return done(back, "granted")
