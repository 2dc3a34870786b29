"""First start after ADR 0014: copy the old eventsourcing access log into a lane.

Idempotent: a complete legacy lane means done; a partial one (a crash mid-copy) is
removed and the copy redone. The old tables are never modified.
"""

from __future__ import annotations

import logging
from typing import cast

from psycopg import sql
from sqlalchemy import delete, inspect, text, update
from sqlalchemy.engine import Engine

from application.accessmigration import LEGACY_PREFIX, AccessLog, legacy_entries, migrate
from domain.accesschain import ChainedEntry
from infrastructure.accessstore.appenders import PostgresAppender, SqliteAppender
from infrastructure.accessstore.store import SqlAccessStore
from infrastructure.accessstore.tables import access_lanes, access_records
from infrastructure.eventstore.chain import ChainSource, verify_chain
from infrastructure.settings import Settings

LEGACY_TABLE = "keyledger_access_events"
COMPLETE = " (copy complete)"
log = logging.getLogger("keyledger")


def move_fetches(state: Engine, store: SqlAccessStore) -> int:
    """Embedded stores kept the poll bookkeeping in state.sqlite: move it beside the
    access records, where each read's batch now upserts it."""
    if state.url == store.engine.url or not inspect(state).has_table("kl_fetches"):
        return 0
    with state.begin() as conn:
        rows = [(r[0], r[1], int(r[2])) for r in conn.execute(text("SELECT * FROM kl_fetches"))]
        store.record_many(rows)
        conn.execute(text("DROP TABLE kl_fetches"))
    return len(rows)


def upgrade_legacy_access_log(settings: Settings, store: SqlAccessStore) -> int:
    """Returns how many old records were copied now (0: nothing to do)."""
    if not inspect(store.engine).has_table(LEGACY_TABLE):
        return 0
    app = AccessLog(settings.access_store_env())
    try:
        for info in store.lanes():
            if info.lane.startswith(LEGACY_PREFIX):
                if info.origin.endswith(COMPLETE):
                    return 0
                _drop_lane(store, info.lane)  # a copy cut short: redo it
        if not app.recorder.max_notification_id():
            return 0
        report = verify_chain(cast(ChainSource, app.recorder))
        verdict = (
            f"intact, head #{report.head_id} {report.head_hash}"
            if report.ok
            else f"BROKEN at #{report.first_bad_id} ({report.reason})"
        )
        origin = f"migrated from {LEGACY_TABLE}: chain {verdict}"
        appender = _appender(settings, store, origin)
        try:
            lane, count = migrate(
                legacy_entries(app),
                lambda rows: _append_all(appender, rows),
            )
        finally:
            appender.close()
        with store.engine.begin() as conn:
            conn.execute(
                update(access_lanes)
                .where(access_lanes.c.lane == lane)
                .values(origin=f"{origin}, {count} records{COMPLETE}")
            )
        log.warning("access log upgraded: %d records copied into lane %s", count, lane)
        return count
    finally:
        app.close()


def _appender(
    settings: Settings, store: SqlAccessStore, origin: str
) -> SqliteAppender | PostgresAppender:
    if settings.database_url is None:
        return SqliteAppender(settings.data_dir / "access.sqlite", origin, lambda: None)
    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresAppender(url, origin, sql.SQL("SELECT NULL"))


def _append_all(appender: SqliteAppender | PostgresAppender, rows: list[ChainedEntry]) -> None:
    outcome = appender.append(rows, [], lambda _head: True)
    if not outcome.committed:
        raise RuntimeError("old access records clash on a nonce: upgrade stopped")


def _drop_lane(store: SqlAccessStore, lane: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(access_records).where(access_records.c.lane == lane))
        conn.execute(delete(access_lanes).where(access_lanes.c.lane == lane))
