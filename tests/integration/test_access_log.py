"""The access log on both stores: group commit, lanes, replays, re-decision, verify.

Real SQLite files and real PostgreSQL databases; records go through `RecordWriter`
exactly as the server writes them, and tampering is done with plain SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import text

from application.accesslog import Decision, PendingRecord, RecordWriter, Verdict
from application.accessverify import verify_access_log
from application.ports import AppendOutcome
from domain.accesschain import ChainedEntry
from domain.audit import ActorKind, AuditStamp
from domain.errors import Forbidden
from infrastructure.accessstore.store import SqlAccessStore
from infrastructure.settings import Settings
from interfaces.bootstrap import build_access_store, build_store


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def now_ms(self) -> int:
        self.now += 1
        return self.now


class HeldStore:
    """The real store, with its first append held until released: whatever is
    submitted meanwhile lands in the writer's next batch, all together."""

    def __init__(self, store: SqlAccessStore) -> None:
        self.store = store
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[int] = []

    def append(
        self,
        rows: list[ChainedEntry],
        fetched: list[tuple[str, str, int]],
        confirm: Callable[[object], bool],
    ) -> AppendOutcome:
        self.entered.set()
        self.release.wait(10)
        self.batches.append(len(rows))
        return self.store.append(rows, fetched, confirm)


@pytest.fixture
def access(settings: Settings) -> Iterator[SqlAccessStore]:
    ledger, _envelope, projector, _clock = build_store(settings)
    store = build_access_store(settings, projector)
    yield store
    store.close()
    ledger.close()
    projector.engine.dispose()


def stamp(machine: str = "m-1", detail: str = "") -> AuditStamp:
    return AuditStamp(ActorKind.MACHINE, "10.0.0.1", machine_id=machine, detail=detail)


def sql(store: SqlAccessStore, statement: str, **params: Any) -> list[Any]:
    with store.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def write_some(store: SqlAccessStore, n: int = 6) -> RecordWriter:
    writer = RecordWriter(store, Clock())
    for i in range(n):
        assert writer.write("secret_read", stamp(detail=f"read {i}"), "sk_1", key=f"nonce-{i}")
    return writer


def test_records_chain_and_verify(access: SqlAccessStore) -> None:
    writer = write_some(access)
    writer.close()
    report = verify_access_log(access)
    assert (report.ok, report.checked, report.lanes) == (True, 6, 1)
    assert list(report.heads) == [writer.lane]


def test_each_writer_has_its_own_lane_and_verify_walks_all(access: SqlAccessStore) -> None:
    first, second = write_some(access, 3), write_some(access, 0)
    for i in range(4):
        assert second.write("auth_failure", stamp("m-2", f"bad {i}"))
    first.close()
    second.close()
    report = verify_access_log(access)
    assert (report.ok, report.checked, report.lanes) == (True, 7, 2)


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason"),
    [
        ("UPDATE kl_access_records SET detail = 'nothing to see' WHERE seq = 3", 3, "edited"),
        ("UPDATE kl_access_records SET action = 'secret_read_denied' WHERE seq = 4", 4, "edited"),
        ("DELETE FROM kl_access_records WHERE seq = 2", 2, "deleted"),
        ("UPDATE kl_access_records SET seq = seq + 100 WHERE seq IN (2, 3)", 2, "deleted"),
    ],
)
def test_tampering_is_named(access: SqlAccessStore, tamper: str, bad_seq: int, reason: str) -> None:
    writer = write_some(access)
    writer.close()
    sql(access, tamper)
    report = verify_access_log(access)
    assert not report.ok
    assert report.first_bad == f"{writer.lane}:{bad_seq}"
    assert reason in report.reason


def test_reordered_records_are_named(access: SqlAccessStore) -> None:
    writer = write_some(access)
    writer.close()
    # Swap two records' places (content and chain rows move together).
    sql(access, "UPDATE kl_access_records SET seq = -1 WHERE seq = 3")
    sql(access, "UPDATE kl_access_records SET seq = 3 WHERE seq = 4")
    sql(access, "UPDATE kl_access_records SET seq = 4 WHERE seq = -1")
    report = verify_access_log(access)
    assert (report.ok, report.first_bad) == (False, f"{writer.lane}:3")
    assert "reordered" in report.reason


