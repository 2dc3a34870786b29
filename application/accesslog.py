"""The access log writer: group commit into this process's own lane.

Machine reads, refusals and failed logins are audit records, not vault changes, and
they come at the read rate. A single writer thread takes whatever is queued and
appends it as one batch in one transaction; every request waits for the commit of
the batch that holds its record (durably audited before it answers), while many
requests share one commit. The batch is flushed as soon as the writer is free: a
fixed linger measured slower.

Each batch's transaction also reads the ledger head. A request decided against an
older head is re-decided before the commit (validate-at-commit), so a revoke made
through any API process bites on the very next request without a database round
trip per request. A record keyed by a nonce that was used before is refused by the
store's uniqueness; the batch is retried without it, so a replay never fails the
rest of its batch.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from application.ports import AccessStore, Clock
from domain.accesschain import AccessEntry, chain, lane_genesis
from domain.audit import AuditStamp

MAX_BATCH = 300
log = logging.getLogger("keyledger")


def lane_origin() -> str:
    return f"{socket.gethostname()[:64]} pid {os.getpid()}"


@dataclass(frozen=True)
class Decision:
    """A request's record as (re-)decided, and what the request acts on."""

    entry: AccessEntry
    refusal: Exception | None = None  # answered with this error; the entry records why
    subject: Any = None  # e.g. the secret a read was decided on


@dataclass(frozen=True)
class Verdict:
    """What the writer made of a record. `written` False: its nonce was used before,
    nothing was written for it."""

    written: bool
    refusal: Exception | None = None
    subject: Any = None


Recheck = Callable[[object], Decision | None]


@dataclass
class PendingRecord:
    decision: Decision
    future: Future[Verdict] = field(default_factory=Future)
    decided_head: object = None
    recheck: Recheck | None = None  # None: the record does not depend on vault state


class RecordWriter:
    def __init__(self, store: AccessStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.known_head: object = None  # the ledger head seen by the newest batch
        self._queue: queue.Queue[PendingRecord | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="keyledger-records", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self._new_lane()

    def _new_lane(self) -> None:
        self.lane = uuid.uuid4().hex
        self._next_seq = 1
        self._prev = lane_genesis(self.lane)

    def entry(
        self,
        action: str,
        audit: AuditStamp,
        secret_id: str | None = None,
        key: str | None = None,
        *,
        project_id: str | None = None,
        secret_version: int | None = None,
    ) -> AccessEntry:
        return AccessEntry.of(
            action,
            audit,
            self.clock.now_ms(),
            secret_id=secret_id,
            project_id=project_id,
            nonce=key,
            secret_version=secret_version,
        )

    def submit_record(self, record: PendingRecord) -> Future[Verdict]:
        self._ensure_started()
        self._queue.put(record)
        return record.future

    def submit(
        self, action: str, audit: AuditStamp, secret_id: str | None, key: str | None = None
    ) -> Future[Verdict]:
        return self.submit_record(
            PendingRecord(Decision(self.entry(action, audit, secret_id, key)))
        )

    def write(
        self, action: str, audit: AuditStamp, secret_id: str | None = None, key: str | None = None
    ) -> bool:
        """Submit and wait for the commit. False: the key (nonce) was already used."""
        return self.submit(action, audit, secret_id, key).result(timeout=30).written

    def _ensure_started(self) -> None:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True

    def close(self) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[PendingRecord]) -> None:
        try:
            self._append(batch)
        except Exception as exc:  # fail closed: no waiter is answered as audited
            log.warning("access log: batch of %d not written (%s)", len(batch), type(exc).__name__)
            # The commit's fate may be unknown: continue in a fresh lane, so this
            # lane's chain stays exactly what the store holds.
            self._new_lane()
            for record in batch:
                if not record.future.done():
                    record.future.set_exception(exc)

    def _append(self, batch: list[PendingRecord]) -> None:
        pending = list(batch)
        while pending:
            decisions = [p.decision for p in pending]
            rows = chain(self.lane, self._next_seq, self._prev, [d.entry for d in decisions])
            fetched = [
                (d.entry.machine_id, d.entry.secret_id, d.entry.secret_version)
                for d in decisions
                if d.refusal is None
                and d.entry.action == "secret_read"
                and d.entry.machine_id
                and d.entry.secret_id
                and d.entry.secret_version is not None
            ]
            outcome = self.store.append(rows, fetched, partial(self._still_decided, pending))
            if outcome.replayed:
                refused = set(outcome.replayed)
                for i in refused:
                    pending[i].future.set_result(Verdict(written=False))
                pending = [p for i, p in enumerate(pending) if i not in refused]
                continue
            if not outcome.committed:
                continue  # some were re-decided: write the new decisions instead
            self.known_head = outcome.head
            self._next_seq = rows[-1].seq + 1
            self._prev = rows[-1].hash
            for p in pending:
                d = p.decision
                p.future.set_result(Verdict(True, d.refusal, d.subject))
            return

    @staticmethod
    def _still_decided(pending: list[PendingRecord], head: object) -> bool:
        """Re-decide records decided on an older ledger head; False if any changed."""
        unchanged = True
        for p in pending:
            if p.recheck is None or p.decided_head == head:
                continue
            redecided = p.recheck(head)
            p.decided_head = head
            if redecided is not None:
                p.decision = redecided
                unchanged = False
        return unchanged
