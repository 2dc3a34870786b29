"""A project's access policies in the dashboard: list, create, delete, dry-run, and
binding a secret to one. Plain forms, CSRF-checked, Post/Redirect/Get.

Every action is the `Policies` / `PolicyDryRuns` method the operator API calls
(interfaces/http/policies.py), so validation, audit events and refusals are the same:
bad input shows the service's message (400), a bound policy's delete its 409.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.response import Template

from domain.errors import Conflict, NotFound
from domain.policy import AccessPolicy
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.web.pages import page
from interfaces.web.policy_forms import DAY_FIELDS, in_words, wire_body
from interfaces.web.secret_pages import live_project, project_secret
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, Form, done, form_field, user_stamp


def not_done(viewer: Viewer, error: Exception, back: str) -> Template:
    """The service's message with nothing saved: 409 for a conflict, else 400."""
    return Template(
        template_name="refused.html",
        context={"csrf": viewer.csrf, "section": "projects", "error": str(error), "back": back},
        status_code=409 if isinstance(error, Conflict) else 400,
        media_type=MediaType.HTML,
    )


def project_policy(services: Services, project_id: str, policy_id: str) -> AccessPolicy:
    """A live policy of this project, else 404 (another project's id is as unknown)."""
    try:
        policy = services.policies.show(policy_id)
    except REFUSED:
        policy = None
    if policy is None or policy.project_id != project_id:
        raise NotFoundException(f"Policy {policy_id[:40]} not found in this project")
    return policy


def policy_rows(services: Services, project_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": p.policy_id,
            "name": p.name,
            "words": in_words(p.rules),
            "bound": len(services.policies.view(p)["boundSecrets"]),
        }
        for p in services.policies.list(project_id)
    ]


def dry_run_days(raw: str) -> int:
    """`?days=` as typed; anything but a number is left to the service to refuse."""
    return int(raw) if raw.strip().isdigit() and len(raw.strip()) < 6 else 0


class PolicyPages(Controller):
    path = "/projects/{project_id:str}/policies"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def policies(self, project_id: str, viewer: Viewer, services: Services) -> Template:
        project = live_project(services, project_id)
        return page(
            "policies.html",
            viewer,
            "projects",
            project=project,
            policies=policy_rows(services, project_id),
            day_fields=DAY_FIELDS,
        )

    @post("/", sync_to_thread=True)
    def create(
        self, project_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        back = f"/projects/{project_id}/policies"
        live_project(services, project_id)
        try:
            services.policies.create(
                project_id, form_field(data, "name"), wire_body(data), user_stamp(request, viewer)
            )
        except REFUSED as error:
            return not_done(viewer, error, back)
        return done(back, "policy-created")

    @post("/{policy_id:str}/delete", sync_to_thread=True)
    def delete(
        self,
        project_id: str,
        policy_id: str,
        data: Form,
        request: AnyRequest,
        viewer: Viewer,
        services: Services,
    ) -> Any:
        check_csrf(viewer.csrf, data)
        back = f"/projects/{project_id}/policies"
        project_policy(services, project_id, policy_id)
        try:
            services.policies.delete(policy_id, user_stamp(request, viewer))
        except REFUSED as error:
            return not_done(viewer, error, back)
        return done(back, "policy-deleted")

    @get("/{policy_id:str}/dry-run", sync_to_thread=True)
    def dry_run(
        self, project_id: str, policy_id: str, viewer: Viewer, services: Services, days: str = "7"
    ) -> Template:
        """A read: the recorded reads re-judged, nothing changes (so no CSRF token)."""
        project = live_project(services, project_id)
        policy = project_policy(services, project_id, policy_id)
        try:
            result = services.dry_runs.run(policy_id, None, dry_run_days(days))
        except REFUSED as error:
            return not_done(viewer, error, f"/projects/{project_id}/policies")
        return page(
            "policy_dry_run.html",
            viewer,
            "projects",
            project=project,
            policy={"id": policy.policy_id, "name": policy.name, "words": in_words(policy.rules)},
            result=result,
            machine_names={m["id"]: m["name"] for m in services.read_models.machines()},
        )

    @post("/bind", sync_to_thread=True)
    def bind(
        self, project_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """Binds the chosen policy to the secret (a previous binding is replaced)."""
        check_csrf(viewer.csrf, data)
        secret = project_secret(services, project_id, form_field(data, "secret_id"))
        back = f"/projects/{project_id}/secrets/{secret['id']}"
        try:
            policy = project_policy(services, project_id, form_field(data, "policy_id"))
        except NotFoundException as error:
            return not_done(viewer, NotFound(str(error.detail)), back)
        try:
            services.policies.bind(secret["id"], policy.policy_id, user_stamp(request, viewer))
        except REFUSED as error:
            return not_done(viewer, error, back)
        return done(back, "policy-bound")

    @post("/unbind", sync_to_thread=True)
    def unbind(
        self, project_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        secret = project_secret(services, project_id, form_field(data, "secret_id"))
        back = f"/projects/{project_id}/secrets/{secret['id']}"
        try:
            services.policies.unbind(secret["id"], user_stamp(request, viewer))
        except REFUSED as error:
            return not_done(viewer, error, back)
        return done(back, "policy-unbound")
