"""The dashboard's secret page and a project's trash: metadata, versions, grants and the
rotation schedule, read from the same read models and services as the operator API.

Never a value: versions are numbers and timestamps, grants are machine names.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Template

from domain import ids
from domain.errors import NotFound
from interfaces.bootstrap import Services
from interfaces.web.pages import page as page_of
from interfaces.web.session import Viewer, provide_viewer

PAGE_SIZE = 50


def live_project(services: Services, project_id: str) -> dict[str, Any]:
    """A project not in the trash, else 404 (an id of another kind is unknown too)."""
    found = (
        services.read_models.project(project_id)
        if ids.is_public_id(ids.PROJECT, project_id)
        else None
    )
    if found is None or "deletedAt" in found:
        raise NotFoundException(f"Project {project_id[:40]} not found")
    return found


def project_secret(services: Services, project_id: str, secret_id: str) -> dict[str, Any]:
    """A secret of this project (in the trash too), else 404: a secret id under another
    project's path is as unknown as a made-up one."""
    found = (
        services.read_models.secret(secret_id) if ids.is_public_id(ids.SECRET, secret_id) else None
    )
    if found is None or found["projectId"] != project_id:
        raise NotFoundException(f"Secret {secret_id[:40]} not found in this project")
    return found


def page_number(raw: str) -> int:
    """`?page=` as typed: anything but a positive number is the first page."""
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**9 else 1


def secret_list_context(
    services: Services, project_id: str, q: str, raw_page: str
) -> dict[str, Any]:
    """One page of the project's secrets, by name, and the links to its neighbours."""
    number = page_number(raw_page)
    found = services.read_models.secret_page(
        project_id, q, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return {
        "secrets": found.secrets,
        "total": found.total,
        "q": q.strip(),
        "page_number": number,
        "has_next": found.has_next,
        "first_shown": found.offset + 1 if found.secrets else 0,
        "last_shown": found.offset + len(found.secrets),
    }


def rotation_of(services: Services, secret_id: str) -> dict[str, Any] | None:
    """The secret's schedule as the API reports it; None while there is none."""
    try:
        return services.rotations.status(secret_id)
    except NotFound:
        return None


class SecretPages(Controller):
    path = "/projects/{project_id:str}"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def project(
        self, project_id: str, viewer: Viewer, services: Services, q: str = "", page: str = "1"
    ) -> Template:
        """One page of its secrets (search by name), the add forms, the trash link."""
        services.catch_up()
        return page_of(
            "project.html",
            viewer,
            "projects",
            project=live_project(services, project_id),
            frozen=services.ledger.project(project_id).frozen,
            machines=services.read_models.machines(),
            trash_count=len(services.read_models.project_trash(project_id)),
            **secret_list_context(services, project_id, q, page),
        )

    @get("/secrets/{secret_id:str}", sync_to_thread=True)
    def secret(
        self, project_id: str, secret_id: str, viewer: Viewer, services: Services
    ) -> Template:
        services.catch_up()
        project = live_project(services, project_id)
        secret = project_secret(services, project_id, secret_id)
        in_trash = "deletedAt" in secret
        granted = services.read_models.secret_grants(secret_id)
        granted_ids = {m["id"] for m in granted}
        grantable = [
            m
            for m in services.read_models.machines("approved")
            if m["enabled"] and m["id"] not in granted_ids
        ]
        return page_of(
            "secret.html",
            viewer,
            "projects",
            project=project,
            secret=secret,
            in_trash=in_trash,
            versions=list(reversed(services.read_models.versions(secret_id))),
            grants=granted,
            grantable=grantable,
            rotation=None if in_trash else rotation_of(services, secret_id),
            frozen=services.ledger.project(project_id).frozen,
            policies=[
                {"id": p.policy_id, "name": p.name} for p in services.policies.list(project_id)
            ],
            bound_policy=None if in_trash else services.ledger.secret(secret_id).policy_id,
        )

    @get("/trash", sync_to_thread=True)
    def trash(self, project_id: str, viewer: Viewer, services: Services) -> Template:
        services.catch_up()
        project = live_project(services, project_id)
        return page_of(
            "trash.html",
            viewer,
            "projects",
            project=project,
            trashed=services.read_models.project_trash(project_id),
        )
