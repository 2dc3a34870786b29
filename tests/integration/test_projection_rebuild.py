"""The bulk rebuild must leave exactly the read models that event-by-event catch-up
leaves: machines, memberships, grants, purges (a secret, a project) and more than one
page of events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from typer.testing import CliRunner

from application.ledger import Ledger
from application.projection import AuditEntry
from domain.audit import ActorKind, AuditStamp
from domain.machine import Machine
from domain.records import AuditRecord
from infrastructure.crypto.keyring import KeyRing
from infrastructure.eventstore.decoding import EventDecoder
from infrastructure.readmodels import rebuild
from infrastructure.readmodels.projector import SqlProjector
from infrastructure.readmodels.queries import ReadModels
from infrastructure.settings import Settings
from interfaces.bootstrap import build_store
from interfaces.cli import main
from tests.integration.test_projection import Store, snapshot

OP = AuditStamp(ActorKind.USER, "203.0.113.9", user_id="usr_bbbbbbbbbb", detail="op")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    ledger, envelope, projector, clock = build_store(settings)
    envelope.establish(KeyRing.generate())
    try:
        yield Store(settings, ledger, envelope, projector, clock, ReadModels(projector.engine))
    finally:
        ledger.close()
        projector.engine.dispose()


def machine(ledger: Ledger, name: str) -> str:
    machine_id = str(uuid.uuid4())
    ledger.save(Machine(machine_id, name, b"\x01" * 32, f"{name}.local", None, OP))
    return machine_id


def history(ledger: Ledger, projector: SqlProjector) -> None:
    """A vault with every kind of row, projected one small batch at a time."""
    pay = ledger.create_project("Payments", "", OP)
    ops = ledger.create_project("Ops", "", OP)
    a, b = machine(ledger, "web-1"), machine(ledger, "web-2")
    for machine_id, action in ((a, "approve"), (b, "approve"), (b, "disable")):
        m = ledger.repository.get(uuid.UUID(machine_id))
        getattr(m, action)(OP)
        ledger.save(m)
    secrets = [
        ledger.create_secret(pay.project_id, f"S{i}", OP, value=f"v{i}").secret_id for i in range(4)
    ]
    for project, machine_id in ((pay, a), (pay, b), (ops, a)):
        p = ledger.project(project.project_id)
        p.add_machine(machine_id, OP)
        ledger.save(p)
    projector.catch_up()
    for secret_id in secrets:
        for machine_id in (a, b):
            s = ledger.secret(secret_id)
            s.grant(machine_id, OP)
            ledger.save(s)
    s = ledger.secret(secrets[0])
    s.revoke_grant(b, OP)
    ledger.save(s)
    p = ledger.project(ops.project_id)
    p.remove_machine(a, OP)
    ledger.save(p)
    ledger.replace_secret(secrets[1], OP, value="v1b")
    ledger.rename_secret(secrets[2], "RENAMED", OP)
    ledger.delete_secret(secrets[3], OP)
    ledger.purge_secret(secrets[3], OP)
    # A project with a member, a granted secret and a rotation-free history, shredded.
    doomed = ledger.create_project("Doomed", "", OP)
    gone = ledger.create_secret(doomed.project_id, "GONE", OP, value="g").secret_id
    p = ledger.project(doomed.project_id)
    p.add_machine(a, OP)
    ledger.save(p)
    s = ledger.secret(gone)
    s.grant(a, OP)
    ledger.save(s)
    p = ledger.project(doomed.project_id)
    p.delete(ledger.clock.now_ms(), OP)
    ledger.save(p)
    p.purge(OP)  # the same aggregate: a trashed project is not handed out for writes
    ledger.save(p)
    projector.catch_up()
    # More than one rebuild page, then a secret event after the page boundary.
    records = [AuditRecord(action="user_login", audit=OP) for _ in range(rebuild.PAGE + 7)]
    ledger.save(*records)
    ledger.replace_secret(secrets[2], OP, value="v2b")
    projector.catch_up()


def test_audit_entry_fields_are_the_audit_table_columns() -> None:
    assert AuditEntry._fields == rebuild.AUDIT_COLUMNS


def test_rebuilt_read_models_equal_the_incrementally_projected_ones(store: Store) -> None:
    history(store.ledger, store.projector)
    incremental = snapshot(store)
    assert incremental["rm_grants"] and incremental["rm_memberships"]
    assert len(incremental["rm_audit_log"]) > rebuild.PAGE
    total = store.ledger.recorder.max_notification_id()
    seen: list[tuple[int, int]] = []
    assert store.projector.rebuild(lambda done, t: seen.append((done, t))) == total
    assert [done for done, _ in seen] == [rebuild.PAGE, total]
    assert snapshot(store) == incremental
    assert store.projector.position() == total
    store.ledger.record("user_login", OP)  # catch-up continues from the rebuilt position
    assert store.projector.catch_up() == 1
    assert store.projector.rebuild() == total + 1
    assert snapshot(store)["rm_audit_log"][-1][1] == total + 1


def test_the_fast_decode_equals_the_mapper_on_stored_rows(store: Store) -> None:
    """On the rows as each store hands them back (SQLite: ids as text, PostgreSQL: UUIDs)."""
    history(store.ledger, store.projector)
    decoder = EventDecoder(store.ledger.mapper)
    recorder: Any = store.ledger.recorder
    rows = recorder.event_page(0, 100_000)
    assert len(rows) == store.ledger.recorder.max_notification_id()
    topics = set()
    for _id, originator_id, version, topic, state in rows:
        fast = decoder(topic, state, originator_id, version)
        slow = store.ledger.mapper.to_domain_event(
            StoredEvent(originator_id, version, topic, state)
        )
        assert type(fast) is type(slow) and repr(fast.__dict__) == repr(slow.__dict__)
        topics.add(topic)
    assert decoder.fallbacks == 0
    assert {"keyledger.secret.Created", "keyledger.machine.Registered"} <= topics


def test_cli_rebuild_prints_a_json_summary(store: Store) -> None:
    history(store.ledger, store.projector)
    before = snapshot(store)
    env = {"KEYLEDGER_DATA_DIR": str(store.settings.data_dir)}
    if store.settings.database_url:
        env["KEYLEDGER_DATABASE_URL"] = store.settings.database_url
    result = CliRunner().invoke(main.app, ["projections", "rebuild", "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["events"] == store.ledger.recorder.max_notification_id()
    assert summary["events_per_second"] > 0
    assert snapshot(store) == before
