"""The checkpoint table (`kl_checkpoints`, beside the access records) and the logs'
current heads, read straight from the chain tables.

Append-only like the records it vouches for: rows are inserted, never updated. A
deleted row is caught by the off-box copy of a newer checkpoint (`verify --checkpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine, RowMapping

from domain.checkpoint import LEDGER, Checkpoint, Head, SignedCheckpoint, access_log
from infrastructure.accessstore.tables import access_records

checkpoint_metadata = MetaData()

checkpoints_table = Table(
    "kl_checkpoints",
    checkpoint_metadata,
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("heads", Text, nullable=False),  # [[log, position, hash], …]
    Column("public_key", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

LEDGER_HEAD = text(
    "SELECT notification_id, hash FROM keyledger_events_chain ORDER BY notification_id DESC LIMIT 1"
)


def _signed(row: RowMapping) -> SignedCheckpoint:
    heads = tuple(Head(log, int(pos), digest) for log, pos, digest in json.loads(row.heads))
    return SignedCheckpoint(
        Checkpoint(int(row.time_ms), heads),
        bytes(row.public_key),
        bytes(row.signature),
        int(row.number),
    )


class SqlCheckpointLog:
    """`access` holds the access records (and this table); `ledger` the event chain."""

    def __init__(self, access: Engine, ledger: Engine, *, owns_ledger: bool = False) -> None:
        self._access = access
        self._ledger = ledger
        self._owns_ledger = owns_ledger  # an engine opened for this log alone
        with access.begin() as conn:  # several servers may start at once on one database
            if access.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7210420004)"))
            checkpoint_metadata.create_all(conn)

    def close(self) -> None:
        if self._owns_ledger:
            self._ledger.dispose()

    def heads(self) -> list[Head]:
        found: list[Head] = []
        with self._ledger.connect() as conn:
            row = conn.execute(LEDGER_HEAD).first()
        if row is not None:
            found.append(Head(LEDGER, int(row[0]), bytes(row[1]).hex()))
        r = access_records.c
        newest = select(r.lane, func.max(r.seq).label("seq")).group_by(r.lane).subquery()
        query = select(r.lane, r.seq, r.hash).join(
            newest, (r.lane == newest.c.lane) & (r.seq == newest.c.seq)
        )
        with self._access.connect() as conn:
            for lane, seq, digest in conn.execute(query):
                found.append(Head(access_log(lane), int(seq), bytes(digest).hex()))
        return found

    def append(self, signed: SignedCheckpoint) -> SignedCheckpoint:
        heads = sorted(signed.checkpoint.heads, key=lambda h: h.log)
        values = {
            "time_ms": signed.checkpoint.time_ms,
            "heads": json.dumps([[h.log, h.position, h.hash] for h in heads]),
            "public_key": signed.public_key,
            "signature": signed.signature,
        }
        with self._access.begin() as conn:
            number = conn.execute(insert(checkpoints_table).values(**values)).inserted_primary_key
        assert number is not None
        return SignedCheckpoint(signed.checkpoint, signed.public_key, signed.signature, number[0])

    def newest(self) -> SignedCheckpoint | None:
        query = select(checkpoints_table).order_by(checkpoints_table.c.number.desc()).limit(1)
        with self._access.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _signed(row) if row is not None else None

    def all(self) -> Iterator[SignedCheckpoint]:
        query = select(checkpoints_table).order_by(checkpoints_table.c.number)
        with self._access.connect() as conn:
            rows = list(conn.execute(query).mappings())
        return iter([_signed(row) for row in rows])
