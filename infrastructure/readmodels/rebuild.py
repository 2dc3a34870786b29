"""A full rebuild of the read models: the same projection, replayed in memory.

Profiling the old rebuild (replaying through `SqlLedgerView`) showed its time in
SQL round trips: one SELECT per event for a secret's ids, one INSERT or UPDATE per
row change, and the audit rows' executemany, which psycopg sends row by row, into
a table whose seven indexes are maintained on every row. A rebuild starts from empty
tables, so every row it needs is one it wrote itself: `MemoryLedgerView` keeps the
small tables in dicts and writes them once at the end; audit rows (nearly all rows)
go out per page with COPY (PostgreSQL) or the driver's executemany (SQLite), with the
audit indexes dropped for the load and built once after. All in one transaction:
readers see the old read models until the new ones are complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, exists, insert, select, text, update
from sqlalchemy.engine import Connection

from application.projection import AuditEntry, project_event
from infrastructure.database import (
    READ_MODEL_TABLES,
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

PAGE = 5000  # notifications read (and audit rows written) per step
AUDIT_COLUMNS = tuple(column.name for column in audit_log.columns)  # = AuditEntry's fields

Rows = dict[Any, dict[str, Any]]


class MemoryLedgerView:
    """`LedgerView` over dicts keyed like the tables' primary keys (same semantics as
    the SQL view: updates keep a row, delete-and-insert replaces it)."""

    def __init__(self) -> None:
        self.tables: dict[Table, Rows] = {t: {} for t in READ_MODEL_TABLES if t is not audit_log}
        self.audit: list[tuple[Any, ...]] = []  # AuditEntry tuples
        self._project_by_agg: dict[str, str] = {}
        self._secret_by_agg: dict[str, str] = {}

    def add_project(self, aggregate_id: UUID, row: dict[str, Any]) -> None:
        self.tables[projects][row["project_id"]] = {"aggregate_id": str(aggregate_id), **row}
        self._project_by_agg[str(aggregate_id)] = row["project_id"]

    def change_project(self, aggregate_id: UUID, changes: dict[str, Any]) -> None:
        project_id = self._project_by_agg.get(str(aggregate_id))
        if project_id is not None:
            self.tables[projects][project_id].update(changes)

    def add_secret(self, aggregate_id: UUID, row: dict[str, Any]) -> None:
        self.tables[secrets_table][row["secret_id"]] = {"aggregate_id": str(aggregate_id), **row}
        self._secret_by_agg[str(aggregate_id)] = row["secret_id"]

    def change_secret(self, aggregate_id: UUID, changes: dict[str, Any]) -> None:
        secret_id = self._secret_by_agg.get(str(aggregate_id))
        if secret_id is not None:
            self.tables[secrets_table][secret_id].update(changes)

    def remove_secret(self, aggregate_id: UUID) -> None:
        secret_id = self._secret_by_agg.pop(str(aggregate_id), None)
        if secret_id is None:
            return
        for table in (secret_versions, grants):
            rows = self.tables[table]
            for key in [k for k, row in rows.items() if row["secret_id"] == secret_id]:
                del rows[key]
        del self.tables[secrets_table][secret_id]

    def remove_project(self, aggregate_id: UUID) -> None:
        project_id = self._project_by_agg.pop(str(aggregate_id), None)
        if project_id is None:
            return
        rows = self.tables[secrets_table]
        owned = {sid for sid, row in rows.items() if row["project_id"] == project_id}
        self._drop_where(secret_versions, "secret_id", owned)
        self._drop_where(grants, "secret_id", owned)
        self._drop_where(secrets_table, "secret_id", owned)
        self._secret_by_agg = {a: s for a, s in self._secret_by_agg.items() if s not in owned}
        self._drop_where(memberships, "project_id", {project_id})
        self._drop_where(rotations, "project_id", {project_id})
        del self.tables[projects][project_id]

    def _drop_where(self, table: Table, column: str, values: set[str]) -> None:
        rows = self.tables[table]
        for key in [k for k, row in rows.items() if row[column] in values]:
            del rows[key]

    def add_version(
        self, aggregate_id: UUID, number: int, created_ms: int, rolled_back_from: int | None
    ) -> None:
        secret_id = self._secret_by_agg.get(str(aggregate_id))
        if secret_id is None:
            return
        self.tables[secret_versions][(secret_id, number)] = {
            "secret_id": secret_id,
            "number": number,
            "created_ms": created_ms,
            "rolled_back_from": rolled_back_from,
        }

    def secret_ref(self, aggregate_id: UUID) -> tuple[str, str] | None:
        secret_id = self._secret_by_agg.get(str(aggregate_id))
        if secret_id is None:
            return None
        return secret_id, self.tables[secrets_table][secret_id]["project_id"]

    def project_ref(self, aggregate_id: UUID) -> str | None:
        return self._project_by_agg.get(str(aggregate_id))

    def append_audit(self, entry: AuditEntry) -> None:
        self.audit.append(entry)

    def add_machine(self, row: dict[str, Any]) -> None:
        self.tables[machines][row["machine_id"]] = dict(row)

    def change_machine(self, machine_id: str, changes: dict[str, Any]) -> None:
        row = self.tables[machines].get(machine_id)
        if row is not None:
            row.update(changes)

    def set_membership(self, machine_id: str, project_id: str, at_ms: int | None) -> None:
        self._set_pair(memberships, "project_id", "added_ms", machine_id, project_id, at_ms)

    def set_grant(self, machine_id: str, secret_id: str, at_ms: int | None) -> None:
        self._set_pair(grants, "secret_id", "granted_ms", machine_id, secret_id, at_ms)

    def _set_pair(
        self, table: Table, column: str, at: str, machine_id: str, other: str, at_ms: int | None
    ) -> None:
        rows = self.tables[table]
        rows.pop((machine_id, other), None)
        if at_ms is not None:
            rows[(machine_id, other)] = {"machine_id": machine_id, column: other, at: at_ms}

    def add_rotation(self, aggregate_id: UUID, row: dict[str, Any]) -> None:
        self.tables[rotations][str(aggregate_id)] = {"aggregate_id": str(aggregate_id), **row}

    def change_rotation(self, aggregate_id: UUID, changes: dict[str, Any]) -> None:
        row = self.tables[rotations].get(str(aggregate_id))
        if row is not None:
            row.update(changes)

    def rotation_ref(self, aggregate_id: UUID) -> tuple[str, str] | None:
        row = self.tables[rotations].get(str(aggregate_id))
        return None if row is None else (row["secret_id"], row["project_id"])

    def take_audit(self) -> list[tuple[Any, ...]]:
        rows, self.audit = self.audit, []
        return rows


def write_rows(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-insert tuples in `table`'s column order inside `conn`'s transaction."""
    if not rows:
        return
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        from psycopg import sql

        columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name), columns)
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
    else:  # qmark, values in column order
        driver.executemany(str(insert(table).compile(dialect=conn.dialect)), rows)


