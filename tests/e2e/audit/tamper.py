"""Tampering with a live store in plain SQL, the way an attacker with database access
would: edit or delete a row of the ledger or of the access log, then put it back.

Each change is a context manager that restores the row on exit, so a module can share
one server across tamper cases. `{id}` in SQL is the ledger's notification id column
(`rowid` in SQLite, `notification_id` in PostgreSQL); `?` placeholders work on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any

import psycopg

from domain.accesschain import AccessEntry, link_hash
from infrastructure.accessstore.tables import COLUMNS
from infrastructure.settings import Settings


class RawStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, log: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """One statement on the ledger ("ledger") or the access log ("access"), committed."""
        url = self.settings.database_url
        if url:
            sql = sql.replace("{id}", "notification_id").replace("?", "%s")
            with psycopg.connect(url) as conn:
                cursor = conn.execute(sql, params)  # type: ignore[arg-type]
                return list(cursor.fetchall()) if cursor.description else []
        sql = sql.replace("{id}", "rowid")
        with sqlite3.connect(self.settings.data_dir / f"{log}.sqlite") as conn:
            return list(conn.execute(sql, params).fetchall())

    def event_ids(self) -> list[int]:
        return [r[0] for r in self.run("ledger", "SELECT {id} FROM keyledger_events ORDER BY 1")]

    def busiest_lane(self) -> tuple[str, int]:
        """The lane with the most records, and how many it has."""
        rows = self.run(
            "access", "SELECT lane, COUNT(*) FROM kl_access_records GROUP BY lane ORDER BY 2 DESC"
        )
        return str(rows[0][0]), int(rows[0][1])

    @contextmanager
    def edited_event(self, event_id: int) -> Iterator[None]:
        ((state,),) = self.run(
            "ledger", "SELECT state FROM keyledger_events WHERE {id} = ?", event_id
        )
        self._set_state(event_id, bytes(state) + b" ")
        try:
            yield
        finally:
            self._set_state(event_id, bytes(state))

    def _set_state(self, event_id: int, state: bytes) -> None:
        self.run("ledger", "UPDATE keyledger_events SET state = ? WHERE {id} = ?", state, event_id)

    @contextmanager
    def deleted_event(self, event_id: int) -> Iterator[None]:
        columns = "originator_id, originator_version, topic, state"
        (row,) = self.run(
            "ledger", f"SELECT {columns} FROM keyledger_events WHERE {{id}} = ?", event_id
        )
        self.run("ledger", "DELETE FROM keyledger_events WHERE {id} = ?", event_id)
        try:
            yield
        finally:
            self.run(
                "ledger",
                f"INSERT INTO keyledger_events ({{id}}, {columns}) VALUES (?, ?, ?, ?, ?)",
                event_id,
                *row,
            )

    @contextmanager
    def edited_record(self, lane: str, seq: int) -> Iterator[None]:
        where = "WHERE lane = ? AND seq = ?"
        ((detail,),) = self.run(
            "access", f"SELECT detail FROM kl_access_records {where}", lane, seq
        )
        self.run(
            "access", f"UPDATE kl_access_records SET detail = ? {where}", detail + "!", lane, seq
        )
        try:
            yield
        finally:
            self.run(
                "access", f"UPDATE kl_access_records SET detail = ? {where}", detail, lane, seq
            )

    @contextmanager
    def deleted_records(self, lane: str, first: int, last: int) -> Iterator[None]:
        """Records `first`..`last` of a lane gone (a middle one, or the newest ones)."""
        names = ", ".join(COLUMNS)
        where = "WHERE lane = ? AND seq BETWEEN ? AND ?"
        rows = self.run(
            "access", f"SELECT {names} FROM kl_access_records {where}", lane, first, last
        )
        self.run("access", f"DELETE FROM kl_access_records {where}", lane, first, last)
        try:
            yield
        finally:
            marks = ", ".join("?" for _ in COLUMNS)
            for row in rows:
                self.run(
                    "access", f"INSERT INTO kl_access_records ({names}) VALUES ({marks})", *row
                )

    @contextmanager
    def rewritten_lane(self, lane: str, seq: int) -> Iterator[None]:
        """Edit record `seq` and recompute every hash after it: the lane verifies again."""
        names = ", ".join(COLUMNS)
        where = "WHERE lane = ? AND seq >= ? ORDER BY seq"
        rows = [
            dict(zip(COLUMNS, row, strict=True))
            for row in self.run(
                "access", f"SELECT {names} FROM kl_access_records {where}", lane, seq
            )
        ]
        prev = bytes(rows[0]["prev_hash"])
        for index, row in enumerate(rows):
            entry = AccessEntry(**{f.name: row[f.name] for f in fields(AccessEntry)})
            if index == 0:
                entry = replace(entry, detail=entry.detail + "!")
            digest = link_hash(prev, lane, row["seq"], entry)
            self._set_link(lane, row["seq"], entry.detail, prev, digest)
            prev = digest
        try:
            yield
        finally:
            for row in rows:
                self._set_link(lane, row["seq"], row["detail"], row["prev_hash"], row["hash"])

    def _set_link(self, lane: str, seq: int, detail: str, prev: bytes, digest: bytes) -> None:
        self.run(
            "access",
            "UPDATE kl_access_records SET detail = ?, prev_hash = ?, hash = ? "
            "WHERE lane = ? AND seq = ?",
            detail,
            bytes(prev),
            bytes(digest),
            lane,
            seq,
        )

    @contextmanager
    def no_checkpoints(self) -> Iterator[None]:
        """The server's checkpoint table emptied (and any made meanwhile dropped after)."""
        saved = self.run("access", "SELECT * FROM kl_checkpoints ORDER BY number")
        self.run("access", "DELETE FROM kl_checkpoints")
        try:
            yield
        finally:
            self.run("access", "DELETE FROM kl_checkpoints")
            for row in saved:
                self.run("access", "INSERT INTO kl_checkpoints VALUES (?, ?, ?, ?, ?)", *row)

    @contextmanager
    def truncated_ledger(self, count: int) -> Iterator[int]:
        """The newest `count` events and their chain rows gone; yields the new head id."""
        ids = self.event_ids()[-count:]
        columns = "{id}, originator_id, originator_version, topic, state"
        events = self.run(
            "ledger", f"SELECT {columns} FROM keyledger_events WHERE {{id}} >= ?", ids[0]
        )
        links = self.run(
            "ledger", "SELECT * FROM keyledger_events_chain WHERE notification_id >= ?", ids[0]
        )
        self.run("ledger", "DELETE FROM keyledger_events WHERE {id} >= ?", ids[0])
        self.run("ledger", "DELETE FROM keyledger_events_chain WHERE notification_id >= ?", ids[0])
        try:
            yield self.event_ids()[-1]
        finally:
            for event in events:
                self.run(
                    "ledger",
                    f"INSERT INTO keyledger_events ({columns}) VALUES (?, ?, ?, ?, ?)",
                    *event,
                )
            for link in links:
                self.run("ledger", "INSERT INTO keyledger_events_chain VALUES (?, ?, ?)", *link)
