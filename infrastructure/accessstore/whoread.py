"""Who read a secret in a window: answered reads grouped by machine, from the records.

Served by the audit query's (secret_id, timestamp_ms) index, which `SqlAccessStore`
creates on every start (also on stores made before it existed).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from application.pointintime import ReadTally
from infrastructure.accessstore.tables import access_records

READ_ACTION = "secret_read"
TRIP_ACTION = "canary_triggered"


class SqlSecretReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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

    def trips(self, secret_id: str) -> tuple[int, int | None]:
        """A canary's fire count and last trip (ms), from its `canary_triggered` records."""
        r = access_records.c
        query = select(func.count(), func.max(r.timestamp_ms)).where(
            r.secret_id == secret_id, r.action == TRIP_ACTION
        )
        with self.engine.connect() as conn:
            count, last = conn.execute(query).one()
        return int(count), int(last) if last is not None else None
