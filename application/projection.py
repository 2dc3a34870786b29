"""The ledger projection: how each event changes the read models and the audit view.

The abstract view (`LedgerView`) lives here beside the application; the SQL view that
writes rows together with the tracking position lives in infrastructure, so each
event is applied exactly once. Handlers are keyed by the event's stable topic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from domain.audit import AuditStamp, action_for
from domain.rotation import NO_AGENT


class AuditEntry(NamedTuple):
    """One audit row, fields in rm_audit_log's column order (a rebuild writes it as is)."""

    log: str  # "ledger" (vault changes) or "access" (machine reads and refusals)
    notification_id: int
    action: str
    severity: str
    actor_kind: str
    user_id: str | None
    machine_id: str | None
    ai_agent_id: str | None
    secret_id: str | None
    project_id: str | None
    source_ip: str
    detail: str
    timestamp_ms: int


class LedgerView(Protocol):
    def add_project(self, aggregate_id: UUID, row: dict[str, Any]) -> None: ...

    def change_project(self, aggregate_id: UUID, changes: dict[str, Any]) -> None: ...

    def add_secret(self, aggregate_id: UUID, row: dict[str, Any]) -> None: ...

    def change_secret(self, aggregate_id: UUID, changes: dict[str, Any]) -> None: ...

    def remove_secret(self, aggregate_id: UUID) -> None: ...

    def remove_project(self, aggregate_id: UUID) -> None:
        """A purged project leaves with its secrets, their versions, grants and members."""
        ...

    def add_version(
        self, aggregate_id: UUID, number: int, created_ms: int, rolled_back_from: int | None
    ) -> None: ...

    def secret_ref(self, aggregate_id: UUID) -> tuple[str, str] | None:
        """(secret_id, project_id) of a projected secret."""
        ...

    def project_ref(self, aggregate_id: UUID) -> str | None: ...

    def append_audit(self, entry: AuditEntry) -> None: ...

    def add_machine(self, row: dict[str, Any]) -> None: ...

    def change_machine(self, machine_id: str, changes: dict[str, Any]) -> None: ...

    def set_membership(self, machine_id: str, project_id: str, at_ms: int | None) -> None:
        """Add (at_ms given) or remove (None) a machine's project membership."""
        ...

    def set_grant(self, machine_id: str, secret_id: str, at_ms: int | None) -> None: ...

    def add_rotation(self, aggregate_id: UUID, row: dict[str, Any]) -> None: ...

    def change_rotation(self, aggregate_id: UUID, changes: dict[str, Any]) -> None: ...

    def rotation_ref(self, aggregate_id: UUID) -> tuple[str, str] | None: ...


def _ms(event: Any) -> int:
    return int(event.timestamp.timestamp() * 1000)


def _field_names(names: Any) -> str | None:
    return None if names is None else ",".join(names)


Handler = Callable[[Any, LedgerView], None]


def _project_created(e: Any, view: LedgerView) -> None:
    view.add_project(
        e.originator_id,
        {
            "project_id": e.project_id,
            "name": e.name,
            "description": e.description,
            "created_ms": _ms(e),
            "updated_ms": _ms(e),
            "deleted_ms": None,
        },
    )


def _project_updated(e: Any, view: LedgerView) -> None:
    view.change_project(
        e.originator_id, {"name": e.name, "description": e.description, "updated_ms": _ms(e)}
    )


def _secret_created(e: Any, view: LedgerView) -> None:
    view.add_secret(
        e.originator_id,
        {
            "secret_id": e.secret_id,
            "project_id": e.project_id,
            "name": e.name,
            "type": e.secret_type.value,
            "field_names": _field_names(e.field_names),
            "version": e.first_version.number,
            "note": e.note,
            "created_ms": _ms(e),
            "updated_ms": _ms(e),
            "deleted_ms": None,
        },
    )
    view.add_version(e.originator_id, e.first_version.number, _ms(e), None)


def _secret_versioned(e: Any, view: LedgerView) -> None:
    changes: dict[str, Any] = {"version": e.version.number, "updated_ms": _ms(e)}
    if hasattr(e, "field_names"):
        changes["field_names"] = _field_names(e.field_names)
    elif e.version.field_names is not None:  # a rollback of a structured secret
        changes["field_names"] = _field_names(e.version.field_names)
    view.change_secret(e.originator_id, changes)
    view.add_version(e.originator_id, e.version.number, _ms(e), e.version.rolled_back_from)


def _changes(**mapping: Callable[[Any], Any]) -> Handler:
    def handle(e: Any, view: LedgerView) -> None:
        changes = {column: get(e) for column, get in mapping.items()}
        changes["updated_ms"] = _ms(e)
        view.change_secret(e.originator_id, changes)

    return handle


