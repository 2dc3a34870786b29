"""The access log's tables: records, lanes, and the fetch bookkeeping written with them.

Not read models: these rows are the record itself, never dropped or rebuilt. Embedded
mode keeps them in `<data-dir>/access.sqlite`; distributed mode in the PostgreSQL
database beside the event store.
"""

from __future__ import annotations

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
)

access_metadata = MetaData()

access_records = Table(
    "kl_access_records",
    access_metadata,
    Column("lane", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp_ms", BigInteger, nullable=False, index=True),
    Column("action", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("source_ip", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("machine_id", String(64), nullable=True),
    Column("nonce", String(128), nullable=True),
    Column("user_id", String(32), nullable=True),
    Column("ai_agent_id", String(64), nullable=True),
    Column("secret_id", String(32), nullable=True),
    Column("project_id", String(32), nullable=True),
    Column("secret_version", Integer, nullable=True),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    # The replay check: a machine's nonce is accepted once, ever (NULLs never clash).
    Index("kl_access_records_nonce", "machine_id", "nonce", unique=True),
)

access_lanes = Table(
    "kl_access_lanes",
    access_metadata,
    Column("lane", String(32), primary_key=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("origin", Text, nullable=False),
)

# What version of each secret a machine last fetched (for /v1/secrets/poll).
fetches = Table(
    "kl_fetches",
    access_metadata,
    Column("machine_id", String(36), primary_key=True),
    Column("secret_id", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
)

# Reads counted for access policies with a rate cap or a TTL read limit, per secret and
# bucket ("m:<UTC minute>", "d:<UTC day>", "t" all time): shared by every API process.
policy_counts = Table(
    "kl_policy_counts",
    access_metadata,
    Column("secret_id", String(32), primary_key=True),
    Column("bucket", String(24), primary_key=True),
    Column("reads", BigInteger, nullable=False),
)

# The audit query's filters on this log, each with time so a filtered page reads in
# order (time alone has its own index above). Kept few: every index is written on the
# read path's hot append. Created with checkfirst on existing stores, where the
# (secret_id, time) one replaces the plain secret_id index of before (REPLACED).
QUERY_INDEXES = tuple(
    Index(f"kl_access_records_{name}_time", access_records.c[name], access_records.c.timestamp_ms)
    for name in ("action", "machine_id", "secret_id", "source_ip")
)
REPLACED_INDEXES = ("ix_kl_access_records_secret_id",)

COLUMNS = (
    "lane",
    "seq",
    "timestamp_ms",
    "action",
    "severity",
    "actor_kind",
    "source_ip",
    "detail",
    "machine_id",
    "nonce",
    "user_id",
    "ai_agent_id",
    "secret_id",
    "project_id",
    "secret_version",
    "prev_hash",
    "hash",
)
