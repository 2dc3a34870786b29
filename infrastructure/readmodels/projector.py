"""Runs the ledger projection into SQL: rows and tracking position in one transaction.

`catch_up()` is called after every command (read-your-writes for the CLI) and by a
background follower (writes from other API processes). On PostgreSQL the tracking
row is locked FOR UPDATE, so two processes never apply the same event; in-process a
lock does the same for threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from application.projection import AuditEntry, project_event
from infrastructure.database import (
    audit_log,
    grants,
    machines,
    memberships,
    projects,
    rotations,
    secret_versions,
    secrets_table,
    tracking,
)
from infrastructure.eventstore.decoding import EventDecoder
from infrastructure.readmodels.rebuild import replay

BATCH = 500


class SqlLedgerView:
    """`LedgerView` bound to one open transaction.

    Statements are built once with bind parameters (SQLAlchemy then reuses the
    compiled form), and audit rows are buffered and written with one executemany
    per batch: a rebuild is dominated by audit rows.
    """

    _add_project = insert(projects)
    _change_project = update(projects).where(projects.c.aggregate_id == bindparam("_agg"))
    _add_secret = insert(secrets_table)
    _change_secret = update(secrets_table).where(secrets_table.c.aggregate_id == bindparam("_agg"))
    _add_version = insert(secret_versions)
    _secret_ref = select(secrets_table.c.secret_id, secrets_table.c.project_id).where(
        secrets_table.c.aggregate_id == bindparam("agg")
    )
    _project_ref = select(projects.c.project_id).where(projects.c.aggregate_id == bindparam("agg"))
    _add_audit = insert(audit_log)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._audit: list[dict[str, Any]] = []

    def add_project(self, aggregate_id: UUID, row: dict[str, Any]) -> None:
        self.conn.execute(self._add_project, {"aggregate_id": str(aggregate_id), **row})

    def change_project(self, aggregate_id: UUID, changes: dict[str, Any]) -> None:
        self.conn.execute(
            self._change_project.values({k: bindparam(k) for k in changes}),
            {"_agg": str(aggregate_id), **changes},
        )

    def add_secret(self, aggregate_id: UUID, row: dict[str, Any]) -> None:
        self.conn.execute(self._add_secret, {"aggregate_id": str(aggregate_id), **row})

    def change_secret(self, aggregate_id: UUID, changes: dict[str, Any]) -> None:
        self.conn.execute(
            self._change_secret.values({k: bindparam(k) for k in changes}),
            {"_agg": str(aggregate_id), **changes},
        )

    def remove_secret(self, aggregate_id: UUID) -> None:
        ref = self.secret_ref(aggregate_id)
        if ref is None:
            return
        self.conn.execute(delete(secret_versions).where(secret_versions.c.secret_id == ref[0]))
        self.conn.execute(delete(grants).where(grants.c.secret_id == ref[0]))
        self.conn.execute(
            delete(secrets_table).where(secrets_table.c.aggregate_id == str(aggregate_id))
        )

    def remove_project(self, aggregate_id: UUID) -> None:
        project_id = self.project_ref(aggregate_id)
        if project_id is None:
            return
        owned = select(secrets_table.c.secret_id).where(secrets_table.c.project_id == project_id)
        self.conn.execute(delete(secret_versions).where(secret_versions.c.secret_id.in_(owned)))
        self.conn.execute(delete(grants).where(grants.c.secret_id.in_(owned)))
        self.conn.execute(delete(secrets_table).where(secrets_table.c.project_id == project_id))
        self.conn.execute(delete(memberships).where(memberships.c.project_id == project_id))
        self.conn.execute(delete(rotations).where(rotations.c.project_id == project_id))
        self.conn.execute(delete(projects).where(projects.c.project_id == project_id))

    def add_version(
        self, aggregate_id: UUID, number: int, created_ms: int, rolled_back_from: int | None
    ) -> None:
        ref = self.secret_ref(aggregate_id)
        if ref is None:
            return
        self.conn.execute(
            self._add_version,
            {
                "secret_id": ref[0],
                "number": number,
                "created_ms": created_ms,
                "rolled_back_from": rolled_back_from,
            },
        )

    def secret_ref(self, aggregate_id: UUID) -> tuple[str, str] | None:
        row = self.conn.execute(self._secret_ref, {"agg": str(aggregate_id)}).first()
        return None if row is None else (row[0], row[1])

    def project_ref(self, aggregate_id: UUID) -> str | None:
        return self.conn.execute(self._project_ref, {"agg": str(aggregate_id)}).scalar()

    def append_audit(self, entry: AuditEntry) -> None:
        self._audit.append(entry._asdict())

    def add_machine(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(machines), row)

    def change_machine(self, machine_id: str, changes: dict[str, Any]) -> None:
        self.conn.execute(
            update(machines).where(machines.c.machine_id == machine_id).values(**changes)
        )

    def set_membership(self, machine_id: str, project_id: str, at_ms: int | None) -> None:
        self.conn.execute(
            delete(memberships).where(
                memberships.c.machine_id == machine_id, memberships.c.project_id == project_id
            )
        )
        if at_ms is not None:
            self.conn.execute(
                insert(memberships),
                {"machine_id": machine_id, "project_id": project_id, "added_ms": at_ms},
            )

    def set_grant(self, machine_id: str, secret_id: str, at_ms: int | None) -> None:
        self.conn.execute(
            delete(grants).where(grants.c.machine_id == machine_id, grants.c.secret_id == secret_id)
        )
        if at_ms is not None:
            self.conn.execute(
                insert(grants),
                {"machine_id": machine_id, "secret_id": secret_id, "granted_ms": at_ms},
            )

    def add_rotation(self, aggregate_id: UUID, row: dict[str, Any]) -> None:
        self.conn.execute(insert(rotations), {"aggregate_id": str(aggregate_id), **row})

    def change_rotation(self, aggregate_id: UUID, changes: dict[str, Any]) -> None:
        self.conn.execute(
            update(rotations).where(rotations.c.aggregate_id == str(aggregate_id)).values(**changes)
        )

    def rotation_ref(self, aggregate_id: UUID) -> tuple[str, str] | None:
        row = self.conn.execute(
            select(rotations.c.secret_id, rotations.c.project_id).where(
                rotations.c.aggregate_id == str(aggregate_id)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    def flush(self) -> None:
        if self._audit:
            self.conn.execute(self._add_audit, self._audit)
            self._audit = []


class SqlProjector:
    """Projects one application's events. `log` names it ("ledger" or "access")."""

    def __init__(self, engine: Engine, app: Application[UUID], log: str = "ledger") -> None:
        self.engine = engine
        self.app = app
        self.log = log
        self._lock = threading.Lock()
        self._decode = EventDecoder(app.mapper)  # the mapper's events, decoded faster

    def _position(self, conn: Connection) -> int:
        query = select(tracking.c.position).where(tracking.c.projection == self.log)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        position = conn.execute(query).scalar()
        if position is None:
            conn.execute(insert(tracking).values(projection=self.log, position=0))
            return 0
        return int(position)

    def _apply_batch(self, conn: Connection, position: int) -> int:
        notifications = self.app.recorder.select_notifications(position + 1, BATCH)
        view = SqlLedgerView(conn)
        for notification in notifications:
            n = notification
            event = self._decode(n.topic, n.state, n.originator_id, n.originator_version)
            project_event(notification.id, event, view, self.log)
            position = notification.id
        view.flush()
        if notifications:
            conn.execute(
                update(tracking).where(tracking.c.projection == self.log).values(position=position)
            )
        return len(notifications)

    def catch_up(self) -> int:
        """Apply every event not yet projected; returns how many were applied."""
        applied = 0
        with self._lock:
            while True:
                with self.engine.begin() as conn:
                    count = self._apply_batch(conn, self._position(conn))
                applied += count
                if count < BATCH:
                    return applied

    def position(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(tracking.c.position).where(tracking.c.projection == self.log)
            ).scalar()
        return int(value or 0)

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Drop and replay every read model from the store in one transaction
        (in memory and in bulk: see `rebuild`); progress gets (done, total)."""
        with self._lock, self.engine.begin() as conn:
            self._position(conn)
            return replay(conn, self.app, self.log, progress)