def _machine_registered(e: Any, view: LedgerView) -> None:
    view.add_machine(
        {
            "machine_id": e.machine_id,
            "name": e.name,
            "hostname": e.hostname,
            "status": "pending",
            "enabled": 1,
            "created_ms": _ms(e),
            "updated_ms": _ms(e),
            "kind": "standard",
            "expires_ms": None,
        }
    )


def _machine(**changes: Any) -> Handler:
    def handle(e: Any, view: LedgerView) -> None:
        values = {k: (v(e) if callable(v) else v) for k, v in changes.items()}
        view.change_machine(str(e.originator_id), {**values, "updated_ms": _ms(e)})

    return handle


def _membership(added: bool) -> Handler:
    def handle(e: Any, view: LedgerView) -> None:
        project_id = view.project_ref(e.originator_id)
        if project_id is not None:
            view.set_membership(e.machine_id, project_id, _ms(e) if added else None)

    return handle


def _grant(added: bool) -> Handler:
    def handle(e: Any, view: LedgerView) -> None:
        ref = view.secret_ref(e.originator_id)
        if ref is not None:
            view.set_grant(e.machine_id, ref[0], _ms(e) if added else None)

    return handle


def _rotation_created(e: Any, view: LedgerView) -> None:
    view.add_rotation(
        e.originator_id,
        {
            "secret_id": e.secret_id,
            "project_id": e.project_id,
            "managed": int(e.managed is not None),
            "enabled": 1,
            "cancelled": 0,
            "failed": 0,
            "held": 0,
            "next_due_ms": e.next_due_ms,
            "pending_rotation_id": None,
            "agent_machine_id": None,
            "agent_status": NO_AGENT,
        },
    )


def _rotation(**changes: Any) -> Handler:
    def handle(e: Any, view: LedgerView) -> None:
        values = {k: (v(e) if callable(v) else v) for k, v in changes.items()}
        view.change_rotation(e.originator_id, values)

    return handle


HANDLERS: dict[str, Handler] = {
    "keyledger.rotation.Created": _rotation_created,
    "keyledger.rotation.PolicyUpdated": _rotation(
        next_due_ms=lambda e: e.next_due_ms, enabled=1, cancelled=0
    ),
    "keyledger.rotation.Paused": _rotation(enabled=0),
    "keyledger.rotation.Resumed": _rotation(enabled=1, next_due_ms=lambda e: e.next_due_ms),
    "keyledger.rotation.Cancelled": _rotation(cancelled=1, pending_rotation_id=None),
    "keyledger.rotation.Advanced": _rotation(next_due_ms=lambda e: e.next_due_ms),
    "keyledger.rotation.Reinstated": _rotation(cancelled=0, next_due_ms=lambda e: e.next_due_ms),
    "keyledger.rotation.PendingIssued": _rotation(
        pending_rotation_id=lambda e: e.pending.rotation_id,
        next_due_ms=lambda e: e.next_due_ms,
        held=0,
    ),
    "keyledger.rotation.Held": _rotation(held=1),
    "keyledger.rotation.Confirmed": _rotation(pending_rotation_id=None, held=0),
    "keyledger.rotation.Rejected": _rotation(pending_rotation_id=None, held=0),
    "keyledger.rotation.Failed": _rotation(failed=1),
    "keyledger.rotation.RetryRequested": _rotation(failed=0),
    "keyledger.rotation.Withdrawn": _rotation(
        pending_rotation_id=None, held=0, next_due_ms=lambda e: e.next_due_ms
    ),
    "keyledger.rotation.AgentBound": _rotation(
        agent_machine_id=lambda e: e.machine_id, agent_status=NO_AGENT
    ),
    "keyledger.rotation.AgentUnbound": _rotation(agent_machine_id=None, agent_status=NO_AGENT),
    "keyledger.rotation.AgentStatusChanged": _rotation(agent_status=lambda e: e.status),
    "keyledger.secret.Rotated": _secret_versioned,
    "keyledger.secret.RotationPromoted": _secret_versioned,
    "keyledger.machine.Registered": _machine_registered,
    "keyledger.machine.Approved": _machine(status="approved"),
    "keyledger.machine.Denied": _machine(status="denied"),
    "keyledger.machine.Disabled": _machine(enabled=0),
    "keyledger.machine.Enabled": _machine(enabled=1),
    "keyledger.machine.Renamed": _machine(name=lambda e: e.name),
    "keyledger.machine.Revoked": _machine(status="revoked", enabled=0),
    "keyledger.machine.Enrolled": _machine(
        status="approved", kind="ephemeral", expires_ms=lambda e: e.expires_ms
    ),
    "keyledger.machine.TempCreated": _machine(kind="temporary", expires_ms=lambda e: e.expires_ms),
    "keyledger.machine.Extended": lambda e, view: view.change_machine(
        str(e.originator_id),
        {"expires_ms": e.until_ms, "updated_ms": _ms(e), **({"enabled": 1} if e.reenable else {})},
    ),
    "keyledger.machine.ExtensionReverted": _machine(expires_ms=lambda e: e.expires_ms),
    "keyledger.machine.Expired": _machine(enabled=0),
    "keyledger.project.MachineAdded": _membership(True),
    "keyledger.project.MachineRemoved": _membership(False),
    "keyledger.secret.Granted": _grant(True),
    "keyledger.secret.GrantRevoked": _grant(False),
    "keyledger.project.Created": _project_created,
    "keyledger.project.Updated": _project_updated,
    "keyledger.project.Deleted": lambda e, view: view.change_project(
        e.originator_id, {"deleted_ms": e.at_ms, "updated_ms": _ms(e)}
    ),
    "keyledger.project.Restored": lambda e, view: view.change_project(
        e.originator_id, {"deleted_ms": None, "updated_ms": _ms(e)}
    ),
    "keyledger.project.Purged": lambda e, view: view.remove_project(e.originator_id),
    "keyledger.secret.Created": _secret_created,
    "keyledger.secret.Replaced": _secret_versioned,
    "keyledger.secret.RolledBack": _secret_versioned,
    "keyledger.secret.Renamed": _changes(name=lambda e: e.name),
    "keyledger.secret.NoteUpdated": _changes(note=lambda e: e.note),
    "keyledger.secret.Deleted": _changes(deleted_ms=lambda e: e.at_ms),
    "keyledger.secret.Restored": _changes(deleted_ms=lambda e: None),
    "keyledger.secret.Purged": lambda e, view: view.remove_secret(e.originator_id),
}


