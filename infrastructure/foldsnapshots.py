"""Point-in-time fold snapshots kept in the state database, so a restarted server
answers its first as-of without replaying the whole ledger.

A snapshot is the folded aggregates of a ledger prefix (see statecheckpoints.py),
keyed by the notification id it ends at. The ledger is append-only, so nothing ever
invalidates one; but the table is as writable as any other, so a row is trusted only
if both hold:

* the chain hash it recorded equals the ledger's hash at that position today (the
  snapshot describes *this* prefix, not one since rewritten), and
* its HMAC, under a key derived from the server key, covers the format, position,
  chain hash, counts and the bytes (nobody without the server key made or edited it).

A row failing either is refused: the next older one is tried, and with none left
the answer is folded from the ledger itself. Refusing rather than erroring keeps
forensics available exactly when someone has tampered; the fold is the truth anyway,
and the refusal is logged. Bytes are unpickled only after the HMAC holds. A sealed
server has no key: it neither writes nor trusts snapshots.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import pickle
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from application.statecheckpoints import Checkpoint
from infrastructure.crypto.envelope import Envelope
from infrastructure.database import fold_snapshots

log = logging.getLogger(__name__)

INFO = b"keyledger fold snapshot mac v1"
# Bump when a folded aggregate's attributes change shape: older rows are then ignored.
FORMAT = 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEAREST_TRIES = 4  # refused rows tried before giving up and folding from scratch


class ChainPositions(Protocol):
    def chain_hash(self, notification_id: int) -> bytes | None: ...


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _message(after_id: int, chain: bytes, latest_us: int, events: int, state: bytes) -> bytes:
    parts = (str(FORMAT), str(after_id), chain.hex(), str(latest_us), str(events))
    return "|".join(parts).encode() + b"|" + hashlib.sha256(state).digest()


def _unpickle(state: bytes) -> Any:
    """Sealed by our own key (checked before this is called). The collector is paused:
    thousands of new objects would set it off again and again, tripling the time."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(state)  # noqa: S301
    finally:
        if paused:
            gc.enable()


class SqlFoldSnapshots:
    def __init__(self, engine: Engine, chain: ChainPositions, envelope: Envelope) -> None:
        self.engine = engine
        self.chain = chain
        self.envelope = envelope

    def _mac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha256).digest()

    def save(self, checkpoint: Checkpoint) -> None:
        chain = self.chain.chain_hash(checkpoint.after_id)
        if chain is None:
            return
        key = self.envelope.derive(INFO)[0]  # Sealed while sealed: the caller logs it
        state = pickle.dumps(dict(checkpoint.aggregates), protocol=pickle.HIGHEST_PROTOCOL)
        latest_us = micros(checkpoint.latest)
        message = _message(checkpoint.after_id, chain, latest_us, checkpoint.events, state)
        row = {
            "after_id": checkpoint.after_id,
            "format": FORMAT,
            "latest_us": latest_us,
            "events": checkpoint.events,
            "chain_hash": chain,
            "mac": self._mac(key, message),
            "state": state,
        }
        with self.engine.begin() as conn:
            conn.execute(delete(fold_snapshots).where(fold_snapshots.c.after_id == row["after_id"]))
            conn.execute(insert(fold_snapshots).values(**row))

    def newest_events(self) -> int:
        s = fold_snapshots.c
        with self.engine.connect() as conn:
            found = conn.execute(select(func.max(s.events)).where(s.format == FORMAT)).scalar()
        return int(found or 0)

    def nearest(self, until: datetime) -> Checkpoint | None:
        s = fold_snapshots.c
        query = (
            select(s.after_id, s.latest_us, s.events, s.chain_hash, s.mac)
            .where(s.format == FORMAT, s.latest_us <= micros(until))
            .order_by(s.after_id.desc())
            .limit(NEAREST_TRIES)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return None
        keys = self.envelope.derive(INFO)
        for row in rows:
            checkpoint = self._verified(keys, row)
            if checkpoint is not None:
                return checkpoint
        return None

    def _state(self, after_id: int) -> bytes:
        """The bytes of one snapshot, fetched only once its position checks out (a few
        MB on a large vault)."""
        s = fold_snapshots.c
        with self.engine.connect() as conn:
            found = conn.execute(select(s.state).where(s.after_id == after_id)).scalar()
        return bytes(found or b"")

    def _verified(self, keys: list[bytes], row: Any) -> Checkpoint | None:
        after_id, latest_us, events, chain, mac = (
            int(row[0]),
            int(row[1]),
            int(row[2]),
            bytes(row[3]),
            bytes(row[4]),
        )
        if not hmac.compare_digest(self.chain.chain_hash(after_id) or b"", chain):
            log.warning("fold snapshot at event %d refused: not the ledger's chain", after_id)
            return None
        state = self._state(after_id)
        message = _message(after_id, chain, latest_us, events, state)
        if not any(hmac.compare_digest(self._mac(key, message), mac) for key in keys):
            log.warning("fold snapshot at event %d refused: its seal does not hold", after_id)
            return None
        aggregates = _unpickle(state)
        latest = EPOCH + timedelta(microseconds=latest_us)
        return Checkpoint(after_id, latest, events, aggregates)
