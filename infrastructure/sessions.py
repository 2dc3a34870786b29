"""Operator sessions, server side: only a SHA-256 of the token is stored."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from application.ports import SessionRecord
from infrastructure.database import sessions


class SqlSessionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, token_hash: str, record: SessionRecord) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(sessions).values(
                    token_hash=token_hash,
                    session_id=record.session_id,
                    user_id=record.user_id,
                    created_ms=record.created_ms,
                    expires_ms=record.expires_ms,
                    revoked=int(record.revoked),
                )
            )

    def find(self, token_hash: str) -> SessionRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.token_hash == token_hash)).first()
        if row is None:
            return None
        return SessionRecord(
            session_id=row.session_id,
            user_id=row.user_id,
            created_ms=row.created_ms,
            expires_ms=row.expires_ms,
            revoked=bool(row.revoked),
        )

    def revoke(self, session_id: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(sessions).where(sessions.c.session_id == session_id).values(revoked=1)
            )
        return result.rowcount > 0
