"""Per-sink export cursors: the position after the last record each sink was sent.

Embedded mode keeps them in `<data-dir>/export.sqlite` (not the access log's file, so
a cursor commit never queues behind the server's access writer); distributed mode in
`kl_export_cursors` beside the event store. A cursor is what `--resume` starts from,
with the sink's mark (a file's size) so that a resume can drop an uncounted tail.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, create_engine, event
from sqlalchemy.engine import Connection, Engine

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


UPSERT = (
    "INSERT INTO kl_export_cursors (sink, position, updated_ms) VALUES ({mark}, {mark}, {mark}) "
    "ON CONFLICT (sink) DO UPDATE SET position = excluded.position, "
    "updated_ms = excluded.updated_ms"
)


class SqlCursorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        cursor_metadata.create_all(engine)
        self._conn: Connection | None = None  # kept: TCP commits after every send

    def load(self, sink: str) -> Position | None:
        query = export_cursors.select().where(export_cursors.c.sink == sink)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else Position.from_json(json.loads(row["position"]))

    def save(self, sink: str, position: Position) -> None:
        """Upsert one row, as plain driver SQL on a kept connection: it runs per delivery."""
        mark = "%s" if self.engine.dialect.name == "postgresql" else "?"
        params = (sink, json.dumps(position.as_json()), int(time.time() * 1000))
        if self._conn is None:
            self._conn = self.engine.connect()
            if self.engine.dialect.name == "postgresql":
                # The exporter's own kill loses nothing committed; only a database
                # crash could roll the cursor back, and then records are re-sent.
                self._conn.exec_driver_sql("SET synchronous_commit TO OFF")
                self._conn.commit()
        self._conn.exec_driver_sql(UPSERT.format(mark=mark), params)
        self._conn.commit()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self.engine.dispose()