def test_records_in_an_unregistered_lane_are_named(access: SqlAccessStore) -> None:
    writer = write_some(access, 2)
    writer.close()
    sql(access, "UPDATE kl_access_records SET lane = 'forged' WHERE seq = 2")
    report = verify_access_log(access)
    assert (report.ok, report.first_bad) == (False, "forged:?")


def test_a_replay_inside_one_batch_fails_only_itself(access: SqlAccessStore) -> None:
    held = HeldStore(access)
    writer = RecordWriter(held, Clock())  # type: ignore[arg-type]
    held.release.set()
    assert writer.write("secret_read", stamp(), "sk_1", key="used-before")
    held.release.clear()
    held.entered.clear()
    blocker = writer.submit("secret_read", stamp(), "sk_1", key="blocker")
    assert held.entered.wait(10)  # the writer is inside the blocker's batch
    futures = [writer.submit("secret_read", stamp(), "sk_1", key="twice") for _ in range(5)]
    futures += [writer.submit("secret_read", stamp(), "sk_1", key=f"fresh-{i}") for i in range(5)]
    futures.append(writer.submit("secret_read", stamp(), "sk_1", key="used-before"))
    futures.append(writer.submit("secret_read", stamp("m-2"), "sk_1", key="twice"))
    held.release.set()
    verdicts = [f.result(timeout=10).written for f in futures]
    assert blocker.result(timeout=10).written
    writer.close()
    # One batch of 12: the first "twice" is written, its four copies and the old
    # nonce are refused, and the other machine's "twice" is its own nonce.
    assert verdicts == [True] + [False] * 4 + [True] * 5 + [False, True]
    assert held.batches == [1, 1, 12, 7]
    assert verify_access_log(access).ok


def test_a_record_decided_on_an_older_head_is_redecided(access: SqlAccessStore) -> None:
    writer = RecordWriter(access, Clock())
    writer.write("secret_read", stamp(), "sk_1", key="first")  # learns the head
    refusal = Forbidden("Machine has no grant on this secret")
    denied = writer.entry("secret_read_denied", stamp(detail="no grant"), "sk_1", "second")
    asked: list[object] = []

    def recheck(head: object) -> Decision | None:
        asked.append(head)
        return Decision(denied, refusal)

    record = PendingRecord(
        Decision(writer.entry("secret_read", stamp(), "sk_1", "second")),
        decided_head="an older head",
        recheck=recheck,
    )
    verdict: Verdict = writer.submit_record(record).result(timeout=10)
    unchanged = PendingRecord(
        Decision(writer.entry("secret_read", stamp(), "sk_1", "third")),
        decided_head=writer.known_head,
        recheck=recheck,
    )
    assert writer.submit_record(unchanged).result(timeout=10).written
    writer.close()
    assert verdict == Verdict(True, refusal, None)
    assert asked == [writer.known_head]  # only the stale decision was re-checked
    rows = sorted(access.newest(10, 0), key=lambda r: r.seq)
    assert [(r.entry.action, r.entry.nonce) for r in rows] == [
        ("secret_read", "first"),
        ("secret_read_denied", "second"),
        ("secret_read", "third"),
    ]


def test_reads_remember_the_fetched_version(access: SqlAccessStore) -> None:
    writer = RecordWriter(access, Clock())
    for version, nonce in ((1, "a"), (3, "b")):
        entry = writer.entry("secret_read", stamp(), "sk_1", nonce, secret_version=version)
        assert writer.submit_record(PendingRecord(Decision(entry))).result(timeout=10).written
    writer.close()
    assert access.last("m-1", ["sk_1", "sk_2"]) == {"sk_1": 3}


def test_a_failed_batch_fails_its_waiters_and_moves_to_a_new_lane(
    access: SqlAccessStore,
) -> None:
    writer = write_some(access, 2)
    lane = writer.lane
    future: Future[Verdict] = writer.submit("secret_read", stamp(detail="x" * 10), "sk_" + "9" * 40)
    if access.engine.dialect.name == "sqlite":
        # SQLite does not enforce VARCHAR lengths: break the batch another way (its
        # ON CONFLICT target no longer exists).
        sql(access, "DROP INDEX kl_access_records_nonce")
        future = writer.submit("secret_read", stamp(), "sk_1", key="clash")
    with pytest.raises(Exception):  # whatever the database says, it fails closed
        future.result(timeout=10)
    assert writer.lane != lane
    writer.close()
