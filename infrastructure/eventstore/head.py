"""Cheap "has the ledger changed?" probes for the gate's aggregate cache.

SQLite: `PRAGMA data_version` on a dedicated connection changes whenever any other
connection (any thread, any process) commits to the file; no transaction needed.
PostgreSQL: the highest notification id (an index-only lookup).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from eventsourcing.persistence import ApplicationRecorder


class SqliteHead:
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()

    def token(self) -> object:
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        self._conn.close()


class RecorderHead:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder

    def token(self) -> object:
        return self._recorder.max_notification_id()
