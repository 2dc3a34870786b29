"""The dashboard's actions on one secret: rename, note, new version, rollback, delete,
restore, purge, grants and its rotation schedule. Plain forms, CSRF-checked, PRG.

Each verb is the ledger, machine or rotation service method the operator API calls
(interfaces/http/vault.py, machines_admin.py, rotations_admin.py). A secret id is first
looked up under its project (404 otherwise); a refusal shows the service's message
with nothing changed. Values are never stripped, logged or echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException

from domain.audit import AuditStamp
from domain.errors import InvalidInput
from domain.rotation import RotationPolicy
from domain.values import Charset
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.web.secret_forms import (
    UNITS,
    create_managed,
    create_structured,
    typed_fields,
)
from interfaces.web.secret_pages import live_project, project_secret
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, Form, done, form_field, refused, user_stamp

Action = Callable[[Services, str, dict[str, Any], AuditStamp], None]


def _rename(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
    services.ledger.rename_secret(secret_id, form_field(data, "name"), stamp)


def _note(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
    services.ledger.update_note(secret_id, str(data.get("note", "")).strip(), stamp)


def _replace(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
    """A standard secret takes `value`; a structured one its typed fields."""
    fields = typed_fields(data)
    value = str(data.get("value", ""))
    if fields is None and not value:
        raise InvalidInput("Type the new value: it is sent once and never shown")
    if fields is not None:
        services.ledger.replace_secret(secret_id, stamp, fields=fields)
    else:
        services.ledger.replace_secret(secret_id, stamp, value=value)


def _rollback(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
    raw = form_field(data, "version")
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput("Choose a version to roll back to")
    services.ledger.roll_back_secret(secret_id, int(raw), stamp)


def _grant(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
    """As on the project page: join the machine to the project first when needed."""
    machine_id = form_field(data, "machine_id")
    project_id = services.ledger.secret(secret_id).project_id
    if machine_id not in services.ledger.project(project_id).machines:
        services.machines.add_to_project(machine_id, project_id, stamp)
    services.machines.grant(machine_id, secret_id, stamp)


def _ungrant(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
    services.machines.revoke_grant(form_field(data, "machine_id"), secret_id, stamp)


def _schedule(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
    """Interval as typed (a number and a unit); length and charset keep the API's defaults."""
    raw, unit = form_field(data, "interval"), form_field(data, "unit")
    if not raw.isdigit() or unit not in UNITS or len(raw) > 9:
        raise InvalidInput("Interval must be a whole number of minutes, hours or days")
    charset = form_field(data, "charset") or Charset.SYMBOLS.value
    if charset not in {c.value for c in Charset}:
        raise InvalidInput("Unknown character set")
    policy = RotationPolicy(int(raw) * UNITS[unit], charset=Charset(charset))
    services.rotations.set_schedule(secret_id, policy, stamp)


def _verb(name: str) -> Action:
    """pause, resume, rotate now and the trash verbs: no input but the secret."""

    def act(services: Services, secret_id: str, data: dict[str, Any], stamp: AuditStamp) -> None:
        targets = {
            "pause": services.rotations.pause,
            "resume": services.rotations.resume,
            "rotate": services.rotations.rotate_now,
            "delete": services.ledger.delete_secret,
            "restore": services.ledger.restore_secret,
            "purge": services.ledger.purge_secret,
        }
        targets[name](secret_id, stamp)

    return act


# verb -> (action, flash key, where to go after: "secret" or "trash")
ACTIONS: dict[str, tuple[Action, str, str]] = {
    "rename": (_rename, "secret-renamed", "secret"),
    "note": (_note, "note-saved", "secret"),
    "replace": (_replace, "version-added", "secret"),
    "rollback": (_rollback, "rolled-back", "secret"),
    "grant": (_grant, "granted", "secret"),
    "revoke-grant": (_ungrant, "grant-revoked", "secret"),
    "schedule": (_schedule, "schedule-saved", "secret"),
    "pause": (_verb("pause"), "schedule-paused", "secret"),
    "resume": (_verb("resume"), "schedule-resumed", "secret"),
    "rotate": (_verb("rotate"), "rotated", "secret"),
    "delete": (_verb("delete"), "secret-deleted", "trash"),
    "restore": (_verb("restore"), "secret-restored", "secret"),
    "purge": (_verb("purge"), "secret-purged", "trash"),
}


class SecretActions(Controller):
    path = "/projects/{project_id:str}"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @post("/secrets/{secret_id:str}/{verb:str}", sync_to_thread=True)
    def act(
        self,
        project_id: str,
        secret_id: str,
        verb: str,
        data: Form,
        request: AnyRequest,
        viewer: Viewer,
        services: Services,
    ) -> Any:
        check_csrf(viewer.csrf, data)
        if verb not in ACTIONS:
            raise NotFoundException(f"No action {verb[:40]}")
        services.catch_up()
        live_project(services, project_id)
        project_secret(services, project_id, secret_id)
        action, flash, after = ACTIONS[verb]
        here = f"/projects/{project_id}/secrets/{secret_id}"
        back = here if verb not in ("restore", "purge") else f"/projects/{project_id}/trash"
        try:
            action(services, secret_id, data, user_stamp(request, viewer))
        except REFUSED as error:
            return refused(viewer, str(error), back, "projects")
        services.catch_up()
        return done(here if after == "secret" else f"/projects/{project_id}/trash", flash)

    @post("/structured-secrets", sync_to_thread=True)
    def structured(
        self, project_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        back = f"/projects/{project_id}"
        try:
            secret_id = create_structured(services, project_id, data, user_stamp(request, viewer))
        except REFUSED as error:
            return refused(viewer, str(error), back, "projects")
        services.catch_up()
        return done(f"{back}/secrets/{secret_id}", "secret-created")

    @post("/managed-secrets", sync_to_thread=True)
    def managed(
        self, project_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        back = f"/projects/{project_id}"
        try:
            secret_id = create_managed(services, project_id, data, user_stamp(request, viewer))
        except REFUSED as error:
            return refused(viewer, str(error), back, "projects")
        services.catch_up()
        return done(f"{back}/secrets/{secret_id}", "managed-created")
