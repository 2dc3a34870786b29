"""The project trash against a real store (SQLite and PostgreSQL): the sweep's expiry
purge, a purge cut short between its event and the key shredding, and read models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from application.ledger import Ledger
from application.projecttrash import ProjectTrash
from domain.audit import ActorKind, AuditStamp
from domain.errors import Conflict, IntegrityFailure, NotFound
from domain.project import TRASH_RETENTION_MS
from infrastructure.crypto.envelope import Envelope
from infrastructure.crypto.keyring import KeyRing
from infrastructure.database import keys
from infrastructure.readmodels.projector import SqlProjector
from infrastructure.readmodels.queries import ReadModels
from infrastructure.settings import Settings
from interfaces.bootstrap import build_store

OPERATOR = AuditStamp(ActorKind.USER, "198.51.100.4", user_id="usr_aaaaaaaaaa", detail="op")
VALUE = "pw-trash-5d0e-plaintext"


@pytest.fixture
def store(settings: Settings) -> Iterator[tuple[Ledger, Envelope, SqlProjector]]:
    ledger, envelope, projector, _clock = build_store(settings)
    envelope.establish(KeyRing.generate())
    try:
        yield ledger, envelope, projector
    finally:
        ledger.close()
        projector.engine.dispose()


def key_rows(projector: SqlProjector, project_id: str) -> list[str]:
    query = select(keys.c.key_ref).where(keys.c.owner_id == project_id)
    with projector.engine.connect() as conn:
        return [r[0] for r in conn.execute(query)]


def test_the_sweep_purges_expired_projects_only(
    store: tuple[Ledger, Envelope, SqlProjector],
) -> None:
    ledger, envelope, projector = store
    reads = ReadModels(projector.engine)
    trash = ProjectTrash(ledger, reads)
    project = ledger.create_project("old", "", OPERATOR)
    pid = project.project_id
    secret = ledger.create_secret(pid, "DB", OPERATOR, value=VALUE)
    kept = ledger.create_project("kept", "", OPERATOR)
    deleted_at = trash.delete(pid, OPERATOR).deleted_at_ms
    assert deleted_at is not None
    projector.catch_up()
    assert [p["id"] for p in reads.projects()] == [kept.project_id]
    trashed = reads.project(pid)
    assert trashed is not None and trashed["purgeAt"] == deleted_at + TRASH_RETENTION_MS
    with pytest.raises(Conflict, match="restore it first"):
        ledger.replace_secret(secret.secret_id, OPERATOR, value="new")

    due = deleted_at + TRASH_RETENTION_MS
    assert reads.expired_project_trash(due) == []
    assert trash.purge_expired([pid, kept.project_id], due) == []  # not yet: nothing purged
    assert reads.expired_project_trash(due + 1) == [pid]
    assert trash.purge_expired([pid, kept.project_id], due + 1) == [pid]

    projector.catch_up()
    assert key_rows(projector, pid) == [] and key_rows(projector, kept.project_id) != []
    assert key_rows(projector, secret.secret_id) == []  # its data keys went too
    assert reads.project(pid) is None and reads.secret(secret.secret_id) is None
    with pytest.raises(NotFound):
        ledger.secret(secret.secret_id)
    stored = ledger.repository.get(secret.id)  # the aggregate and its ciphertext remain
    with pytest.raises(IntegrityFailure):
        envelope.open_value(project.key_ref, secret.secret_id, stored.current.sealed)
    (entry,) = [e for e in reads.audit_tail(100) if e["action"] == "project_purge"]
    assert entry["actorKind"] == "system" and entry["severity"] == "high"
    assert entry["projectId"] == pid and entry["detail"] == "trash retention expired"


def test_a_purge_cut_short_before_shredding_is_finished_by_a_retry(
    store: tuple[Ledger, Envelope, SqlProjector],
) -> None:
    ledger, envelope, projector = store
    project = ledger.create_project("crashy", "", OPERATOR)
    pid = project.project_id
    secret = ledger.create_secret(pid, "DB", OPERATOR, value=VALUE)
    trash = ProjectTrash(ledger, ReadModels(projector.engine))
    trash.delete(pid, OPERATOR)
    projector.catch_up()
    loaded = ledger.project(pid, in_trash=True)
    loaded.purge(OPERATOR)
    ledger.save(loaded)  # the event is written; the process dies before shredding
    assert key_rows(projector, pid) != [] and key_rows(projector, secret.secret_id) != []

    with pytest.raises(NotFound, match="was purged"):
        trash.purge(pid, OPERATOR)
    assert key_rows(projector, pid) == [] and key_rows(projector, secret.secret_id) == []
    envelope.forget_cached()
    stored = ledger.repository.get(secret.id)
    with pytest.raises(IntegrityFailure):
        envelope.open_value(project.key_ref, secret.secret_id, stored.current.sealed)
