"""The share index and the Docker bundle index in SQL (state.sqlite, or PostgreSQL):
which exist, which are still pending and when they lapse. Ids and times only; the
ledger holds the rest."""

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

bundle_index = Table(
    "kl_docker_bundle_index",
    share_metadata,
    Column("bundle_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Index("ix_kl_docker_bundle_index_pending", "status", "expires_ms"),
)

PENDING = "pending"


class SqlShareIndex:
    """Implements the application's `ShareIndex` port (and, over `bundle_index`, the
    `BundleIndex` port: the same shape, keyed by the bundle's token digest)."""

    def __init__(self, engine: Engine, table: Table = share_index) -> None:
        self.engine = engine
        self.table = table
        self.key = next(iter(table.primary_key.columns))
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
                self.table.insert().values(
                    {
                        self.key.name: share_id,
                        "status": PENDING,
                        "created_ms": created_ms,
                        "expires_ms": expires_ms,
                    }
                )
            )

    def ended(self, share_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(self.table).where(self.key == share_id).values(status=status))

    def newest(self, limit: int) -> list[str]:
        query = select(self.key).order_by(self.table.c.created_ms.desc(), self.key).limit(limit)
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def due(self, now_ms: int) -> list[str]:
        query = (
            select(self.key)
            .where(self.table.c.status == PENDING, self.table.c.expires_ms <= now_ms)
            .order_by(self.table.c.expires_ms)
            .limit(1000)
        )
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]
