"""Projects and secrets for the operator: metadata in, metadata out, never a value out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from domain import ids
from domain.audit import AuditStamp
from domain.errors import InvalidInput, NotFound
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator, provide_stamp
from interfaces.http.schemas import (
    NameBody,
    NoteBody,
    ProjectBody,
    ProjectUpdateBody,
    ReplaceBody,
    RollbackBody,
    SecretBody,
)


def _check(prefix: str, value: str, what: str) -> str:
    """At the edge as in the services: an id of another kind is an unknown id."""
    return ids.require(prefix, value)


def _project(services: Services, project_id: str) -> dict[str, Any]:
    services.projector.catch_up()
    found = services.read_models.project(project_id)
    if found is None:
        raise NotFound(f"Project {project_id} not found")
    return found


def _secret(services: Services, secret_id: str) -> dict[str, Any]:
    services.projector.catch_up()
    found = services.read_models.secret(secret_id)
    if found is None:
        raise NotFound(f"Secret {secret_id} not found")
    return found


class VaultController(Controller):
    path = "/v1/admin"
    tags = ["vault"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    # -- projects --------------------------------------------------------------

    @get("/projects", sync_to_thread=True)
    def list_projects(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        services.projector.catch_up()
        return {"projects": services.read_models.projects()}

    @post("/projects", sync_to_thread=True, status_code=201)
    def create_project(
        self, data: ProjectBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        project = services.ledger.create_project(data.name, data.description, stamp)
        return _project(services, project.project_id)

    @get("/projects/{project_id:str}", sync_to_thread=True)
    def get_project(self, project_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return _project(services, _check(ids.PROJECT, project_id, "Project"))

    @post("/projects/{project_id:str}/update", sync_to_thread=True, status_code=200)
    def update_project(
        self, project_id: str, data: ProjectUpdateBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.PROJECT, project_id, "Project")
        services.ledger.update_project(project_id, data.name, data.description, stamp)
        return _project(services, project_id)

    @post("/projects/{project_id:str}/delete", sync_to_thread=True, status_code=200)
    def delete_project(
        self, project_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """To the trash for 30 days: machines are answered as for a deleted secret."""
        _check(ids.PROJECT, project_id, "Project")
        services.project_trash.delete(project_id, stamp)
        return _project(services, project_id)

    @post("/projects/{project_id:str}/restore", sync_to_thread=True, status_code=200)
    def restore_project(
        self, project_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.PROJECT, project_id, "Project")
        services.project_trash.restore(project_id, stamp)
        return _project(services, project_id)

    @post("/projects/{project_id:str}/purge", sync_to_thread=True, status_code=200)
    def purge_project(
        self, project_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """Crypto-shred a project in the trash: its key is destroyed, as an event."""
        _check(ids.PROJECT, project_id, "Project")
        services.projector.catch_up()  # its secrets' data keys are listed from it
        services.project_trash.purge(project_id, stamp)
        services.projector.catch_up()
        return {"id": project_id, "purged": True}

    @get("/projects/{project_id:str}/secrets", sync_to_thread=True)
    def list_secrets(
        self, project_id: str, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _project(services, _check(ids.PROJECT, project_id, "Project"))
        return {"secrets": services.read_models.secrets(project_id)}

    @post("/projects/{project_id:str}/secrets", sync_to_thread=True, status_code=201)
    def create_secret(
        self, project_id: str, data: SecretBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.PROJECT, project_id, "Project")
        secret = services.ledger.create_secret(
            project_id, data.name, stamp, value=data.value, fields=data.fields, note=data.note
        )
        return _secret(services, secret.secret_id)

    # -- secrets ---------------------------------------------------------------

    @get("/secrets/{secret_id:str}", sync_to_thread=True)
    def get_secret(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return _secret(services, _check(ids.SECRET, secret_id, "Secret"))

    @get("/secrets/{secret_id:str}/versions", sync_to_thread=True)
    def versions(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        current = _secret(services, _check(ids.SECRET, secret_id, "Secret"))
        return {
            "secretId": secret_id,
            "current": current["version"],
            "versions": services.read_models.versions(secret_id),
        }

    @post("/secrets/{secret_id:str}/replace", sync_to_thread=True, status_code=200)
    def replace(
        self, secret_id: str, data: ReplaceBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.ledger.replace_secret(secret_id, stamp, value=data.value, fields=data.fields)
        return _secret(services, secret_id)

    @post("/secrets/{secret_id:str}/rollback", sync_to_thread=True, status_code=200)
    def rollback(
        self, secret_id: str, data: RollbackBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        if data.version < 1:
            raise InvalidInput("version must be a positive number")
        services.ledger.roll_back_secret(secret_id, data.version, stamp)
        return _secret(services, secret_id)

    @post("/secrets/{secret_id:str}/name", sync_to_thread=True, status_code=200)
    def rename(
        self, secret_id: str, data: NameBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.ledger.rename_secret(secret_id, data.name, stamp)
        return _secret(services, secret_id)

    @post("/secrets/{secret_id:str}/note", sync_to_thread=True, status_code=200)
    def note(
        self, secret_id: str, data: NoteBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.ledger.update_note(secret_id, data.note, stamp)
        return _secret(services, secret_id)

    @post("/secrets/{secret_id:str}/delete", sync_to_thread=True, status_code=200)
    def delete(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.ledger.delete_secret(secret_id, stamp)
        return _secret(services, secret_id)

    @post("/secrets/{secret_id:str}/restore", sync_to_thread=True, status_code=200)
    def restore(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.ledger.restore_secret(secret_id, stamp)
        return _secret(services, secret_id)

    @post("/secrets/{secret_id:str}/purge", sync_to_thread=True, status_code=200)
    def purge(self, secret_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        _check(ids.SECRET, secret_id, "Secret")
        services.ledger.purge_secret(secret_id, stamp)
        services.projector.catch_up()
        return {"id": secret_id, "purged": True}

    @get("/trash", sync_to_thread=True)
    def trash(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        services.projector.catch_up()
        return {
            "secrets": services.read_models.trash(),
            "projects": services.read_models.trashed_projects(),
        }
