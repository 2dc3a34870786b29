"""Dramatiq actors for rotations, and the single-leader scheduler that enqueues them.

Embedded mode: a StubBroker and an in-process Worker (no services). Distributed
mode: a RedisBroker; `keyledger worker` processes run the actors. Actors take ids
only (never a value) and re-check everything, so a duplicate delivery is harmless.
The scheduler runs wherever it is started, but only the leader enqueues: a
PostgreSQL advisory lock held on its own connection (released if the process
dies), or an exclusive file lock in the data directory for the embedded mode.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import text
from sqlalchemy.engine import Engine

from application.rotations import Rotations
from domain.errors import Conflict, KeyledgerError

log = logging.getLogger("keyledger.jobs")

QUEUE = "keyledger"
SCHEDULER_LOCK = 7210420002  # 7210420001: schema creation; 7210420003: access tables
RECENT_TTL_MS = 60_000


def make_broker(broker_url: str | None) -> dramatiq.Broker:
    if broker_url:
        return RedisBroker(url=broker_url, namespace="keyledger")  # type: ignore[no-untyped-call]
    return StubBroker()


class Leader:
    """Who may enqueue due work: one process per deployment."""

    def __init__(self, engine: Engine | None, lock_file: Path | None) -> None:
        self.engine = engine
        self.lock_file = lock_file
        self._conn: Any = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self.engine is not None:
            return self._pg()
        return self._file()

    def _pg(self) -> bool:
        assert self.engine is not None
        try:
            if self._conn is not None:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK})
            if got.scalar():
                conn.commit()
                self._conn = conn
                return True
            conn.rollback()
            conn.close()
        except Exception as exc:  # the connection died: leadership is lost with it
            log.warning("scheduler leadership: %s", type(exc).__name__)
            self.release()
        return False

    def _file(self) -> bool:
        if self._fd is not None:
            return True
        assert self.lock_file is not None
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a dead connection already let go
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK})
                self._conn.commit()
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RotationJobs:
    """The rotation actors on one broker, and the scheduler tick."""

    def __init__(
        self,
        rotations: Rotations,
        broker: dramatiq.Broker,
        leader: Leader,
        catch_up: Callable[[], Any],
    ) -> None:
        self.rotations = rotations
        self.broker = broker
        self.leader = leader
        self.catch_up = catch_up
        self._recent: dict[tuple[str, int], int] = {}
        self.also: list[Callable[[], object]] = []  # other leader-only work (outreach)
        self.rotate_due = dramatiq.Actor(
            self._rotate_due,
            broker=broker,
            actor_name="keyledger.rotate_due",
            queue_name=QUEUE,
            priority=0,
            options={"max_retries": 5, "min_backoff": 500, "max_backoff": 30_000},
        )
        self.worker: dramatiq.Worker | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _rotate_due(self, secret_id: str, due_ms: int) -> None:
        try:
            outcome = self.rotations.run_due(secret_id, due_ms)
        except Conflict:
            raise  # a concurrent write moved the schedule: Dramatiq retries, it re-checks
        except KeyledgerError as exc:  # gone, sealed, …: nothing a retry would fix
            outcome = f"skipped ({type(exc).__name__})"
        log.info("rotate_due %s: %s", secret_id, outcome)

    def tick(self) -> int:
        """Enqueue what is due (leader only) and sweep agent health; returns enqueued."""
        if not self.leader.acquire():
            return 0
        self.catch_up()
        for work in self.also:
            try:
                work()
            except Exception as exc:  # one failing part must not stop the others
                log.warning("scheduler: %s: %s", type(exc).__name__, exc)
        now = self.rotations.clock.now_ms()
        self._recent = {k: t for k, t in self._recent.items() if now - t < RECENT_TTL_MS}
        sent = 0
        for secret_id, due_ms in self.rotations.due():
            if (secret_id, due_ms) in self._recent:
                continue
            self.rotate_due.send(secret_id, due_ms)
            self._recent[(secret_id, due_ms)] = now
            sent += 1
        self.rotations.sweep()
        return sent

    def start_worker(self, threads: int = 2) -> None:
        # In-process (StubBroker) polling is free: a short timeout makes stop() prompt.
        poll_ms = 100 if isinstance(self.broker, StubBroker) else 1000
        self.worker = dramatiq.Worker(
            self.broker, queues={QUEUE}, worker_threads=threads, worker_timeout=poll_ms
        )
        self.worker.start()

    def start_scheduler(self, every_s: float = 1.0) -> None:
        def loop() -> None:
            while not self.stop.wait(every_s):
                try:
                    self.tick()
                except Exception as exc:  # keep ticking; the next tick retries
                    log.warning("scheduler tick: %s: %s", type(exc).__name__, exc)

        self.thread = threading.Thread(target=loop, name="keyledger-scheduler", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.worker is not None:
            self.worker.stop(timeout=5000)
            self.worker = None
        self.leader.release()
