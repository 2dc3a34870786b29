"""Who read a secret in a window: answered reads grouped by machine, from the records.

Served by the (secret_id, timestamp_ms) index. `create_all` adds indexes only with a
new table, so the index is also created here on stores made before it existed.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateIndex

from application.pointintime import ReadTally
from infrastructure.accessstore.tables import access_records

READ_ACTION = "secret_read"


class SqlSecretReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # API processes start together
                conn.execute(text("SELECT pg_advisory_xact_lock(7210420003)"))
            for index in access_records.indexes:
                if index.name == "kl_access_records_secret_time":
                    conn.execute(CreateIndex(index, if_not_exists=True))

    def tally(self, secret_id: str, from_ms: int, to_ms: int) -> list[ReadTally]:
        r = access_records.c
        query = (
            select(r.machine_id, func.count(), func.min(r.timestamp_ms), func.max(r.timestamp_ms))
            .where(
                r.secret_id == secret_id,
                r.timestamp_ms >= from_ms,
                r.timestamp_ms <= to_ms,
                r.action == READ_ACTION,
            )
            .group_by(r.machine_id)
        )
        with self.engine.connect() as conn:
            return [
                ReadTally(str(row[0]), int(row[1]), int(row[2]), int(row[3]))
                for row in conn.execute(query)
            ]
