"""In-process checkpoints of the point-in-time fold, so a question need not replay the
whole ledger: it starts from the latest checkpoint that holds nothing after T.

A checkpoint is the fold of *every* state event up to a notification id (a prefix of
the log), taken while a fold had not yet met an event after its T. It serves any T
at or after the latest timestamp it holds: folding that prefix for such a T applies
every event and cuts none, so starting there gives exactly the fold from scratch.
The log is append-only and both stores make ids visible in commit order, so a prefix
never gains an event later.

The aggregates are kept pickled: a deep copy that is fast to take and to restore, made
and read only by this process (never stored, never received).
"""

from __future__ import annotations

import bisect
import pickle
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from application.vaultstate import StateFold


@dataclass(frozen=True)
class Checkpoint:
    after_id: int  # every state event with a notification id up to this one is folded in
    latest: datetime  # the latest timestamp among them
    events: int
    blob: bytes


class Checkpoints:
    """Taken every `every` applied events; past `keep` of them every other one is
    dropped, so memory stays bounded as the spacing doubles."""

    def __init__(self, every: int = 5000, keep: int = 32) -> None:
        self.every = every
        self.keep = keep
        self._lock = threading.Lock()
        self._taken: list[Checkpoint] = []

    def __len__(self) -> int:
        return len(self._taken)

    def start(self, at_ms: int) -> tuple[StateFold, int, datetime | None]:
        """A fold for T resumed from the latest usable checkpoint (or a fresh one), the
        notification id to read on from, and the latest timestamp already folded in."""
        folding = StateFold(at_ms)
        with self._lock:
            usable = [c for c in self._taken if c.latest <= folding.until]
            chosen = usable[-1] if usable else None
        if chosen is None:
            return folding, 1, None
        aggregates: dict[UUID, Any] = pickle.loads(chosen.blob)  # noqa: S301 - our own bytes
        folding.resume(aggregates, chosen.events)
        return folding, chosen.after_id + 1, chosen.latest

    def offer(self, after_id: int, latest: datetime, folding: StateFold) -> None:
        """Called after each applied event of a fold that has cut nothing yet."""
        with self._lock:
            last = self._taken[-1] if self._taken else None
            if last is not None and (
                after_id <= last.after_id or folding.events - last.events < self.every
            ):
                return
            if last is None and folding.events < self.every:
                return
            blob = pickle.dumps(folding.aggregates, protocol=pickle.HIGHEST_PROTOCOL)
            taken = Checkpoint(after_id, latest, folding.events, blob)
            bisect.insort(self._taken, taken, key=lambda c: c.after_id)
            if len(self._taken) > self.keep:
                self._taken = self._taken[(len(self._taken) - 1) % 2 :: 2]  # keeps the newest
