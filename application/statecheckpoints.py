"""Checkpoints of the point-in-time fold, so a question need not replay the whole
ledger: it starts from the latest checkpoint that holds nothing after T.

A checkpoint is the fold of *every* state event up to a notification id (a prefix of
the log), taken while a fold had not yet met an event after its T. It serves any T
at or after the latest timestamp it holds: folding that prefix for such a T applies
every event and cuts none, so starting there gives exactly the fold from scratch.
The log is append-only and both stores make ids visible in commit order, so a prefix
never gains an event later.

In memory a checkpoint shares its aggregates with the fold that took it (which
copies an aggregate before changing it, see `StateFold`), so taking one costs a dict
copy. Some are also kept in a `SnapshotStore`, so a restarted process does not
replay the whole ledger on its first question.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from application.vaultstate import StateFold

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    after_id: int  # every state event with a notification id up to this one is folded in
    latest: datetime  # the latest timestamp among them
    events: int
    aggregates: Mapping[UUID, Any]  # shared: never mutated


class SnapshotStore(Protocol):
    """Checkpoints kept across restarts. `nearest` returns only a snapshot it has
    verified (bound to the ledger at its position, unaltered), else an older one
    or None."""

    def nearest(self, until: datetime) -> Checkpoint | None: ...

    def newest_events(self) -> int: ...

    def save(self, checkpoint: Checkpoint) -> None: ...


class Checkpoints:
    """Taken every `every` applied events and at the end of each clean fold; past
    `keep` of them every other one is dropped, so memory stays bounded as the spacing
    doubles. Every `persist_every` events one is also saved to `store`."""

    def __init__(
        self,
        every: int = 5000,
        keep: int = 32,
        store: SnapshotStore | None = None,
        persist_every: int = 2000,
    ) -> None:
        self.every = every
        self.keep = keep
        self.store = store
        self.persist_every = persist_every
        self._lock = threading.Lock()
        self._taken: list[Checkpoint] = []
        self._persisted: int | None = None  # events in the newest stored snapshot

    def __len__(self) -> int:
        return len(self._taken)

    def start(self, at_ms: int) -> tuple[StateFold, int, datetime | None]:
        """A fold for T resumed from the latest usable checkpoint (or a fresh one), the
        notification id to read on from, and the latest timestamp already folded in."""
        folding = StateFold(at_ms)
        with self._lock:
            usable = [c for c in self._taken if c.latest <= folding.until]
            chosen = usable[-1] if usable else None
        stored = self._stored(folding.until, chosen)
        if stored is not None:
            chosen = stored
            with self._lock:
                if all(c.after_id != stored.after_id for c in self._taken):
                    bisect.insort(self._taken, stored, key=lambda c: c.after_id)
                    self._thin()
        if chosen is None:
            return folding, 1, None
        folding.resume(chosen.aggregates, chosen.events)
        return folding, chosen.after_id + 1, chosen.latest

    def _stored(self, until: datetime, chosen: Checkpoint | None) -> Checkpoint | None:
        """A stored snapshot nearer T than the in-memory choice, if worth loading."""
        if self.store is None:
            return None
        try:
            if self._persisted is None:
                self._persisted = self.store.newest_events()
            if chosen is not None and self._persisted - chosen.events < self.persist_every:
                return None  # nothing stored is much further on
            stored = self.store.nearest(until)
        except Exception:  # a broken snapshot table must never break the answer
            log.exception("fold snapshots unavailable; folding from the ledger")
            return None
        if stored is None or (chosen is not None and stored.events <= chosen.events):
            return None
        return stored

    def offer(self, after_id: int, latest: datetime, folding: StateFold, final: bool) -> None:
        """Called after each applied event of a fold that has cut nothing yet, and
        once more (`final`) when such a fold has read to its end."""
        with self._lock:
            last = self._taken[-1] if self._taken else None
            if last is not None and after_id <= last.after_id:
                return
            since = folding.events - (last.events if last is not None else 0)
            if since < self.every and not (final and since > 0):
                return
            taken = Checkpoint(after_id, latest, folding.events, folding.freeze())
            bisect.insort(self._taken, taken, key=lambda c: c.after_id)
            self._thin()
        self._persist(taken)

    def _thin(self) -> None:
        if len(self._taken) > self.keep:
            self._taken = self._taken[(len(self._taken) - 1) % 2 :: 2]  # keeps the newest

    def _persist(self, taken: Checkpoint) -> None:
        if self.store is None:
            return
        try:
            if self._persisted is None:
                self._persisted = self.store.newest_events()
            if taken.events - self._persisted < self.persist_every:
                return
            self.store.save(taken)
            self._persisted = taken.events
        except Exception:  # e.g. a sealed server cannot seal a snapshot: fold as before
            log.warning("fold snapshot at event %d not saved", taken.after_id, exc_info=True)