def _clear(conn: Connection, log: str) -> None:
    others = conn.execute(select(exists().where(audit_log.c.log != log))).scalar()
    tables = [t for t in READ_MODEL_TABLES if log == "ledger" or t is audit_log]
    if others:
        tables.remove(audit_log)
        conn.execute(delete(audit_log).where(audit_log.c.log == log))
    if conn.dialect.name == "postgresql":
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables)))
    else:
        for table in tables:
            conn.execute(delete(table))


Row = tuple[int, Any, int, str, bytes]  # id, originator id and version, topic, state


def _pages(recorder: Any) -> Iterator[list[Row]]:
    """Pages in order; the next one is fetched in a thread while this one is decoded
    (the driver waits on the database without the GIL)."""
    with ThreadPoolExecutor(1, thread_name_prefix="rebuild-read") as pool:
        ahead = pool.submit(recorder.event_page, 0, PAGE)
        while True:
            rows = ahead.result()
            if len(rows) == PAGE:
                ahead = pool.submit(recorder.event_page, rows[-1][0], PAGE)
            if rows:
                yield rows
            if len(rows) < PAGE:
                return


def replay(
    conn: Connection, app: Any, log: str, progress: Callable[[int, int], None] | None
) -> int:
    """Empty the read models of `log` and replay every stored event into them."""
    total = app.recorder.max_notification_id() or 0
    _clear(conn, log)
    for index in audit_log.indexes:
        index.drop(conn)
    view = MemoryLedgerView()
    decode = EventDecoder(app.mapper)
    done = position = 0
    for page in _pages(app.recorder):
        for notification_id, originator_id, version, topic, state in page:
            event = decode(topic, state, originator_id, version)
            project_event(notification_id, event, view, log)
        write_rows(conn, audit_log, view.take_audit())
        done += len(page)
        position = page[-1][0]
        if progress is not None:
            progress(done, max(total, done))
    if log == "ledger":
        for table, rows in view.tables.items():
            names = [c.name for c in table.columns]
            write_rows(conn, table, [tuple(row[n] for n in names) for row in rows.values()])
    for index in audit_log.indexes:
        index.create(conn)
    conn.execute(update(tracking).where(tracking.c.projection == log).values(position=position))
    if progress is not None and done == 0:
        progress(0, total)
    return done
