"""The exporter over real stores (both modes): order, pages, cursors, new lanes, --from.

Rows are written straight into the two logs' tables (the ledger's projected audit rows
and the access lanes), so the test controls timestamps: interleaved logs, a page
smaller than the data, a lane that appears later with older timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from application.siemexport import Exporter, Position
from domain.siem.formats import formatter
from infrastructure.accessstore.tables import access_lanes, access_records
from infrastructure.database import audit_log
from infrastructure.settings import Settings
from infrastructure.siem.cursors import SqlCursorStore
from infrastructure.siem.sinks import FileSink
from infrastructure.siem.source import SqlAuditSource
from interfaces.bootstrap import build_audit_export

FIELDS = {"severity": "info", "actor_kind": "machine", "source_ip": "10.0.0.9", "detail": "d"}


@pytest.fixture
def parts(settings: Settings) -> Iterator[tuple[SqlAuditSource, SqlCursorStore]]:
    source, cursors = build_audit_export(settings)
    yield source, cursors
    source.close()
    cursors.close()


def ledger(source: SqlAuditSource, *rows: tuple[int, int]) -> None:
    with source.ledger_engine.begin() as conn:
        for nid, ts in rows:
            values = {"log": "ledger", "notification_id": nid, "timestamp_ms": ts}
            conn.execute(insert(audit_log).values(action="secret_create", **values, **FIELDS))


def access(source: SqlAuditSource, lane: str, *stamps: int, first: int = 1) -> None:
    with source.access_engine.begin() as conn:
        if first == 1:
            conn.execute(insert(access_lanes).values(lane=lane, started_ms=stamps[0], origin="t"))
        for offset, ts in enumerate(stamps):
            row = {"lane": lane, "seq": first + offset, "timestamp_ms": ts, **FIELDS}
            row |= {"action": "secret_read", "prev_hash": b"p", "hash": b"h"}
            conn.execute(insert(access_records).values(**row))


def export(parts: tuple[SqlAuditSource, SqlCursorStore], path: Path, since: int = 0) -> list[str]:
    source, cursors = parts
    sink = FileSink(path, "jsonl")
    render = formatter("jsonl", "0", "h", "1").render
    exporter = Exporter(source, cursors, sink, render, "siem", page=3)
    list(exporter.run(cursors.load("siem") or Position(), since))
    sink.close()
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_both_logs_in_time_order_each_once_across_pages_and_runs(
    parts: tuple[SqlAuditSource, SqlCursorStore], tmp_path: Path
) -> None:
    source, cursors = parts
    ledger(source, (1, 100), (2, 130), (3, 160), (4, 190), (5, 220))
    access(source, "aa", 110, 120, 150, 155, 300)
    access(source, "bb", 105, 125)
    assert source.count_after(Position()) == 12
    out = tmp_path / "audit.jsonl"
    assert export(parts, out) == [
        "1", "bb:1", "aa:1", "aa:2", "bb:2", "2", "aa:3", "aa:4", "3", "4", "5", "aa:5",
    ]  # fmt: skip
    assert cursors.load("siem") == Position(5, {"aa": 5, "bb": 2})
    assert source.count_after(Position(5, {"aa": 5, "bb": 2})) == 0

    # Later: more of each log, and a new lane whose records are stamped earlier than
    # what was already sent: found by the cursor, not lost behind a time watermark.
    ledger(source, (6, 400))
    access(source, "bb", 410, first=3)
    access(source, "cc", 50, 60)
    assert source.count_after(cursors.load("siem") or Position()) == 4
    assert export(parts, out)[12:] == ["cc:1", "cc:2", "6", "bb:3"]
    assert export(parts, out)[12:] == ["cc:1", "cc:2", "6", "bb:3"]  # nothing twice


def test_a_log_out_of_time_order_is_never_stepped_over(
    parts: tuple[SqlAuditSource, SqlCursorStore], tmp_path: Path
) -> None:
    """Notification ids can commit slightly out of time order; the page cut must keep
    each log a prefix, or the cursor would skip a record."""
    source, _cursors = parts
    ledger(source, (1, 100), (2, 400), (3, 115), (4, 500))
    access(source, "aa", 96, 110, 120, 130)
    ids = export(parts, tmp_path / "audit.jsonl")
    assert sorted(ids) == sorted(["1", "2", "3", "4", "aa:1", "aa:2", "aa:3", "aa:4"])
    assert [i for i in ids if ":" not in i] == ["1", "2", "3", "4"]


def test_from_skips_older_records_but_moves_the_cursor(
    parts: tuple[SqlAuditSource, SqlCursorStore], tmp_path: Path
) -> None:
    source, cursors = parts
    ledger(source, (1, 100), (2, 200), (3, 300))
    access(source, "aa", 150, 250)
    assert export(parts, tmp_path / "audit.jsonl", since=200) == ["2", "aa:2", "3"]
    assert cursors.load("siem") == Position(3, {"aa": 2})


def test_ids_past_nine_keep_their_order_and_each_is_sent_once(
    parts: tuple[SqlAuditSource, SqlCursorStore], tmp_path: Path
) -> None:
    """Ids are read as text: the page must still be in numeric order ("10" after "9")."""
    source, cursors = parts
    ledger(source, *((n, 100 + n) for n in range(1, 13)))
    access(source, "aa", *(100 + n for n in range(1, 13)))
    ids = export(parts, tmp_path / "audit.jsonl")
    assert [i for i in ids if ":" not in i] == [str(n) for n in range(1, 13)]
    assert [i for i in ids if ":" in i] == [f"aa:{n}" for n in range(1, 13)]
    assert cursors.load("siem") == Position(12, {"aa": 12})
