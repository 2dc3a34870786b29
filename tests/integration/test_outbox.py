"""The outreach follower and the outbox on real stores (SQLite and PostgreSQL).

Two followers racing over the same logs (a deposed leader and its successor) enqueue
each record once; a follower that dies before its commit leaves nothing behind and the
next one enqueues what it had read; leases hand a row to one dispatcher at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from application.outbox import Delivery, Follower
from domain.audit import AuditStamp
from infrastructure.outreach.outbox import SqlOutbox
from infrastructure.outreach.tables import outbox
from infrastructure.settings import Settings
from interfaces.bootstrap import Services, build

OPERATOR = AuditStamp.system("test operator")


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build(settings)
    yield built
    built.close()


def _subscribe(services: Services) -> None:
    services.alerts.set_actions(["secret_delete"], OPERATOR)
    from application.alerts import Smtp

    services.alerts.set_smtp(
        Smtp("127.0.0.1", 25, "k@example.com", ("o@example.com",)), None, OPERATOR
    )


def _deletions(services: Services, count: int) -> list[str]:
    project = services.ledger.create_project("outbox", "", OPERATOR)
    deleted = []
    for n in range(count):
        secret = services.ledger.create_secret(project.project_id, f"s{n}", OPERATOR, value="v")
        services.ledger.delete_secret(secret.secret_id, OPERATOR)
        deleted.append(secret.secret_id)
    services.projector.catch_up()
    return deleted


def _rows(services: Services) -> list[dict[str, object]]:
    with services.projector.engine.connect() as conn:
        return [dict(r) for r in conn.execute(outbox.select()).mappings()]


def test_racing_followers_enqueue_each_record_once(services: Services) -> None:
    _subscribe(services)
    box = SqlOutbox(services.projector.engine)
    followers = [Follower(services.audit_source, box, page=3) for _ in range(4)]
    followers[0].step()  # the first step only places the position at the head
    deleted = _deletions(services, 12)

    def run(follower: Follower) -> None:
        for _ in range(40):
            follower.step()

    threads = [threading.Thread(target=run, args=(f,)) for f in followers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = [r for r in _rows(services) if r["action"] == "secret_delete"]
    assert len(rows) == 12  # one mail per deletion, none twice
    bodies = {bytes(r["body"]) for r in rows}  # type: ignore[arg-type]
    assert all(any(s.encode() in b for b in bodies) for s in deleted)


class DiesBeforeCommit(SqlOutbox):
    def enqueue(self, deliveries: list[Delivery], old: object, new: object) -> bool:  # type: ignore[override]
        raise RuntimeError("killed between reading and committing")


def test_a_follower_that_dies_before_its_commit_loses_nothing(services: Services) -> None:
    _subscribe(services)
    box = SqlOutbox(services.projector.engine)
    Follower(services.audit_source, box).step()
    before = box.position()
    _deletions(services, 3)
    with pytest.raises(RuntimeError):
        Follower(services.audit_source, DiesBeforeCommit(services.projector.engine)).step()
    assert box.position() == before and _rows(services) == []
    assert Follower(services.audit_source, box).drain() == 3
    assert Follower(services.audit_source, box).drain() == 0  # nothing left, nothing again


def test_a_lease_hands_a_row_out_once_until_it_runs_out(services: Services) -> None:
    _subscribe(services)
    box = SqlOutbox(services.projector.engine)
    Follower(services.audit_source, box).step()
    _deletions(services, 1)
    Follower(services.audit_source, box).drain()
    now = services.clock.now_ms()
    first = box.lease_due(now, 5_000)
    assert len(first) == 1
    assert box.lease_due(now + 1_000, 5_000) == []  # still leased
    assert box.lease_due(now + 5_001, 5_000) == first  # the holder died: out again
    box.delivered(first[0], now)
    assert box.lease_due(now + 60_000, 5_000) == []


def test_settled_rows_are_pruned_pending_ones_kept(services: Services) -> None:
    _subscribe(services)
    box = SqlOutbox(services.projector.engine)
    Follower(services.audit_source, box).step()
    started = services.clock.now_ms()
    _deletions(services, 2)
    Follower(services.audit_source, box).drain()
    now = services.clock.now_ms()
    done, waiting = box.lease_due(now, 5_000)
    box.delivered(done, now)
    assert box.prune(started - 1) == 0  # younger than the cut-off
    assert box.prune(now + 60_000) == 1
    assert [r["delivery_id"] for r in _rows(services)] == [waiting]


class Watched:
    """The real source, remembering every record a page brought into Python."""

    def __init__(self, source: object) -> None:
        self.source = source
        self.seen: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.source, name)

    def ledger_after(self, *args: object, **kwargs: object) -> list[object]:
        records = self.source.ledger_after(*args, **kwargs)  # type: ignore[attr-defined]
        self.seen += [r.action for r in records]
        return records  # type: ignore[no-any-return]

    def lane_after(self, *args: object, **kwargs: object) -> list[object]:
        records = self.source.lane_after(*args, **kwargs)  # type: ignore[attr-defined]
        self.seen += [r.action for r in records]
        return records  # type: ignore[no-any-return]


def test_with_nobody_listening_the_follower_moves_to_the_head_unread(services: Services) -> None:
    box = SqlOutbox(services.projector.engine)
    source = Watched(services.audit_source)
    follower = Follower(source, box, page=3)  # type: ignore[arg-type]
    follower.step()
    _deletions(services, 4)
    follower.drain()
    assert source.seen == []  # not one record read, yet every one passed
    assert box.position() == services.audit_source.head()
    _subscribe(services)  # a destination added now gets what comes after, not history
    later = _deletions(services, 2)
    assert follower.drain() == 2
    bodies = [bytes(r["body"]) for r in _rows(services)]  # type: ignore[arg-type]
    assert all(any(s.encode() in b for b in bodies) for s in later) and len(bodies) == 2


def test_only_the_subscribed_actions_are_read(services: Services) -> None:
    _subscribe(services)  # secret_delete only
    box = SqlOutbox(services.projector.engine)
    source = Watched(services.audit_source)
    follower = Follower(source, box, page=2)  # type: ignore[arg-type]
    follower.step()
    deleted = _deletions(services, 5)  # 1 project, 5 creates, 5 deletes
    assert follower.drain() == 5
    assert source.seen == ["secret_delete"] * 5
    assert box.position() == services.audit_source.head()
    assert len(_rows(services)) == len(deleted)
