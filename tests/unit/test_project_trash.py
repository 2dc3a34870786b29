"""A project's trash life in the domain: delete, restore, purge (the key shredded as an event)."""

from __future__ import annotations

import pytest

from domain import ids
from domain.audit import ActorKind, AuditStamp, Severity, action_for
from domain.errors import Conflict, NotFound
from domain.project import TRASH_RETENTION_MS, Project

STAMP = AuditStamp(ActorKind.USER, "203.0.113.7", user_id="usr_aaaaaaaaaa", detail="test")
T0 = 1_700_000_000_000


def make_project() -> Project:
    pid = ids.new_public_id(ids.PROJECT)
    return Project(project_id=pid, name="payments", description="", key_ref="pk_1", audit=STAMP)


def replayed(project: Project) -> Project:
    """The aggregate rebuilt from its events, as the store would load it."""
    state: Project | None = None
    for event in project.collect_events():
        state = event.mutate(state)
    assert state is not None
    return state


def test_delete_restore_purge_is_recorded_as_events() -> None:
    project = make_project()
    project.delete(T0, STAMP)
    assert project.in_trash and not project.purged
    project.restore(T0 + 1000, STAMP)
    assert not project.in_trash
    project.add_machine("m-1", STAMP)
    project.delete(T0 + 2000, STAMP)
    project.purge(STAMP)
    assert project.purged and project.machines == set()
    events = project.collect_events()
    assert [type(e).TOPIC.rsplit(".", 1)[1] for e in events] == [
        "Created",
        "Deleted",
        "Restored",
        "MachineAdded",
        "Deleted",
        "Purged",
    ]
    purged = events[-1]
    assert type(purged).TOPIC == "keyledger.project.Purged"
    assert purged.shredded_key_ref == "pk_1"  # which key was destroyed; never key material


def test_replay_gives_the_same_state() -> None:
    project = make_project()
    project.delete(T0, STAMP)
    state = replayed(project)
    assert state.deleted_at_ms == T0 and not state.purged
    project = make_project()
    project.delete(T0, STAMP)
    project.purge(STAMP)
    assert replayed(project).purged


def test_purge_needs_delete_first() -> None:
    project = make_project()
    with pytest.raises(Conflict, match="must be deleted before it is purged"):
        project.purge(STAMP)
    assert len(project.collect_events()) == 1  # only Created: nothing written


def test_bad_transitions_raise_and_write_nothing() -> None:
    project = make_project()
    with pytest.raises(Conflict, match="not in the trash"):
        project.restore(T0, STAMP)
    project.delete(T0, STAMP)
    with pytest.raises(Conflict, match="already in the trash"):
        project.delete(T0, STAMP)
    with pytest.raises(Conflict, match="restore it first"):
        project.add_machine("m-1", STAMP)
    with pytest.raises(Conflict, match="restore it first"):
        project.update("new", None, STAMP)
    project.purge(STAMP)
    before = len(project.collect_events())
    with pytest.raises(NotFound, match="cannot be restored"):
        project.restore(T0, STAMP)
    with pytest.raises(NotFound, match="was purged"):
        project.purge(STAMP)
    with pytest.raises(NotFound, match="was purged"):
        project.delete(T0, STAMP)
    assert len(project.collect_events()) == 0 and before == 3


def test_restore_only_within_thirty_days() -> None:
    project = make_project()
    project.delete(T0, STAMP)
    assert not project.trash_expired(T0 + TRASH_RETENTION_MS)
    assert project.trash_expired(T0 + TRASH_RETENTION_MS + 1)
    with pytest.raises(NotFound, match="has left the trash"):
        project.restore(T0 + TRASH_RETENTION_MS + 1, STAMP)
    project.restore(T0 + TRASH_RETENTION_MS, STAMP)
    assert not project.in_trash


def test_audit_actions_are_high() -> None:
    for verb in ("delete", "restore", "purge"):
        topic = f"keyledger.project.{verb.title()}d"
        assert action_for(topic) == (f"project_{verb}", Severity.HIGH)
