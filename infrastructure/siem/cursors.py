"""Per-sink export cursors: the position after the last record each sink was sent.

Embedded mode keeps them in `<data-dir>/export.sqlite` (not the access log's file, so
a commit per record never queues behind the server's access writer); distributed mode
in `kl_export_cursors` beside the event store. A cursor is what `--resume` starts from.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, create_engine, event
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from application.siemexport import Position

cursor_metadata = MetaData()

export_cursors = Table(
    "kl_export_cursors",
    cursor_metadata,
    Column("sink", String(100), primary_key=True),
    Column("position", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # A killed exporter loses nothing at NORMAL (the OS keeps what was written); only
    # a power cut can roll a cursor back, and then records are re-sent, never skipped.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def cursor_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class SqlCursorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        cursor_metadata.create_all(engine)
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def load(self, sink: str) -> Position | None:
        query = export_cursors.select().where(export_cursors.c.sink == sink)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else Position.from_json(json.loads(row["position"]))

    def save(self, sink: str, position: Position) -> None:
        values = {
            "sink": sink,
            "position": json.dumps(position.as_json()),
            "updated_ms": int(time.time() * 1000),
        }
        statement = self._insert(export_cursors).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[export_cursors.c.sink],
            set_={"position": values["position"], "updated_ms": values["updated_ms"]},
        )
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(sql_text("SET LOCAL synchronous_commit TO OFF"))
            conn.execute(statement)

    def close(self) -> None:
        self.engine.dispose()
