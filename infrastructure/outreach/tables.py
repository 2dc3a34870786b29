"""The outreach tables, beside the read models (state.sqlite, or PostgreSQL).

`kl_outbox` holds one row per delivery (webhook POST or alert mail) and
`kl_outbox_position` the follower's place in both logs: written in one transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy import Table as _Table

outreach_metadata = MetaData()

webhooks = _Table(
    "kl_webhooks",
    outreach_metadata,
    Column("webhook_id", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("actions", Text, nullable=False),  # JSON list
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_delivered_ms", BigInteger, nullable=True),
    Column("last_failed_ms", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
)

alert_settings = _Table(
    "kl_alert_settings",
    outreach_metadata,
    Column("name", String(16), primary_key=True),  # one row: "alerts"
    Column("actions", Text, nullable=False),  # JSON list
    Column("smtp", Text, nullable=True),  # JSON: host, port, from, to, security, user
    Column("password_sealed", LargeBinary, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)

outbox = _Table(
    "kl_outbox",
    outreach_metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("target", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    # pending → delivered | failed (gave up) | held (its webhook is disabled) | dropped
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("lease_until_ms", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("done_ms", BigInteger, nullable=True),
    Index("kl_outbox_due", "state", "next_attempt_ms"),
    Index("kl_outbox_target", "target", "state"),
)

outbox_position = _Table(
    "kl_outbox_position",
    outreach_metadata,
    Column("name", String(16), primary_key=True),
    Column("position", Text, nullable=False),
)
