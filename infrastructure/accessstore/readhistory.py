"""Recorded machine reads for the policy dry-run, straight from the access log.

One index range scan per secret ((secret_id, time) index, already in time order) on
the driver's own cursor: a million rows as plain tuples, no ORM rows, no sort. The
dry-run counts per secret, so secrets need not be interleaved in time.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine

from domain.policydryrun import Read

_READS = (
    "SELECT timestamp_ms, source_ip, machine_id, secret_id FROM kl_access_records "
    "WHERE secret_id = {p} AND timestamp_ms >= {p} AND timestamp_ms < {p} "
    "AND action = 'secret_read' ORDER BY timestamp_ms"
)


class SqlReadHistory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sql = _READS.format(p="?" if engine.dialect.paramstyle == "qmark" else "%s")

    def reads(self, secret_ids: list[str], since_ms: int, until_ms: int) -> Iterator[Read]:
        with self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                for secret_id in secret_ids:
                    cursor.execute(self.sql, (secret_id, since_ms, until_ms))
                    while rows := cursor.fetchmany(50_000):
                        yield from rows
            finally:
                cursor.close()
