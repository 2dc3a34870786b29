"""Upgrading a store written by the releases before ADR 0014 (access log as events).

The old store is written the way those releases wrote it: `AuditRecord` aggregates,
keyed by nonce for reads, saved into the chained eventsourcing access application.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from application.accesslog import RecordWriter
from application.accessmigration import AccessLog
from application.accessverify import verify_access_log
from domain.audit import ActorKind, AuditStamp
from domain.records import AuditRecord
from infrastructure.accessstore.store import SqlAccessStore
from infrastructure.settings import Settings
from interfaces.bootstrap import build_access_store, build_store

OLD_READS = 25


def write_old_store(settings: Settings) -> None:
    ledger, _envelope, projector, _clock = build_store(settings)
    old = AccessLog(settings.access_store_env())
    try:
        for i in range(OLD_READS):
            stamp = AuditStamp(ActorKind.MACHINE, "10.0.0.1", machine_id="m-1", detail=f"v {i}")
            key = f"nonce\x00m-1\x00old-{i}"
            old.save(AuditRecord("secret_read", stamp, "sk_1", key))
        old.save(AuditRecord("auth_failure", AuditStamp(ActorKind.EXTERNAL, "192.0.2.9")))
    finally:
        old.close()
        ledger.close()
        projector.engine.dispose()


def open_access(settings: Settings) -> Iterator[SqlAccessStore]:
    ledger, _envelope, projector, _clock = build_store(settings)
    store = build_access_store(settings, projector)
    try:
        yield store
    finally:
        store.close()
        ledger.close()
        projector.engine.dispose()


@pytest.fixture
def upgraded(settings: Settings) -> Iterator[SqlAccessStore]:
    write_old_store(settings)
    yield from open_access(settings)


def test_old_records_are_copied_in_order_and_verify(upgraded: SqlAccessStore) -> None:
    (lane,) = upgraded.lanes()
    assert lane.lane.startswith("legacy")
    assert "chain intact" in lane.origin and lane.origin.endswith("(copy complete)")
    rows = list(upgraded.iter_lane(lane.lane))
    assert [r.entry.nonce for r in rows[:OLD_READS]] == [f"old-{i}" for i in range(OLD_READS)]
    assert (rows[-1].entry.action, rows[-1].entry.source_ip) == ("auth_failure", "192.0.2.9")
    report = verify_access_log(upgraded)
    assert (report.ok, report.checked) == (True, OLD_READS + 1)


def test_a_nonce_used_before_the_upgrade_stays_used(upgraded: SqlAccessStore) -> None:
    writer = RecordWriter(upgraded, type("Clock", (), {"now_ms": lambda self: 1})())
    stamp = AuditStamp(ActorKind.MACHINE, "10.0.0.1", machine_id="m-1")
    assert not writer.write("secret_read", stamp, "sk_1", key="old-3")
    assert writer.write("secret_read", stamp, "sk_1", key="new-1")
    writer.close()


def test_the_upgrade_runs_once(settings: Settings, upgraded: SqlAccessStore) -> None:
    for again in open_access(settings):
        assert len(again.lanes()) == 1
        assert verify_access_log(again).checked == OLD_READS + 1


def test_a_copy_cut_short_is_redone(settings: Settings, upgraded: SqlAccessStore) -> None:
    (lane,) = upgraded.lanes()
    with upgraded.engine.begin() as conn:  # as if the process died mid-copy
        conn.execute(text("UPDATE kl_access_lanes SET origin = 'migrated from …'"))
        conn.execute(text("DELETE FROM kl_access_records WHERE seq > 10"))
    for again in open_access(settings):
        (redone,) = again.lanes()
        assert redone.lane != lane.lane and redone.origin.endswith("(copy complete)")
        assert verify_access_log(again).checked == OLD_READS + 1


def test_embedded_poll_bookkeeping_moves_beside_the_records(tmp_path: Path) -> None:
    # Embedded only: distributed mode keeps one database, where nothing moves.
    settings = Settings(data_dir=tmp_path / "data")
    write_old_store(settings)
    ledger, _envelope, projector, _clock = build_store(settings)
    with projector.engine.begin() as conn:  # what the old release kept in state.sqlite
        conn.execute(text("CREATE TABLE kl_fetches (machine_id, secret_id, version)"))
        conn.execute(text("INSERT INTO kl_fetches VALUES ('m-1', 'sk_1', 4)"))
    ledger.close()
    projector.engine.dispose()
    for store in open_access(settings):
        assert store.last("m-1", ["sk_1"]) == {"sk_1": 4}
