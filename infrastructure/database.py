"""The state database: key table, sessions, read models and projection tracking.

Embedded mode keeps it in `<data-dir>/state.sqlite` (WAL); distributed mode puts it
in the same PostgreSQL database as the event store. SQLAlchemy Core, no ORM: the
read models are plain tables written by projections.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

keys = Table(
    "kl_keys",
    metadata,
    Column("key_ref", String(64), primary_key=True),
    Column("owner_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
)

sessions = Table(
    "kl_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(32), nullable=False, unique=True),
    Column("user_id", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("revoked", Integer, nullable=False, default=0),
)

# A table of its own rather than a column of kl_sessions: create_all adds it to an
# existing state database, where a new column would need a migration.
session_activity = Table(
    "kl_session_activity",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("last_seen_ms", BigInteger, nullable=False),
)

tracking = Table(
    "kl_tracking",
    metadata,
    Column("projection", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

projects = Table(
    "rm_projects",
    metadata,
    Column("project_id", String(32), primary_key=True),
    Column("aggregate_id", String(36), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("deleted_ms", BigInteger, nullable=True, index=True),
)

secrets_table = Table(
    "rm_secrets",
    metadata,
    Column("secret_id", String(32), primary_key=True),
    Column("aggregate_id", String(36), nullable=False, unique=True),
    Column("project_id", String(32), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("type", String(16), nullable=False),
    Column("field_names", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("deleted_ms", BigInteger, nullable=True, index=True),
    # The dashboard pages a project's secrets by name (LIMIT/OFFSET): an ordered scan.
    Index("rm_secrets_project_name", "project_id", "name"),
)

secret_versions = Table(
    "rm_secret_versions",
    metadata,
    Column("secret_id", String(32), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("rolled_back_from", Integer, nullable=True),
)

audit_log = Table(
    "rm_audit_log",
    metadata,
    Column("log", String(8), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("action", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("user_id", String(32), nullable=True),
    Column("machine_id", String(64), nullable=True),
    Column("ai_agent_id", String(64), nullable=True),
    Column("secret_id", String(32), nullable=True),
    Column("project_id", String(32), nullable=True),
    Column("source_ip", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False, index=True),
    # The audit query's filters, each with time so a filtered page reads in order.
    *(
        Index(f"rm_audit_log_{name}_time", name, "timestamp_ms")
        for name in ("action", "machine_id", "secret_id", "project_id", "user_id", "source_ip")
    ),
)

nonces = Table(
    "kl_nonces",
    metadata,
    Column("machine_id", String(36), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("seen_ms", BigInteger, nullable=False, index=True),
)

machines = Table(
    "rm_machines",
    metadata,
    Column("machine_id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("enabled", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False, default="standard"),  # ephemeral, temporary
    Column("expires_ms", BigInteger, nullable=True, index=True),
)

memberships = Table(
    "rm_memberships",
    metadata,
    Column("machine_id", String(36), primary_key=True),
    Column("project_id", String(32), primary_key=True),
    Column("added_ms", BigInteger, nullable=False),
)

grants = Table(
    "rm_grants",
    metadata,
    Column("machine_id", String(36), primary_key=True),
    Column("secret_id", String(32), primary_key=True, index=True),
    Column("granted_ms", BigInteger, nullable=False),
)

rotations = Table(
    "rm_rotations",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("secret_id", String(32), nullable=False, unique=True),
    Column("project_id", String(32), nullable=False),
    Column("managed", Integer, nullable=False),
    Column("enabled", Integer, nullable=False),
    Column("cancelled", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("held", Integer, nullable=False),
    Column("next_due_ms", BigInteger, nullable=False, index=True),
    Column("pending_rotation_id", String(32), nullable=True),
    Column("agent_machine_id", String(36), nullable=True),
    Column("agent_status", String(16), nullable=False),
)

# Not a read model: point-in-time fold snapshots at ledger positions, each bound to
# the chain hash there and sealed with a server-derived key (infrastructure/foldsnapshots.py).
fold_snapshots = Table(
    "kl_fold_snapshots",
    metadata,
    Column("after_id", BigInteger, primary_key=True, autoincrement=False),
    Column("format", Integer, nullable=False),
    Column("latest_us", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("chain_hash", LargeBinary, nullable=False),
    Column("mac", LargeBinary, nullable=False),
    Column("state", LargeBinary, nullable=False),
)

# Not a read model: when each agent last sent a heartbeat (every 30 s, no event).
heartbeats = Table(
    "kl_agent_heartbeats",
    metadata,
    Column("secret_id", String(32), primary_key=True),
    Column("machine_id", String(36), nullable=False),
    Column("beat_ms", BigInteger, nullable=False),
)

READ_MODEL_TABLES = (
    rotations,
    projects,
    secrets_table,
    secret_versions,
    audit_log,
    machines,
    memberships,
    grants,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# Bump when a read-model table changes shape: on start the read models are dropped
# and replayed from the event store (they hold nothing the events do not).
READ_MODEL_VERSION = "10"  # 9: rm_secrets by (project, name); 10: machine kind, expiry

meta = Table(
    "kl_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def _upgrade_read_models(engine: Engine) -> None:
    with engine.begin() as conn:
        found = conn.execute(
            select(meta.c.value).where(meta.c.key == "read_model_version")
        ).scalar()
        if found == READ_MODEL_VERSION:
            return
        for table in READ_MODEL_TABLES:
            table.drop(conn, checkfirst=True)
        conn.execute(delete(tracking))
        for table in READ_MODEL_TABLES:
            table.create(conn)
        conn.execute(delete(meta).where(meta.c.key == "read_model_version"))
        conn.execute(insert(meta).values(key="read_model_version", value=READ_MODEL_VERSION))


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        # Several servers may start at once on a fresh database: one creates.
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7210420001)"))
            metadata.create_all(conn)
    else:
        metadata.create_all(engine)
    _upgrade_read_models(engine)
    return engine
