"""The key table: wrapped project master keys and data keys, deletable by owner.

`shred_project` is for keys that must leave the file, not only the table: SQLite is
told to zero freed cells (`secure_delete`) and its WAL is checkpointed and truncated,
so no older page image keeps the wrapped key. (PostgreSQL keeps a dead row until
VACUUM, and its WAL and backups until they rotate; the row is gone from the table.)
"""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, or_, select, update
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

    def shred_project(self, project_id: str, secret_ids: list[str]) -> int:
        """The project's master key and its secrets' data keys, overwritten and deleted."""
        condition = or_(
            and_(keys.c.owner_id == project_id, keys.c.kind == "project"),
            and_(keys.c.owner_id.in_(secret_ids), keys.c.kind == "dek"),
        )
        sqlite = self._engine.dialect.name == "sqlite"
        with self._engine.begin() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            # Overwrite first: the row's bytes are zero before it is deleted.
            for key_ref, wrapped in conn.execute(
                select(keys.c.key_ref, keys.c.wrapped).where(condition)
            ).all():
                conn.execute(
                    update(keys)
                    .where(keys.c.key_ref == key_ref)
                    .values(wrapped=bytes(len(wrapped)))
                )
            count = conn.execute(delete(keys).where(condition)).rowcount
        if sqlite:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return count
