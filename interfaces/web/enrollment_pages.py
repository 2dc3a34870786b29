"""The Enrollment page: enrollment tokens in the browser (list, create with the
token shown once, revoke). Calls the same `Enrollments` service as the API."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.response import Template

from domain.machineguard import parse_duration_ms
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.http.enrollments_admin import enrollment_view
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, Form, done, form_field, refused, user_stamp


def _many(form: dict[str, Any], name: str) -> list[str]:
    """A multi-select arrives as a list (several chosen) or a string (one)."""
    value = form.get(name, [])
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []


def _choices(services: Services) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    projects = services.read_models.projects()
    secrets = [
        {**s, "projectName": p["name"]}
        for p in projects
        for s in services.read_models.secrets(p["id"])
    ]
    return projects, secrets


class EnrollmentPages(Controller):
    path = "/enrollment"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def page(self, viewer: Viewer, services: Services, done: str | None = None) -> Template:
        now = services.clock.now_ms()
        projects, secrets = _choices(services)
        return Template(
            template_name="enrollment.html",
            context={
                "csrf": viewer.csrf,
                "section": "enrollment",
                "tokens": [enrollment_view(e, now) for e in services.enrollments.all()],
                "projects": projects,
                "secrets": secrets,
                "revoked": done == "enrollment-revoked",
            },
            media_type=MediaType.HTML,
        )

    @post("/", sync_to_thread=True)
    def create(self, data: Form, request: AnyRequest, viewer: Viewer, services: Services) -> Any:
        """The token is in this response only (no redirect: it never goes into a URL)."""
        check_csrf(viewer.csrf, data)
        try:
            max_uses = int(form_field(data, "max_uses") or "100")
        except ValueError:
            return refused(viewer, "Max uses must be a whole number", "/enrollment", "enrollment")
        try:
            enrollment, token = services.enrollments.create(
                form_field(data, "name"),
                _many(data, "projects"),
                _many(data, "secrets"),
                parse_duration_ms(form_field(data, "token_lifetime") or "30d", "Token lifetime"),
                parse_duration_ms(form_field(data, "machine_lifetime") or "1h", "Machine lifetime"),
                max_uses,
                form_field(data, "source_cidr") or None,
                form_field(data, "hostname_pattern") or None,
                form_field(data, "name_pattern") or None,
                user_stamp(request, viewer),
            )
        except REFUSED as error:
            return refused(viewer, str(error), "/enrollment", "enrollment")
        services.projector.catch_up()
        vault = services.ledger.vault()
        return Template(
            template_name="enrollment_created.html",
            context={
                "csrf": viewer.csrf,
                "section": "enrollment",
                "token": token,
                "vault_id": vault.vault_id if vault else "",
                "e": enrollment_view(enrollment, services.clock.now_ms()),
            },
            media_type=MediaType.HTML,
        )

    @post("/{enrollment_id:str}/revoke", sync_to_thread=True)
    def revoke(
        self,
        enrollment_id: str,
        data: Form,
        request: AnyRequest,
        viewer: Viewer,
        services: Services,
    ) -> Any:
        check_csrf(viewer.csrf, data)
        try:
            services.enrollments.revoke(enrollment_id, user_stamp(request, viewer))
        except REFUSED as error:
            return refused(viewer, str(error), "/enrollment", "enrollment")
        services.projector.catch_up()
        return done("/enrollment", "enrollment-revoked")