# Per topic: which aggregate's ids an audit row takes from the view ("" none). A
# rebuild runs this for every event, so the prefix tests are made once per topic.
_REF_KINDS: dict[str, str] = {}
# (topic, recorded action) -> (action, severity value) or None; checked once each.
_ACTIONS: dict[tuple[str, str | None], tuple[str, str] | None] = {}


def _ref_kind(topic: str) -> str:
    kind = _REF_KINDS.get(topic)
    if kind is None:
        kind = next(
            (k for k in ("secret", "rotation", "project") if topic.startswith(f"keyledger.{k}.")),
            "",
        )
        _REF_KINDS[topic] = kind
    return kind


def _action(topic: str, recorded: str | None) -> tuple[str, str] | None:
    try:
        return _ACTIONS[topic, recorded]
    except KeyError:
        found = action_for(topic, recorded)  # LookupError for an unknown topic: not cached
        _ACTIONS[topic, recorded] = value = None if found is None else (found[0], found[1].value)
        return value


def audit_entry(
    notification_id: int, event: Any, view: LedgerView, log: str = "ledger"
) -> AuditEntry | None:
    """The audit view of one event (None for bookkeeping events)."""
    topic = type(event).TOPIC
    fields = vars(event)  # an event's values are its instance fields
    found = _action(topic, fields.get("action"))
    if found is None:
        return None
    stamp: AuditStamp = fields["audit"]
    secret_id = fields.get("secret_id")
    project_id = fields.get("project_id")
    kind = _ref_kind(topic)
    if kind == "secret":
        ref = view.secret_ref(event.originator_id)
        if ref is not None:
            secret_id, project_id = ref
    elif kind == "rotation" and secret_id is None:
        ref = view.rotation_ref(event.originator_id)
        if ref is not None:
            secret_id, project_id = ref
    elif kind == "project" and project_id is None:
        project_id = view.project_ref(event.originator_id)
    return AuditEntry._make(
        (
            log,
            notification_id,
            found[0],
            found[1],
            stamp.actor_kind.value,
            stamp.user_id,
            stamp.machine_id,
            stamp.ai_agent_id,
            secret_id,
            project_id,
            stamp.source_ip,
            stamp.detail,
            int(fields["timestamp"].timestamp() * 1000),
        )
    )


def project_event(notification_id: int, event: Any, view: LedgerView, log: str = "ledger") -> None:
    """Apply one event: audit first (a purge still knows its secret), then the rows."""
    entry = audit_entry(notification_id, event, view, log)
    if entry is not None:
        view.append_audit(entry)
    if log != "ledger":
        return
    handler = HANDLERS.get(type(event).TOPIC)
    if handler is not None:
        handler(event, view)
