"""Machine-plane state that is not a vault change: used nonces and last fetches.

Nonces are unique per machine by primary key: the database constraint *is* the
replay check, and it survives restarts. Rows older than twice the signature window
are pruned, since an older timestamp is refused before the nonce is looked at.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from infrastructure.database import fetches, nonces

# A timestamp is good for ±300 s, so one signed request stays acceptable for up to
# 600 s; keep its nonce a minute longer than that.
RETAIN_MS = (2 * 300 + 60) * 1000


class SqlNonceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, machine_id: str, nonce: str, now_ms: int) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(nonces).values(machine_id=machine_id, nonce=nonce, seen_ms=now_ms)
                )
        except IntegrityError:
            return False
        return True

    def prune(self, now_ms: int) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                delete(nonces).where(nonces.c.seen_ms < now_ms - RETAIN_MS)
            ).rowcount


class SqlFetchLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def record_many(self, fetched: list[tuple[str, str, int]]) -> None:
        if not fetched:
            return
        latest = {(m, s): v for m, s, v in fetched}  # one row per key in a statement
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
