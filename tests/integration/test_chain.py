"""The hash chain over the event store, on SQLite and PostgreSQL, with real tampering."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from application.ledger import Ledger
from domain.audit import ActorKind, AuditStamp
from domain.records import AuditRecord
from infrastructure.crypto.keyring import KeyRing
from infrastructure.eventstore.chain import GENESIS, link_hash, verify_chain
from infrastructure.settings import Settings
from interfaces.bootstrap import build_store

STAMP = AuditStamp(ActorKind.USER, "198.51.100.4", user_id="usr_aaaaaaaaaa")


class RawDB:
    """Direct SQL on the event store, bypassing the application (the attacker's view)."""

    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self.events = ledger.recorder.events_table_name  # type: ignore[attr-defined]
        self.chain = ledger.recorder.chain_table_name  # type: ignore[attr-defined]
        self.postgres = settings.database_url is not None
        if self.postgres:
            assert settings.database_url is not None
            self.conn: Any = psycopg.connect(settings.database_url, autocommit=True)
            self.id = "notification_id"
            self.mark = "%s"
        else:
            self.conn = sqlite3.connect(settings.data_dir / "ledger.sqlite", isolation_level=None)
            self.id = "rowid"
            self.mark = "?"

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        sql = sql.replace("?", self.mark)
        cursor = self.conn.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []

    def event_ids(self) -> list[int]:
        return [r[0] for r in self.execute(f"SELECT {self.id} FROM {self.events} ORDER BY 1")]

    def chain_ids(self) -> list[int]:
        return [r[0] for r in self.execute(f"SELECT notification_id FROM {self.chain} ORDER BY 1")]

    def state(self, event_id: int) -> bytes:
        rows = self.execute(f"SELECT state FROM {self.events} WHERE {self.id} = ?", event_id)
        return bytes(rows[0][0])

    def set_state(self, event_id: int, state: bytes) -> None:
        self.execute(f"UPDATE {self.events} SET state = ? WHERE {self.id} = ?", state, event_id)

    def set_topic(self, event_id: int, topic: str) -> None:
        self.execute(f"UPDATE {self.events} SET topic = ? WHERE {self.id} = ?", topic, event_id)

    def delete_event(self, event_id: int) -> None:
        self.execute(f"DELETE FROM {self.events} WHERE {self.id} = ?", event_id)

    def delete_link(self, event_id: int) -> None:
        self.execute(f"DELETE FROM {self.chain} WHERE notification_id = ?", event_id)

    def link(self, event_id: int) -> tuple[bytes, bytes]:
        rows = self.execute(
            f"SELECT prev_hash, hash FROM {self.chain} WHERE notification_id = ?", event_id
        )
        return bytes(rows[0][0]), bytes(rows[0][1])

    def set_link(self, event_id: int, prev_hash: bytes, hash_: bytes) -> None:
        self.execute(
            f"UPDATE {self.chain} SET prev_hash = ?, hash = ? WHERE notification_id = ?",
            prev_hash,
            hash_,
            event_id,
        )


@pytest.fixture
def store(settings: Settings) -> Iterator[tuple[Ledger, RawDB]]:
    ledger, envelope, projector, _clock = build_store(settings)
    envelope.establish(KeyRing.generate())
    raw = RawDB(settings, ledger)
    try:
        yield ledger, raw
    finally:
        raw.close()
        ledger.close()
        projector.engine.dispose()


def write_events(ledger: Ledger) -> None:
    """Eight events: project, claim+secret, claim+secret, replace, record, replace."""
    project = ledger.create_project("Payments", "the payments service", STAMP)
    a = ledger.create_secret(project.project_id, "DB_URL", STAMP, value="postgres://one")
    ledger.create_secret(project.project_id, "CREDS", STAMP, fields={"user": "u", "pw": "p"})
    ledger.replace_secret(a.secret_id, STAMP, value="postgres://two")
    ledger.record("auth_failure", AuditStamp(ActorKind.EXTERNAL, "192.0.2.1"))
    ledger.replace_secret(a.secret_id, STAMP, value="postgres://three")


@pytest.fixture
def written(store: tuple[Ledger, RawDB]) -> tuple[Ledger, RawDB, list[int]]:
    ledger, raw = store
    write_events(ledger)
    ids = raw.event_ids()
    assert len(ids) == 8
    assert raw.chain_ids() == ids
    return ledger, raw, ids


def test_empty_store_verifies(store: tuple[Ledger, RawDB]) -> None:
    ledger, _raw = store
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert report.ok
    assert report.checked == 0
    assert report.head_id is None
    assert report.head_hash is None


def test_untouched_chain_verifies(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert report.ok, report
    assert report.first_bad_id is None
    assert report.checked == len(ids)
    assert report.head_id == ids[-1]
    assert report.head_hash == raw.link(ids[-1])[1].hex()


def test_chain_links_each_row_to_the_previous_row(
    written: tuple[Ledger, RawDB, list[int]],
) -> None:
    ledger, raw, ids = written
    prev = GENESIS
    for notification_id in ids:
        prev_hash, hash_ = raw.link(notification_id)
        assert prev_hash == prev
        (event,) = ledger.recorder.select_notifications(notification_id, 1)
        assert event.id == notification_id
        assert hash_ == link_hash(
            prev, event.id, event.originator_id, event.originator_version, event.topic, event.state
        )
        prev = hash_


def test_edited_event_state_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    middle = ids[3]
    state = raw.state(middle)
    raw.set_state(middle, state + b" ")
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first_bad_id == middle
    assert "edited" in report.reason
    assert report.checked == ids.index(middle)
    assert report.head_id == ids[2]


def test_single_bit_flip_in_state_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    target = ids[5]
    state = bytearray(raw.state(target))
    state[len(state) // 2] ^= 0x01
    raw.set_state(target, bytes(state))
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert (report.ok, report.first_bad_id) == (False, target)


def test_edited_topic_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    target = ids[4]
    raw.set_topic(target, "keyledger.secret.Deleted")
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert (report.ok, report.first_bad_id) == (False, target)


def test_deleted_event_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    middle = ids[4]
    raw.delete_event(middle)
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first_bad_id == middle
    assert "deleted" in report.reason
    assert report.checked == ids.index(middle)


def test_deleted_last_event_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    raw.delete_event(ids[-1])
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert (report.ok, report.first_bad_id) == (False, ids[-1])
    assert "deleted" in report.reason


def test_deleted_first_event_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    raw.delete_event(ids[0])
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert (report.ok, report.first_bad_id, report.checked) == (False, ids[0], 0)


def test_swapped_states_are_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    a, b = ids[2], ids[5]
    state_a, state_b = raw.state(a), raw.state(b)
    assert state_a != state_b
    raw.set_state(a, state_b)
    raw.set_state(b, state_a)
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first_bad_id == a
    assert report.checked == ids.index(a)


def test_swapped_adjacent_states_of_same_topic_are_named(
    written: tuple[Ledger, RawDB, list[int]],
) -> None:
    # The two Replaced events of the same secret: same topic, only the order differs.
    ledger, raw, ids = written
    a, b = ids[5], ids[7]
    state_a, state_b = raw.state(a), raw.state(b)
    raw.set_state(a, state_b)
    raw.set_state(b, state_a)
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert (report.ok, report.first_bad_id) == (False, a)


def test_deleted_chain_row_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    middle = ids[3]
    raw.delete_link(middle)
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first_bad_id == middle
    assert "no chain row" in report.reason
    assert report.checked == ids.index(middle)


def test_deleted_last_chain_row_is_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    raw.delete_link(ids[-1])
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert (report.ok, report.first_bad_id) == (False, ids[-1])


def test_reordered_chain_rows_are_named(written: tuple[Ledger, RawDB, list[int]]) -> None:
    ledger, raw, ids = written
    a, b = ids[2], ids[3]
    link_a, link_b = raw.link(a), raw.link(b)
    raw.set_link(a, b"\xff" * 32, b"\xff" * 32)  # prev_hash is UNIQUE: park one first
    raw.set_link(b, *link_a)
    raw.set_link(a, *link_b)
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first_bad_id == a
    assert "reordered" in report.reason


def test_recomputed_link_for_edited_event_still_breaks_the_next_link(
    written: tuple[Ledger, RawDB, list[int]],
) -> None:
    # An attacker who edits an event and recomputes its own link is caught one row later.
    ledger, raw, ids = written
    target = ids[4]
    new_state = raw.state(target) + b" "
    raw.set_state(target, new_state)
    prev_hash, _old = raw.link(target)
    (event,) = ledger.recorder.select_notifications(target, 1)
    forged = link_hash(
        prev_hash, target, event.originator_id, event.originator_version, event.topic, new_state
    )
    raw.set_link(target, prev_hash, forged)
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first_bad_id == ids[5]
    assert "reordered" in report.reason


def test_verify_walks_past_its_batch_size(store: tuple[Ledger, RawDB]) -> None:
    ledger, raw = store
    # 1010 events in one transaction: the verifier reads in batches of 1000.
    ledger.save(
        *[AuditRecord(action="user_login", audit=AuditStamp.system(f"#{i}")) for i in range(1010)]
    )
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert report.ok, report
    assert report.checked == 1010
    ids = raw.event_ids()
    assert raw.chain_ids() == ids
    target = ids[1004]
    raw.set_state(target, raw.state(target) + b" ")
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert (report.ok, report.first_bad_id, report.checked) == (False, target, 1004)


def test_chain_continues_across_reopen(settings: Settings) -> None:
    ledger, envelope, projector, _ = build_store(settings)
    ring = KeyRing.generate()
    envelope.establish(ring)
    try:
        write_events(ledger)
        first = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    finally:
        ledger.close()
        projector.engine.dispose()
    ledger, envelope, projector, _ = build_store(settings)
    envelope.unseal(ring)
    try:
        ledger.record("user_login", STAMP)
        ledger.record("user_logout", STAMP)
        report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    finally:
        ledger.close()
        projector.engine.dispose()
    assert first.ok
    assert report.ok, report
    assert report.checked == first.checked + 2


def test_concurrent_writers_keep_one_linear_chain(settings: Settings) -> None:
    """Several application instances (like several API processes) write at once."""
    writers = 4
    per_writer = 8
    stores = [build_store(settings) for _ in range(writers)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def work(ledger: Ledger, n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(per_writer):
                ledger.record("user_login", AuditStamp.system(f"writer {n} #{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(ledger, n))
        for n, (ledger, _e, _p, _c) in enumerate(stores)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        report = verify_chain(stores[0][0].recorder)  # type: ignore[arg-type]
    finally:
        for ledger, _e, projector, _c in stores:
            ledger.close()
            projector.engine.dispose()
    assert report.ok, report
    assert report.checked == writers * per_writer


def test_sqlite_state_edited_into_text_is_named(tmp_path) -> None:
    """A hand edit may change the SQLite storage type of `state`: verify must not crash."""
    settings = Settings(data_dir=tmp_path / "data")
    ledger, envelope, projector, _ = build_store(settings)
    envelope.establish(KeyRing.generate())
    raw = RawDB(settings, ledger)
    try:
        write_events(ledger)
        ids = raw.event_ids()
        target = ids[2]
        text = raw.state(target).decode()
        assert "DB_URL" in text
        text = text.replace("DB_URL", "DB_URX")
        raw.execute(f"UPDATE {raw.events} SET state = ? WHERE rowid = ?", text, target)
        assert raw.execute(f"SELECT typeof(state) FROM {raw.events} WHERE rowid = ?", target) == [
            ("text",)
        ]
        report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    finally:
        raw.close()
        ledger.close()
        projector.engine.dispose()
    assert not report.ok
    assert report.first_bad_id == target


def test_forged_event_without_chain_row_is_named(
    written: tuple[Ledger, RawDB, list[int]],
) -> None:
    ledger, raw, ids = written
    (last,) = ledger.recorder.select_notifications(ids[-1], 1)
    raw.execute(
        f"INSERT INTO {raw.events} (originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?)",
        last.originator_id.hex,
        last.originator_version + 1,
        last.topic,
        bytes(last.state),
    )
    new_ids = raw.event_ids()
    assert len(new_ids) == len(ids) + 1
    report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first_bad_id == new_ids[-1]
    assert "added" in report.reason
    assert report.checked == len(ids)
