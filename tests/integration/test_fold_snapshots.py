"""Point-in-time fold snapshots in the state database, on both stores: a restarted
process answers from them exactly as a fold from the first event would, and a
snapshot that was edited, moved or sealed with another key is refused."""

from __future__ import annotations

import pickle
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select, update

from application.ledger import Ledger
from application.pointintime import PointInTime, SecretReads
from application.statecheckpoints import Checkpoints
from application.vaultstate import as_of, instant, who_could_read
from domain.audit import AuditStamp
from domain.machine import Machine
from infrastructure.crypto.envelope import Envelope
from infrastructure.crypto.keyring import KeyRing
from infrastructure.database import fold_snapshots, make_engine
from infrastructure.foldsnapshots import SqlFoldSnapshots
from infrastructure.keystore import KeyStore
from infrastructure.readmodels.projector import SqlProjector
from infrastructure.settings import Settings
from interfaces.bootstrap import build_store

STAMP = AuditStamp.system("test")
NOTHING = cast(SecretReads, None)  # who-read is not asked here


@dataclass
class Store:
    ledger: Ledger
    envelope: Envelope
    projector: SqlProjector
    instants: list[int]
    secret_id: str

    def snapshots(self, envelope: Envelope | None = None) -> SqlFoldSnapshots:
        return SqlFoldSnapshots(
            self.projector.engine, cast(Any, self.ledger.recorder), envelope or self.envelope
        )

    def point_in_time(self, store: SqlFoldSnapshots | None) -> PointInTime:
        return PointInTime(self.ledger, NOTHING, Checkpoints(every=3, store=store, persist_every=4))

    def answers(self, pit: PointInTime, at: int) -> tuple[Any, Any]:
        state = pit.state_at(at)
        return as_of(state), who_could_read(state, self.secret_id)


def tick(instants: list[int]) -> None:
    time.sleep(0.005)
    instants.append(int(time.time() * 1000))
    time.sleep(0.005)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """A history of grants, disables, removals and replacements, with an instant
    noted between its steps."""
    ledger, envelope, projector, _clock = build_store(settings)
    envelope.establish(KeyRing.generate())
    instants: list[int] = []
    try:
        project = ledger.create_project("payments", "", STAMP)
        machines = [
            Machine(str(uuid.uuid4()), f"web-{n}", bytes(32), f"web-{n}.local", None, STAMP)
            for n in range(3)
        ]
        ledger.save(*machines)
        tick(instants)
        for machine in machines:
            machine.approve(STAMP)
            project.add_machine(machine.machine_id, STAMP)
        ledger.save(*machines, project)
        secret = ledger.create_secret(project.project_id, "STRIPE", STAMP, value="v1")
        tick(instants)
        for step in range(6):
            secret = ledger.secret(secret.secret_id)
            machine = machines[step % 3]
            if step < 3:
                secret.grant(machine.machine_id, STAMP)
            else:
                secret.revoke_grant(machine.machine_id, STAMP)
                machine.disable(STAMP)
            ledger.save(secret, machine)
            ledger.replace_secret(secret.secret_id, STAMP, value=f"v{step + 2}")
            tick(instants)
        project = ledger.project(project.project_id)
        project.remove_machine(machines[0].machine_id, STAMP)
        ledger.save(project)
        tick(instants)
        yield Store(ledger, envelope, projector, instants, secret.secret_id)
    finally:
        ledger.close()
        projector.engine.dispose()


def stored_rows(s: Store) -> list[Any]:
    with s.projector.engine.connect() as conn:
        return list(conn.execute(select(fold_snapshots).order_by(fold_snapshots.c.after_id)))


def test_a_restart_answers_from_snapshots_as_the_full_fold_does(store: Store) -> None:
    store.point_in_time(store.snapshots()).state_at(store.instants[-1])  # writes them
    rows = stored_rows(store)
    assert len(rows) >= 3
    restarted = store.point_in_time(store.snapshots())  # nothing in memory
    late = store.instants[-1]
    assert restarted.checkpoints.start(late)[1] == rows[-1].after_id + 1  # resumes there
    for at in [*reversed(store.instants), store.instants[0] - 1]:
        plain = store.point_in_time(None)  # folds from the first event
        assert store.answers(restarted, at) == store.answers(plain, at), at


def rewrite_link(store: Store, notification_id: int) -> None:
    """Overwrite the ledger's own chain hash at one event, as a rewrite would."""
    recorder: Any = store.ledger.recorder
    mark = "?" if store.ledger.recorder.__class__.__name__.startswith("ChainedSQLite") else "%s"
    statement = (
        f"UPDATE {recorder.chain_table_name} SET hash = {mark} WHERE notification_id = {mark}"
    )
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(statement, (b"\x01" * 32, notification_id))
    assert recorder.chain_hash(notification_id) == b"\x01" * 32


def stranger(tmp_path: Path) -> Envelope:
    """An envelope holding another server key, on a key table of its own."""
    envelope = Envelope(KeyStore(make_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")))
    envelope.establish(KeyRing.generate())
    return envelope


def test_a_tampered_snapshot_is_refused_and_the_answer_stays_true(
    store: Store, tmp_path: Path
) -> None:
    store.point_in_time(store.snapshots()).state_at(store.instants[-1])
    rows = stored_rows(store)
    newest, older = rows[-1], rows[-2]
    late = instant(store.instants[-1])
    truth = store.answers(store.point_in_time(None), store.instants[-1])

    # A lie: the newest snapshot's bytes replaced by an empty vault, seal kept.
    with store.projector.engine.begin() as conn:
        conn.execute(
            update(fold_snapshots)
            .where(fold_snapshots.c.after_id == newest.after_id)
            .values(state=pickle.dumps({}))
        )
    found = store.snapshots().nearest(late)
    assert found is not None and found.after_id == older.after_id  # the next older one
    assert store.answers(store.point_in_time(store.snapshots()), store.instants[-1]) == truth

    # Moved: an older snapshot claimed for the newest position (chain hash differs).
    with store.projector.engine.begin() as conn:
        conn.execute(
            update(fold_snapshots)
            .where(fold_snapshots.c.after_id == newest.after_id)
            .values(state=older.state, mac=older.mac, chain_hash=older.chain_hash)
        )
    found = store.snapshots().nearest(late)
    assert found is not None and found.after_id == older.after_id

    # The ledger rewritten under a sealed snapshot: its chain hash there no longer matches.
    rewrite_link(store, older.after_id)
    found = store.snapshots().nearest(late)
    assert found is None or found.after_id < older.after_id
    assert store.answers(store.point_in_time(store.snapshots()), store.instants[-1]) == truth

    # Sealed with another server key: nothing here is trusted, the fold answers.
    other = stranger(tmp_path)
    assert store.snapshots(other).nearest(late) is None
    foreign = store.point_in_time(store.snapshots(other))
    assert foreign.checkpoints.start(store.instants[-1])[1] == 1  # from the first event
    assert store.answers(foreign, store.instants[-1]) == truth


def test_a_sealed_server_folds_without_snapshots(store: Store) -> None:
    sealed = Envelope(KeyStore(store.projector.engine))  # no server key loaded
    pit = store.point_in_time(store.snapshots(sealed))
    truth = store.answers(store.point_in_time(None), store.instants[-1])
    assert store.answers(pit, store.instants[-1]) == truth
    assert stored_rows(store) == []  # nothing written without the key
