"""The key table: wrapped project master keys and data keys, deletable by owner."""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.engine import Engine

from infrastructure.database import keys


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, key_ref: str, owner_id: str, kind: str, wrapped: bytes) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(keys).values(key_ref=key_ref, owner_id=owner_id, kind=kind, wrapped=wrapped)
            )

    def get(self, key_ref: str) -> bytes | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(keys.c.wrapped).where(keys.c.key_ref == key_ref)).first()
        return None if row is None else bytes(row[0])

    def delete_owned(self, owner_id: str, kind: str, keep: str | None = None) -> int:
        condition = and_(keys.c.owner_id == owner_id, keys.c.kind == kind)
        if keep is not None:
            condition = and_(condition, keys.c.key_ref != keep)
        with self._engine.begin() as conn:
            return conn.execute(delete(keys).where(condition)).rowcount
