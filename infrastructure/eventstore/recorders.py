"""Application recorders that extend eventsourcing's with the hash chain.

Selected through `APPLICATION_RECORDER_TOPIC`. Both append chain rows inside the
transaction that inserts the events, while the writer lock is held, so the chain
order is the commit order (eventsourcing 9.5.6 hook points; see ADR 0002).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from infrastructure.eventstore.chain import GENESIS, ChainRow, EventRow, link_hash

BATCH = 1000


def _links(
    head: bytes, ids: Sequence[int], stored_events: Sequence[StoredEvent]
) -> list[tuple[int, bytes, bytes]]:
    rows = []
    prev = head
    for notification_id, stored in zip(ids, stored_events, strict=True):
        digest = link_hash(
            prev,
            notification_id,
            stored.originator_id,
            stored.originator_version,
            stored.topic,
            stored.state,
        )
        rows.append((notification_id, prev, digest))
        prev = digest
    return rows


def _iter_events(recorder: ApplicationRecorder) -> Iterator[EventRow]:
    """Every stored event in notification order, read in batches (for verify)."""
    start = 1
    while True:
        batch = recorder.select_notifications(start, BATCH)
        for n in batch:
            yield EventRow(n.id, n.originator_id, n.originator_version, n.topic, n.state)
        if len(batch) < BATCH:
            return
        start = batch[-1].id + 1


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: Any, events_table_name: str = "keyledger_events") -> None:
        # eventsourcing names SQLite tables "stored_events" whatever the app is
        # called; use the PostgreSQL name so both stores look the same.
        super().__init__(datastore, events_table_name)

    @property
    def chain_table_name(self) -> str:
        return self.events_table_name + "_chain"

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self.chain_table_name} ("
            "notification_id INTEGER PRIMARY KEY, "
            "prev_hash BLOB NOT NULL UNIQUE, "
            "hash BLOB NOT NULL)"
        )
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Insert first: that takes SQLite's write lock. Reading the head before
        # would read from a snapshot another writer may already have moved past.
        ids = super()._insert_events(c, stored_events, **kwargs)
        if not ids:
            return ids
        # Table names are fixed in code, never user input.
        c.execute(
            f"SELECT hash FROM {self.chain_table_name} "  # noqa: S608
            "ORDER BY notification_id DESC LIMIT 1"
        )
        row = c.fetchone()
        head = bytes(row[0]) if row else GENESIS
        c.executemany(
            f"INSERT INTO {self.chain_table_name} VALUES (?,?,?)",  # noqa: S608
            _links(head, ids, stored_events),
        )
        return ids

    def iter_events(self) -> Iterator[EventRow]:
        return _iter_events(self)

    def chain_hash(self, notification_id: int) -> bytes | None:
        """The chain's hash at one event (None if it has no link)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT hash FROM {self.chain_table_name} WHERE notification_id = ?",  # noqa: S608
                (notification_id,),
            )
            row = c.fetchone()
        return bytes(row[0]) if row else None

    def event_page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """(notification_id, originator_id, originator_version, topic, state) tuples
        after `after`: one plain query, no Notification objects (for a rebuild)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
                f"FROM {self.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, limit),
            )
            return [tuple(row) for row in c.fetchall()]

    def iter_chain(self) -> Iterator[ChainRow]:
        after = 0
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    "SELECT notification_id, prev_hash, hash "  # noqa: S608
                    f"FROM {self.chain_table_name} "
                    "WHERE notification_id > ? ORDER BY notification_id LIMIT ?",
                    (after, BATCH),
                )
                rows = c.fetchall()
            for r in rows:
                yield ChainRow(r[0], bytes(r[1]), bytes(r[2]))
            if len(rows) < BATCH:
                return
            after = rows[-1][0]


class ChainedSQLiteAccessRecorder(ChainedSQLiteApplicationRecorder):
    """The access log's recorder (its own SQLite file, its own chain)."""

    def __init__(self, datastore: Any, events_table_name: str = "keyledger_access_events") -> None:
        super().__init__(datastore, events_table_name)


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table_name = events_table_name + "_chain"
        table = Identifier(self.datastore.schema, self.chain_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "notification_id bigint PRIMARY KEY, "
                "prev_hash bytea NOT NULL UNIQUE, "
                "hash bytea NOT NULL)"
            ).format(table)
        )
        self._select_head = SQL("SELECT hash FROM {} ORDER BY notification_id DESC LIMIT 1").format(
            table
        )
        self._insert_links = SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(table)
        self._select_page = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(Identifier(self.datastore.schema, events_table_name))
        self._select_links = SQL(
            "SELECT notification_id, prev_hash, hash FROM {} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(table)
        self._select_link = SQL("SELECT hash FROM {} WHERE notification_id = %s").format(table)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The table lock is held and the ids are known. An exception raised here
        # would only be re-raised after the transaction commits, so on failure the
        # transaction is first poisoned with a statement that cannot succeed.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        try:
            if ids:
                curs.execute(self._select_head)
                row = curs.fetchone()
                head = bytes(row["hash"]) if row else GENESIS
                curs.executemany(self._insert_links, _links(head, ids, stored_events))
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is re-raised
                curs.execute(SQL("SELECT 1/0"))
            raise
        return ids

    def iter_events(self) -> Iterator[EventRow]:
        return _iter_events(self)

    def chain_hash(self, notification_id: int) -> bytes | None:
        """The chain's hash at one event (None if it has no link)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_link, (notification_id,))
            row = curs.fetchone()
        return bytes(row["hash"]) if row else None

    def event_page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """As the SQLite recorder's: plain tuples from one query."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_page, (after, limit), prepare=True)
            return curs.fetchall()

    def iter_chain(self) -> Iterator[ChainRow]:
        after = 0
        while True:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._select_links, (after, BATCH))
                rows = curs.fetchall()
            for r in rows:
                yield ChainRow(r["notification_id"], bytes(r["prev_hash"]), bytes(r["hash"]))
            if len(rows) < BATCH:
                return
            after = rows[-1]["notification_id"]
