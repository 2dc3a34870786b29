"""`SqlAccessStore`: the access log's tables, their writer, and what reads them.

The writer thread appends through a dedicated connection (appenders.py); everything
else (verify, audit queries, the poll bookkeeping) goes through a SQLAlchemy engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from psycopg import sql
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, RowMapping

from application.ports import AppendOutcome, LaneInfo
from domain.accesschain import AccessEntry, ChainedEntry
from infrastructure.accessstore.appenders import PostgresAppender, SqliteAppender
from infrastructure.accessstore.tables import (
    QUERY_INDEXES,
    REPLACED_INDEXES,
    access_lanes,
    access_metadata,
    access_records,
    fetches,
)

BATCH = 2000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def chained(row: RowMapping) -> ChainedEntry:
    entry = AccessEntry(
        timestamp_ms=row["timestamp_ms"],
        action=row["action"],
        severity=row["severity"],
        actor_kind=row["actor_kind"],
        source_ip=row["source_ip"],
        detail=row["detail"],
        machine_id=row["machine_id"],
        nonce=row["nonce"],
        user_id=row["user_id"],
        ai_agent_id=row["ai_agent_id"],
        secret_id=row["secret_id"],
        project_id=row["project_id"],
        secret_version=row["secret_version"],
    )
    return ChainedEntry(row["lane"], row["seq"], entry, bytes(row["prev_hash"]), bytes(row["hash"]))


class SqlAccessStore:
    """Embedded: `path` is access.sqlite. Distributed: `engine` is the PostgreSQL one."""

    def __init__(self, engine: Engine, appender: SqliteAppender | PostgresAppender | None) -> None:
        self.engine = engine
        self._appender = appender
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7210420003)"))
            access_metadata.create_all(conn)
            for index in QUERY_INDEXES:  # a store made before the audit query had none
                index.create(conn, checkfirst=True)
            for name in REPLACED_INDEXES:
                conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    @classmethod
    def embedded(cls, path: Path, origin: str, ledger_head: Callable[[], object]) -> SqlAccessStore:
        engine = sqlite_engine(path)
        store = cls(engine, None)
        store._appender = SqliteAppender(path, origin, ledger_head)
        return store

    @classmethod
    def distributed(
        cls, engine: Engine, origin: str, ledger_head: sql.SQL | sql.Composed
    ) -> SqlAccessStore:
        store = cls(engine, None)
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        store._appender = PostgresAppender(url, origin, ledger_head)
        return store

    # -- the writer ------------------------------------------------------------

    def append(
        self,
        rows: list[ChainedEntry],
        fetched: list[tuple[str, str, int]],
        confirm: Callable[[object], bool],
    ) -> AppendOutcome:
        assert self._appender is not None, "a read-only access store"
        return self._appender.append(rows, fetched, confirm)

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
        self.engine.dispose()

    # -- the poll bookkeeping (FetchLog) ---------------------------------------

    def record_many(self, fetched: list[tuple[str, str, int]]) -> None:
        if not fetched:
            return
        latest = {(m, s): v for m, s, v in fetched}
        statement = self._insert(fetches)
        statement = statement.on_conflict_do_update(
            index_elements=[fetches.c.machine_id, fetches.c.secret_id],
            set_={"version": statement.excluded.version},
        )
        rows = [{"machine_id": m, "secret_id": s, "version": v} for (m, s), v in latest.items()]
        with self.engine.begin() as conn:
            conn.execute(statement, rows)

    def last(self, machine_id: str, secret_ids: list[str]) -> dict[str, int]:
        if not secret_ids:
            return {}
        query = select(fetches.c.secret_id, fetches.c.version).where(
            fetches.c.machine_id == machine_id, fetches.c.secret_id.in_(secret_ids)
        )
        with self.engine.connect() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}

    # -- what verify walks (AccessLogSource) -----------------------------------

    def lanes(self) -> list[LaneInfo]:
        query = select(access_lanes).order_by(access_lanes.c.started_ms, access_lanes.c.lane)
        with self.engine.connect() as conn:
            return [LaneInfo(r.lane, r.started_ms, r.origin) for r in conn.execute(query)]

    def record_lanes(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(access_records.c.lane).distinct())]

    def iter_lane(self, lane: str) -> Iterator[ChainedEntry]:
        after = 0
        while True:
            query = (
                select(access_records)
                .where(access_records.c.lane == lane, access_records.c.seq > after)
                .order_by(access_records.c.seq)
                .limit(BATCH)
            )
            with self.engine.connect() as conn:
                rows = [chained(r) for r in conn.execute(query).mappings()]
            yield from rows
            if len(rows) < BATCH:
                return
            after = rows[-1].seq

    # -- audit queries -----------------------------------------------------------

    def newest(self, limit: int, since_ms: int) -> list[ChainedEntry]:
        """The newest `limit` records stamped after `since_ms`, newest first."""
        query = (
            select(access_records)
            .where(access_records.c.timestamp_ms > since_ms)
            .order_by(
                access_records.c.timestamp_ms.desc(),
                access_records.c.lane.desc(),
                access_records.c.seq.desc(),
            )
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [chained(r) for r in conn.execute(query).mappings()]
