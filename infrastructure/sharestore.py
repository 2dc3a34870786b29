"""The share index in SQL (state.sqlite, or PostgreSQL): which shares exist, which are
still pending and when they lapse. Ids and times only; the ledger holds the rest."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, select, text, update
from sqlalchemy.engine import Engine

share_metadata = MetaData()

share_index = Table(
    "kl_share_index",
    share_metadata,
    Column("share_id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Index("ix_kl_share_index_pending", "status", "expires_ms"),
)

PENDING = "pending"


class SqlShareIndex:
    """Implements the application's `ShareIndex` port."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name == "postgresql":
            # Several API processes may start at once on a fresh database: one creates.
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(7210420001)"))
                share_metadata.create_all(conn)
        else:
            share_metadata.create_all(engine)

    def add(self, share_id: str, created_ms: int, expires_ms: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                share_index.insert().values(
                    share_id=share_id,
                    status=PENDING,
                    created_ms=created_ms,
                    expires_ms=expires_ms,
                )
            )

    def ended(self, share_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(share_index).where(share_index.c.share_id == share_id).values(status=status)
            )

    def newest(self, limit: int) -> list[str]:
        query = (
            select(share_index.c.share_id)
            .order_by(share_index.c.created_ms.desc(), share_index.c.share_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def due(self, now_ms: int) -> list[str]:
        query = (
            select(share_index.c.share_id)
            .where(share_index.c.status == PENDING, share_index.c.expires_ms <= now_ms)
            .order_by(share_index.c.expires_ms)
            .limit(1000)
        )
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]
