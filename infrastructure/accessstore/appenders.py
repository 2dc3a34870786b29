"""The hot path: one batch of access records per transaction, on a dedicated connection.

The writer thread alone calls `append`. PostgreSQL gets one multi-row
`INSERT … SELECT unnest(…) ON CONFLICT (machine_id, nonce) DO NOTHING RETURNING seq`
per batch; SQLite (in-process, no round trips) a row-by-row insert inside one
`BEGIN IMMEDIATE`. Either way a replayed nonce is found without failing the batch:
its position is reported, the transaction rolled back, and the writer retries the
rest. Any other error rolls back and propagates (the requests fail closed).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from application.ports import AppendOutcome
from domain.accesschain import ChainedEntry, entry_values
from infrastructure.accessstore.tables import COLUMNS

Confirm = Callable[[object], bool]


def _values(row: ChainedEntry) -> tuple[Any, ...]:
    return (row.lane, row.seq, *entry_values(row.entry), row.prev_hash, row.hash)  # = COLUMNS


def _json_values(row: ChainedEntry) -> tuple[Any, ...]:
    """`_values` as JSON can carry them: the hashes in hex."""
    return (row.lane, row.seq, *entry_values(row.entry), row.prev_hash.hex(), row.hash.hex())


def _latest(fetched: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """One row per (machine, secret): an upsert may not touch a row twice."""
    latest = {(m, s): v for m, s, v in fetched}
    return [(m, s, v) for (m, s), v in latest.items()]


class SqliteAppender:
    def __init__(self, path: Path, origin: str, ledger_head: Callable[[], object]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # a commit is on disk before we answer
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.origin = origin
        self.ledger_head = ledger_head
        # API processes on one data dir queue for the write lock here: SQLite's own
        # busy handler sleeps in steps of up to 100 ms, which showed as a 0.5 s p99.
        self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        marks = ",".join("?" * len(COLUMNS))
        self._insert = (
            f"INSERT INTO kl_access_records ({','.join(COLUMNS)}) VALUES ({marks}) "  # noqa: S608
            "ON CONFLICT (machine_id, nonce) DO NOTHING"
        )

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def append(
        self, rows: list[ChainedEntry], fetched: list[tuple[str, str, int]], confirm: Confirm
    ) -> AppendOutcome:
        with self._writer_turn():
            return self._append(rows, fetched, confirm)

    def _append(
        self, rows: list[ChainedEntry], fetched: list[tuple[str, str, int]], confirm: Confirm
    ) -> AppendOutcome:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            if rows and rows[0].seq == 1:
                c.execute(
                    "INSERT INTO kl_access_lanes VALUES (?,?,?)",
                    (rows[0].lane, rows[0].entry.timestamp_ms, self.origin),
                )
            replayed = [
                i
                for i, row in enumerate(rows)
                if c.execute(self._insert, _values(row)).rowcount == 0
            ]
            head = self.ledger_head()
            if replayed:
                c.execute("ROLLBACK")
                return AppendOutcome(False, replayed, head)
            if fetched:
                c.executemany(
                    "INSERT INTO kl_fetches VALUES (?,?,?) ON CONFLICT (machine_id, secret_id) "
                    "DO UPDATE SET version = excluded.version",
                    _latest(fetched),
                )
            if not confirm(head):
                c.execute("ROLLBACK")
                return AppendOutcome(False, [], head)
            c.execute("COMMIT")
            return AppendOutcome(True, [], head)
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()
        os.close(self._lock_fd)


class PostgresAppender:
    def __init__(self, url: str, origin: str, ledger_head: sql.SQL | sql.Composed) -> None:
        self.url = url
        self.origin = origin
        self._head = ledger_head
        self._conn: psycopg.Connection[Any] | None = None
        # The batch travels as one JSON text (encoded in C) and PostgreSQL takes it
        # apart: 17 typed arrays dumped element by element in Python cost more.
        types = (
            "text", "bigint", "bigint", "text", "text", "text", "text", "text", "text",
            "text", "text", "text", "text", "text", "int",
        )  # fmt: skip
        fields = [f"(r->>{i})::{t}" for i, t in enumerate(types)]
        fields += [f"decode(r->>{len(types) + i}, 'hex')" for i in range(2)]  # the hashes
        self._insert = sql.SQL(
            "INSERT INTO kl_access_records ({}) SELECT "  # noqa: S608 (constants only)
            + ", ".join(fields)
            + " FROM json_array_elements(%s::json) AS t(r)"
            " ON CONFLICT (machine_id, nonce) DO NOTHING RETURNING seq"
        ).format(sql.SQL(",").join(map(sql.Identifier, COLUMNS)))
        self._fetches = sql.SQL(
            "INSERT INTO kl_fetches (machine_id, secret_id, version) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::int[]) "
            "ON CONFLICT (machine_id, secret_id) DO UPDATE SET version = excluded.version"
        )

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=False)
        return self._conn

    def append(
        self, rows: list[ChainedEntry], fetched: list[tuple[str, str, int]], confirm: Confirm
    ) -> AppendOutcome:
        conn = self._connection()
        try:
            # One round trip for the head, the batch and its fetches (a pipeline), one
            # for the commit: the statements do not depend on each other's results, and
            # whatever they say is judged before the commit (a refusal rolls all back).
            with conn.pipeline(), conn.cursor() as cur, conn.cursor() as ins:
                cur.execute(self._head)
                if rows and rows[0].seq == 1:
                    conn.execute(
                        "INSERT INTO kl_access_lanes VALUES (%s, %s, %s)",
                        (rows[0].lane, rows[0].entry.timestamp_ms, self.origin),
                    )
                ins.execute(self._insert, (json.dumps([_json_values(r) for r in rows]),))
                if fetched:
                    latest = _latest(fetched)
                    conn.execute(self._fetches, [list(col) for col in zip(*latest, strict=True)])
                head = cur.fetchone()
                written = {r[0] for r in ins.fetchall()}
            head_id = head[0] if head else None
            if len(written) < len(rows):
                conn.rollback()
                replayed = [i for i, r in enumerate(rows) if r.seq not in written]
                return AppendOutcome(False, replayed, head_id)
            if not confirm(head_id):
                conn.rollback()
                return AppendOutcome(False, [], head_id)
            conn.commit()
            return AppendOutcome(True, [], head_id)
        except BaseException:
            # Whatever happened, this connection's state is unknown: start afresh.
            conn.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
