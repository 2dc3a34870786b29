"""The access log: machine reads, denials and failed authentications.

These are audit records, not vault changes, and they come at the read rate. They
live in their own eventsourcing Application (own table, own lock, own hash chain),
so they never contend with vault writes and never move the ledger's head, which
the gate uses as its cache key. A `RecordWriter` commits them in groups: each
request waits for the commit of the batch that holds its record (durably audited
before it answers), while many requests share one transaction.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from application.transcodings import register_ledger_transcodings
from domain.audit import AuditStamp
from domain.records import AuditRecord

MAX_BATCH = 300


class AccessLog(Application[UUID]):
    name = "keyledger_access"

    def __init__(self, env: Mapping[str, str] | None) -> None:
        super().__init__(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_ledger_transcodings(transcoder)


@dataclass(frozen=True)
class PendingRecord:
    """What to record. The aggregate is built per save attempt: a failed save has
    already collected (and so lost) an aggregate's pending events."""

    action: str
    audit: AuditStamp
    secret_id: str | None
    key: str | None
    fetched_version: int | None = None  # a read: remembered for /v1/secrets/poll

    def build(self) -> AuditRecord:
        return AuditRecord(
            action=self.action, audit=self.audit, secret_id=self.secret_id, record_key=self.key
        )


Batch = list[tuple[PendingRecord, "Future[bool]"]]


class RecordWriter:
    """Group commit: a single writer thread saves whatever is queued as one batch.

    The batch is flushed as soon as the writer is free (no fixed linger). A record
    whose key was used before (a replayed nonce) makes its future resolve to False;
    any other failure is raised to every waiter, so the request fails closed.
    """

    def __init__(
        self,
        log: AccessLog,
        after_commit: Callable[[list[PendingRecord]], None] | None = None,
    ) -> None:
        self.log = log
        self.after_commit = after_commit
        self._queue: queue.Queue[tuple[PendingRecord, Future[bool]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="keyledger-records", daemon=True)
        # after_commit (fetch bookkeeping) runs on its own thread: the writer goes
        # straight back to committing the next batch.
        self._after: queue.Queue[list[PendingRecord] | None] = queue.Queue()
        self._after_thread = threading.Thread(
            target=self._run_after, name="keyledger-records-after", daemon=True
        )
        self._started = False
        self._lock = threading.Lock()

    def submit(
        self,
        action: str,
        audit: AuditStamp,
        secret_id: str | None,
        key: str | None = None,
        fetched_version: int | None = None,
    ) -> Future[bool]:
        record = PendingRecord(action, audit, secret_id, key, fetched_version)
        future: Future[bool] = Future()
        self._ensure_started()
        self._queue.put((record, future))
        return future

    def write(
        self, action: str, audit: AuditStamp, secret_id: str | None = None, key: str | None = None
    ) -> bool:
        """Submit and wait for the commit. False: the key was already used."""
        return self.submit(action, audit, secret_id, key).result(timeout=30)

    def _ensure_started(self) -> None:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._after_thread.start()
                    self._started = True

    def close(self) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._after.put(None)
            self._after_thread.join(timeout=10)

    def _run_after(self) -> None:
        while True:
            records = self._after.get()
            if records is None:
                return
            while len(records) < 5000:
                try:
                    more = self._after.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._after.put(None)
                    break
                records.extend(more)
            # Bookkeeping only (what poll compares with); the audit is committed.
            if self.after_commit is not None:
                with contextlib.suppress(Exception):
                    self.after_commit(records)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: Batch) -> None:
        try:
            self.log.save(*(record.build() for record, _ in batch))
            saved = batch
        except IntegrityError:
            saved = self._commit_one_by_one(batch)
        except Exception as exc:
            for _record, future in batch:
                future.set_exception(exc)
            return
        for _record, future in saved:
            future.set_result(True)
        if self.after_commit is not None and saved:
            self._after.put([record for record, _ in saved])

    def _commit_one_by_one(self, batch: Batch) -> Batch:
        saved = []
        for record, future in batch:
            try:
                self.log.save(record.build())
            except IntegrityError:
                future.set_result(False)
            except Exception as exc:
                future.set_exception(exc)
            else:
                saved.append((record, future))
        return saved
