"""Commands through the Ledger, projected into the SQL read models, on both backends."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from application.ledger import Ledger
from domain.audit import ActorKind, AuditStamp
from domain.errors import Conflict, IntegrityFailure, InvalidInput, NotFound
from domain.records import AuditRecord
from domain.secret import TRASH_RETENTION_MS
from infrastructure.crypto.envelope import Envelope
from infrastructure.crypto.keyring import KeyRing
from infrastructure.database import READ_MODEL_TABLES, metadata
from infrastructure.readmodels.projector import SqlProjector
from infrastructure.readmodels.queries import ReadModels
from infrastructure.settings import Settings
from interfaces.bootstrap import SystemClock, build_store

OPERATOR = AuditStamp(ActorKind.USER, "198.51.100.4", user_id="usr_aaaaaaaaaa", detail="op")
VALUE_1 = "pw-ONE-7f3a9c1e-plaintext"
VALUE_2 = "pw-TWO-0b8d2e44-plaintext"
VALUE_3 = "pw-THREE-5c6a1f90-plaintext"
FIELD_PW = "fieldpw-Q9x7Z2-plaintext"
ALL_VALUES = (VALUE_1, VALUE_2, VALUE_3, FIELD_PW)


@dataclass
class Store:
    settings: Settings
    ledger: Ledger
    envelope: Envelope
    projector: SqlProjector
    clock: SystemClock
    reads: ReadModels


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    ledger, envelope, projector, clock = build_store(settings)
    envelope.establish(KeyRing.generate())
    try:
        yield Store(settings, ledger, envelope, projector, clock, ReadModels(projector.engine))
    finally:
        ledger.close()
        projector.engine.dispose()


@dataclass
class Scenario:
    project_id: str
    other_project_id: str
    db_url: str
    creds: str
    events: int


def run_scenario(s: Store) -> Scenario:
    ledger = s.ledger
    project = ledger.create_project("Payments", "the payments service", OPERATOR)
    other = ledger.create_project("Empty", "", OPERATOR)
    db_url = ledger.create_secret(
        project.project_id, "DB_URL", OPERATOR, value=VALUE_1, note="primary db"
    )
    creds = ledger.create_secret(
        project.project_id, "CREDS", OPERATOR, fields={"user": "svc", "password": FIELD_PW}
    )
    ledger.replace_secret(db_url.secret_id, OPERATOR, value=VALUE_2)
    ledger.replace_secret(db_url.secret_id, OPERATOR, value=VALUE_3)
    ledger.roll_back_secret(db_url.secret_id, 1, OPERATOR)
    ledger.delete_secret(creds.secret_id, OPERATOR)
    ledger.record("auth_failure", AuditStamp(ActorKind.EXTERNAL, "192.0.2.1", detail="bad pw"))
    # project x2, (claim + secret) x2, replace x2, rollback, delete, record
    return Scenario(project.project_id, other.project_id, db_url.secret_id, creds.secret_id, 11)


def snapshot(s: Store) -> dict[str, list[tuple[Any, ...]]]:
    with s.projector.engine.connect() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(select(table)).all())
            for table in READ_MODEL_TABLES
        }


def test_catch_up_applies_every_event_once(store: Store) -> None:
    scenario = run_scenario(store)
    assert store.projector.position() == 0
    assert store.projector.catch_up() == scenario.events
    assert store.projector.catch_up() == 0
    assert store.projector.position() == store.ledger.recorder.max_notification_id()
    store.ledger.record("user_login", OPERATOR)
    assert store.projector.catch_up() == 1
    assert store.projector.catch_up() == 0


def test_read_models_after_commands(store: Store) -> None:
    sc = run_scenario(store)
    store.projector.catch_up()
    reads = store.reads

    projects = reads.projects()
    assert len(projects) == 2
    by_id = {p["id"]: p for p in projects}
    assert set(by_id) == {sc.project_id, sc.other_project_id}
    payments, empty = by_id[sc.project_id], by_id[sc.other_project_id]
    assert (payments["name"], payments["description"]) == ("Payments", "the payments service")
    assert (empty["name"], empty["description"]) == ("Empty", "")
    assert payments["secretCount"] == 1  # the trashed secret is not counted
    assert empty["secretCount"] == 0
    assert payments["createdAt"] <= empty["createdAt"]

    secrets = reads.secrets(sc.project_id)
    assert [x["id"] for x in secrets] == [sc.db_url]
    (db_url,) = secrets
    assert db_url["name"] == "DB_URL"
    assert db_url["type"] == "standard"
    assert db_url["version"] == 4
    assert db_url["note"] == "primary db"
    assert db_url["fieldNames"] is None
    assert "deletedAt" not in db_url
    assert reads.secrets(sc.other_project_id) == []

    assert [(v["version"], v["rolledBackFrom"]) for v in reads.versions(sc.db_url)] == [
        (1, None),
        (2, None),
        (3, None),
        (4, 1),
    ]

    trash = reads.trash()
    assert [t["id"] for t in trash] == [sc.creds]
    (creds,) = trash
    assert creds["type"] == "structured"
    assert creds["fieldNames"] == "user,password"
    assert creds["purgeAt"] == creds["deletedAt"] + TRASH_RETENTION_MS
    assert reads.secret(sc.creds)["deletedAt"] == creds["deletedAt"]
    assert reads.expired_trash(creds["deletedAt"] + TRASH_RETENTION_MS) == []
    assert reads.expired_trash(creds["deletedAt"] + TRASH_RETENTION_MS + 1) == [sc.creds]


def test_audit_entries_carry_actions(store: Store) -> None:
    sc = run_scenario(store)
    store.projector.catch_up()
    audit = store.reads.audit_tail(limit=100)
    assert [a["action"] for a in audit] == [
        "project_create",
        "project_create",
        "secret_create",
        "secret_create",
        "secret_update",
        "secret_update",
        "secret_update",
        "secret_delete",
        "auth_failure",
    ]
    ids = [a["id"] for a in audit]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    creates = [a for a in audit if a["action"] == "secret_create"]
    assert [a["secretId"] for a in creates] == [sc.db_url, sc.creds]
    assert {a["projectId"] for a in creates} == {sc.project_id}
    updates = [a for a in audit if a["action"] == "secret_update"]
    assert {a["secretId"] for a in updates} == {sc.db_url}
    assert {a["projectId"] for a in updates} == {sc.project_id}
    assert updates[-1]["detail"] == "rolled back to version 1"
    assert updates[-1]["severity"] == "medium"
    assert updates[0]["userId"] == "usr_aaaaaaaaaa"
    assert updates[0]["actorKind"] == "user"
    assert updates[0]["sourceIp"] == "198.51.100.4"
    delete = next(a for a in audit if a["action"] == "secret_delete")
    assert (delete["secretId"], delete["severity"]) == (sc.creds, "high")
    failure = audit[-1]
    assert (failure["actorKind"], failure["sourceIp"], failure["severity"]) == (
        "external",
        "192.0.2.1",
        "medium",
    )
    assert failure["userId"] is None
    assert store.reads.audit_tail(limit=2) == audit[-2:]
    cut = audit[-3]["timestamp"]
    newer = store.reads.audit_tail(limit=100, since=cut)
    assert newer == [e for e in audit if e["timestamp"] > cut]
    assert store.reads.audit_tail(limit=100, since=audit[-1]["timestamp"]) == []


def test_project_update_is_projected_and_audited(store: Store) -> None:
    sc = run_scenario(store)
    store.ledger.update_project(sc.project_id, "Billing", None, OPERATOR)
    store.projector.catch_up()
    by_id = {p["id"]: p for p in store.reads.projects()}
    assert by_id[sc.project_id]["name"] == "Billing"
    assert by_id[sc.project_id]["description"] == "the payments service"
    last = store.reads.audit_tail(limit=1)[0]
    assert (last["action"], last["projectId"]) == ("project_update", sc.project_id)


def test_rebuild_yields_identical_read_models(store: Store) -> None:
    sc = run_scenario(store)
    store.ledger.rename_secret(sc.db_url, "DATABASE_URL", OPERATOR)
    store.ledger.restore_secret(sc.creds, OPERATOR)
    store.ledger.delete_secret(sc.creds, OPERATOR)
    store.ledger.purge_secret(sc.creds, OPERATOR)
    store.projector.catch_up()
    before = snapshot(store)
    assert before["rm_audit_log"]
    total = store.ledger.recorder.max_notification_id()

    progress: list[tuple[int, int]] = []
    assert store.projector.rebuild(lambda done, t: progress.append((done, t))) == total
    assert progress[-1] == (total, total)
    assert snapshot(store) == before
    assert store.projector.position() == total
    assert store.projector.catch_up() == 0


def test_rebuild_from_scratch_on_a_second_store(store: Store) -> None:
    """A wiped state database is rebuilt from the event store alone."""
    run_scenario(store)
    store.projector.catch_up()
    before = snapshot(store)
    with store.projector.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name.startswith("rm_") or table.name == "kl_tracking":
                conn.execute(table.delete())
    assert all(rows == [] for rows in snapshot(store).values())
    assert store.projector.catch_up() == 11
    assert snapshot(store) == before


def _dump_everything(s: Store) -> str:
    """Every row of every state table and every stored event, as text."""
    parts: list[str] = []
    with s.projector.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).all():
                parts.append(repr(tuple(row)))
    for n in s.ledger.recorder.select_notifications(1, 10_000):
        parts.append(n.topic)
        parts.append(bytes(n.state).decode("utf-8", "replace"))
    return "\n".join(parts)


def _raw_event_store(s: Store) -> bytes:
    table = s.ledger.recorder.events_table_name  # type: ignore[attr-defined]
    if s.settings.database_url is None:
        with sqlite3.connect(s.settings.data_dir / "ledger.sqlite") as conn:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    else:
        with psycopg.connect(s.settings.database_url) as conn:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    return b"\n".join(
        bytes(col) if isinstance(col, (bytes, memoryview)) else str(col).encode()
        for row in rows
        for col in row
    )


def test_plaintext_never_appears_in_read_models_audit_or_events(store: Store) -> None:
    run_scenario(store)
    store.projector.catch_up()
    text = _dump_everything(store)
    raw = _raw_event_store(store)
    assert "auth_failure" in text  # the dump is not empty
    assert b"keyledger.secret.Created" in raw
    for value in ALL_VALUES:
        assert value not in text, value
        assert value.encode() not in raw, value
        assert base64.b64encode(value.encode()) not in raw, value
        for row in store.reads.audit_tail(limit=1000):
            assert value not in json.dumps(row)


def test_reveal_round_trips_through_the_store(store: Store) -> None:
    sc = run_scenario(store)
    # After the rollback, version 4 opens to version 1's value.
    assert store.ledger.reveal(sc.db_url) == VALUE_1
    store.ledger.restore_secret(sc.creds, OPERATOR)
    assert json.loads(store.ledger.reveal(sc.creds)) == {"user": "svc", "password": FIELD_PW}
    store.ledger.roll_back_secret(sc.db_url, 3, OPERATOR)
    assert store.ledger.reveal(sc.db_url) == VALUE_3
    secret = store.ledger.secret(sc.db_url)
    assert [(v.number, v.rolled_back_from) for v in secret.versions] == [
        (1, None),
        (2, None),
        (3, None),
        (4, 1),
        (5, 3),
    ]
    assert secret.versions[3].sealed == secret.versions[0].sealed


def test_structured_blank_fields_are_generated(store: Store) -> None:
    project = store.ledger.create_project("P", "", OPERATOR)
    secret = store.ledger.create_secret(
        project.project_id, "API", OPERATOR, fields={"key": "k", "token": ""}
    )
    fields = json.loads(store.ledger.reveal(secret.secret_id))
    assert fields["key"] == "k"
    assert len(fields["token"]) == 32
    store.projector.catch_up()
    assert store.reads.secret(secret.secret_id)["fieldNames"] == "key,token"


def test_replace_keeps_the_type(store: Store) -> None:
    sc = run_scenario(store)
    with pytest.raises(InvalidInput):
        store.ledger.replace_secret(sc.db_url, OPERATOR, fields={"a": "b"})
    with pytest.raises(InvalidInput):
        store.ledger.replace_secret(sc.db_url, OPERATOR)
    store.projector.catch_up()
    assert store.reads.secret(sc.db_url)["version"] == 4


def test_trashed_secret_cannot_change(store: Store) -> None:
    sc = run_scenario(store)
    with pytest.raises(Conflict):
        store.ledger.replace_secret(sc.creds, OPERATOR, fields={"user": "x", "password": "y"})
    with pytest.raises(Conflict):
        store.ledger.delete_secret(sc.creds, OPERATOR)
    with pytest.raises(Conflict):
        store.ledger.purge_secret(sc.db_url, OPERATOR)  # purge without delete


def test_purge_removes_the_secret_and_frees_the_name(store: Store) -> None:
    sc = run_scenario(store)
    sealed_versions = [v.sealed for v in store.ledger.secret(sc.db_url).versions]
    project_key = store.ledger.project(sc.project_id).key_ref

    with pytest.raises(Conflict):
        store.ledger.create_secret(sc.project_id, "DB_URL", OPERATOR, value="dup")
    store.ledger.delete_secret(sc.db_url, OPERATOR)
    with pytest.raises(Conflict):  # a trashed secret keeps its name
        store.ledger.create_secret(sc.project_id, "DB_URL", OPERATOR, value="dup")
    store.ledger.purge_secret(sc.db_url, OPERATOR)
    store.projector.catch_up()

    assert store.reads.secret(sc.db_url) is None
    assert store.reads.versions(sc.db_url) == []
    assert sc.db_url not in [t["id"] for t in store.reads.trash()]
    purge = store.reads.audit_tail(limit=1)[0]
    assert (purge["action"], purge["secretId"], purge["projectId"]) == (
        "secret_purge",
        sc.db_url,
        sc.project_id,
    )
    assert purge["severity"] == "high"
    with pytest.raises(NotFound):
        store.ledger.secret(sc.db_url)
    with pytest.raises(NotFound):
        store.ledger.reveal(sc.db_url)
    with pytest.raises(NotFound):
        store.ledger.restore_secret(sc.db_url, OPERATOR)
    # Every data key is shredded: even the ciphertext still in the events cannot open.
    for sealed in sealed_versions:
        with pytest.raises(IntegrityFailure):
            store.envelope.open_value(project_key, sc.db_url, sealed)

    reused = store.ledger.create_secret(sc.project_id, "DB_URL", OPERATOR, value="fresh")
    store.projector.catch_up()
    assert reused.secret_id != sc.db_url
    assert store.ledger.reveal(reused.secret_id) == "fresh"
    assert [x["name"] for x in store.reads.secrets(sc.project_id)] == ["DB_URL"]
    assert store.reads.secrets(sc.project_id)[0]["id"] == reused.secret_id
    assert [v["version"] for v in store.reads.versions(reused.secret_id)] == [1]


def test_rename_moves_the_name_claim(store: Store) -> None:
    sc = run_scenario(store)
    other = store.ledger.create_secret(sc.project_id, "OTHER", OPERATOR, value="x")
    with pytest.raises(Conflict):
        store.ledger.rename_secret(other.secret_id, "DB_URL", OPERATOR)
    store.ledger.rename_secret(sc.db_url, "DATABASE_URL", OPERATOR)
    store.ledger.rename_secret(other.secret_id, "DB_URL", OPERATOR)
    store.projector.catch_up()
    names = {x["id"]: x["name"] for x in store.reads.secrets(sc.project_id)}
    assert names == {sc.db_url: "DATABASE_URL", other.secret_id: "DB_URL"}
    actions = [a["action"] for a in store.reads.audit_tail(limit=2)]
    assert actions == ["secret_rename", "secret_rename"]


def test_restore_brings_back_from_trash(store: Store) -> None:
    sc = run_scenario(store)
    store.ledger.restore_secret(sc.creds, OPERATOR)
    store.projector.catch_up()
    assert store.reads.trash() == []
    assert sorted(x["id"] for x in store.reads.secrets(sc.project_id)) == sorted(
        [sc.db_url, sc.creds]
    )
    assert store.reads.audit_tail(limit=1)[0]["action"] == "secret_restore"


def test_expired_trash_sweep(store: Store) -> None:
    sc = run_scenario(store)
    store.projector.catch_up()
    now = store.clock.now_ms()
    assert store.ledger.purge_expired_trash([sc.creds, sc.db_url], now) == []
    later = now + TRASH_RETENTION_MS + 60_000
    candidates = store.reads.expired_trash(later)
    assert candidates == [sc.creds]
    assert store.ledger.purge_expired_trash([*candidates, sc.db_url], later) == [sc.creds]
    store.projector.catch_up()
    assert store.reads.trash() == []
    last = store.reads.audit_tail(limit=1)[0]
    assert (last["action"], last["secretId"], last["actorKind"]) == (
        "secret_purge",
        sc.creds,
        "system",
    )
    assert store.ledger.reveal(sc.db_url) == VALUE_1


def test_catch_up_and_rebuild_across_batches(store: Store) -> None:
    project = store.ledger.create_project("P", "", OPERATOR)
    # One transaction of 520 records: more than one projector batch (500).
    store.ledger.save(
        *[AuditRecord(action="user_login", audit=AuditStamp.system(f"#{i}")) for i in range(520)]
    )
    store.ledger.create_secret(project.project_id, "LAST", OPERATOR, value="v")
    total = 1 + 520 + 2
    assert store.projector.catch_up() == total
    assert store.projector.position() == store.ledger.recorder.max_notification_id()
    audit = store.reads.audit_tail(limit=1000)
    assert len(audit) == 1 + 520 + 1
    assert audit[-1]["action"] == "secret_create"
    assert [x["name"] for x in store.reads.secrets(project.project_id)] == ["LAST"]
    before = snapshot(store)
    assert store.projector.rebuild() == total
    assert snapshot(store) == before


def test_second_projector_on_same_state_db_applies_nothing_twice(store: Store) -> None:
    run_scenario(store)
    assert store.projector.catch_up() == 11
    ledger, _envelope, projector, _ = build_store(store.settings)
    try:
        assert projector.catch_up() == 0
        store.ledger.record("user_login", OPERATOR)
        assert projector.catch_up() == 1
        assert store.projector.catch_up() == 0
    finally:
        ledger.close()
        projector.engine.dispose()
    assert [a["action"] for a in store.reads.audit_tail(limit=1)] == ["user_login"]


def test_secret_names_are_unique_per_project_only(store: Store) -> None:
    a = store.ledger.create_project("A", "", OPERATOR)
    b = store.ledger.create_project("B", "", OPERATOR)
    store.ledger.create_secret(a.project_id, "TOKEN", OPERATOR, value="1")
    store.ledger.create_secret(b.project_id, "TOKEN", OPERATOR, value="2")
    with pytest.raises(Conflict):
        store.ledger.create_secret(a.project_id, "TOKEN", OPERATOR, value="3")
    with pytest.raises(NotFound):
        store.ledger.create_secret("proj_zzzzzzzzzz", "TOKEN", OPERATOR, value="4")
    store.projector.catch_up()
    assert [x["name"] for x in store.reads.secrets(a.project_id)] == ["TOKEN"]
    assert [x["name"] for x in store.reads.secrets(b.project_id)] == ["TOKEN"]


def test_bad_input_writes_nothing(store: Store) -> None:
    project = store.ledger.create_project("P", "", OPERATOR)
    store.projector.catch_up()
    before = store.ledger.recorder.max_notification_id()
    bad_calls = [
        lambda: store.ledger.create_secret(project.project_id, "X", OPERATOR),
        lambda: store.ledger.create_secret(
            project.project_id, "X", OPERATOR, value="v", fields={"a": "b"}
        ),
        lambda: store.ledger.create_secret(
            project.project_id, "X", OPERATOR, value="x" * (12 * 1024 + 1)
        ),
        lambda: store.ledger.create_secret(
            project.project_id, "X", OPERATOR, fields={"a": "x" * (12 * 1024)}
        ),
        lambda: store.ledger.create_secret(project.project_id, "", OPERATOR, value="v"),
        lambda: store.ledger.create_secret(
            project.project_id, "X", OPERATOR, value="v", note="n" * 2001
        ),
        lambda: store.ledger.create_project("x" * 101, "", OPERATOR),
        lambda: store.ledger.update_project(project.project_id, "", None, OPERATOR),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidInput):
            call()
    assert store.ledger.recorder.max_notification_id() == before
    assert store.projector.catch_up() == 0


def test_rollback_restores_field_names_of_structured_secret(store: Store) -> None:
    project = store.ledger.create_project("P", "", OPERATOR)
    secret = store.ledger.create_secret(
        project.project_id, "CREDS", OPERATOR, fields={"user": "u", "password": "p"}
    )
    store.ledger.replace_secret(
        secret.secret_id, OPERATOR, fields={"user": "u", "password": "p", "host": "h"}
    )
    store.ledger.roll_back_secret(secret.secret_id, 1, OPERATOR)
    store.projector.catch_up()
    revealed = json.loads(store.ledger.reveal(secret.secret_id))
    assert sorted(revealed) == ["password", "user"]
    row = store.reads.secret(secret.secret_id)
    assert row is not None
    assert sorted(row["fieldNames"].split(",")) == sorted(revealed)
    assert sorted(store.ledger.secret(secret.secret_id).field_names or ()) == sorted(revealed)
