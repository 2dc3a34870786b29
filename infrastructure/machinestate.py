"""Machine-plane state that is not a vault change: used nonces.

Nonces are unique per machine by primary key: the database constraint *is* the
replay check, and it survives restarts. Rows older than twice the signature window
are pruned, since an older timestamp is refused before the nonce is looked at.
"""

from __future__ import annotations

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from infrastructure.database import nonces

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
