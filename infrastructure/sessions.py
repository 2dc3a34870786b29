"""Operator sessions, server side: only a SHA-256 of the token is stored.

Every API process reads and writes the same state database, so a revocation (logout,
log out everywhere, an idle timeout) holds in all of them at once.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from application.ports import SessionRecord
from infrastructure.database import session_activity, sessions


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
        query = (
            select(sessions, session_activity.c.last_seen_ms)
            .select_from(
                sessions.outerjoin(
                    session_activity, session_activity.c.session_id == sessions.c.session_id
                )
            )
            .where(sessions.c.token_hash == token_hash)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return SessionRecord(
            session_id=row.session_id,
            user_id=row.user_id,
            created_ms=row.created_ms,
            expires_ms=row.expires_ms,
            revoked=bool(row.revoked),
            last_seen_ms=row.last_seen_ms,
        )

    def revoke(self, session_id: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(sessions).where(sessions.c.session_id == session_id).values(revoked=1)
            )
        return result.rowcount > 0

    def revoke_user(self, user_id: str) -> int:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(sessions)
                .where(sessions.c.user_id == user_id, sessions.c.revoked == 0)
                .values(revoked=1)
            )
        return result.rowcount

    def seen(self, session_id: str, now_ms: int) -> None:
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(session_activity)
                .where(session_activity.c.session_id == session_id)
                .values(last_seen_ms=now_ms)
            ).rowcount
        if moved:
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(session_activity).values(session_id=session_id, last_seen_ms=now_ms)
                )
        except IntegrityError:
            pass  # another process recorded it first: a moment apart, either time will do
