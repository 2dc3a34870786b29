"""The sync agent's loop against an in-memory server and database (no network)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from application.agent import AgentOptions, SyncAgent, SyncError
from application.ports import ProviderError
from domain.managed import Connection, ProviderType
from interfaces.cli.agentfiles import FileJournal

USER = "app_user"
LIVE = "live-pass-1"
NEW = "new-pass-2"


class FakeServer:
    """The agent endpoints of one managed secret, as the server answers them."""

    def __init__(self, pending: str | None = None, new: str = NEW) -> None:
        self.cond = threading.Condition()
        self.live = (USER, LIVE)
        self.version = 1
        self.pending_id = pending
        self.pending_value = json.dumps({"username": USER, "password": new}) if pending else None
        self.errors: dict[str, list[SyncError]] = {}
        self.sticky = False  # a server that forgets to clear pending (for dedupe)
        self.heartbeats: list[tuple[str, str]] = []
        self.confirmed: list[str] = []
        self.rejected: list[tuple[str, str]] = []
        self.config_calls = 0

    def fail(self, method: str, *statuses: int) -> None:
        self.errors[method] = [SyncError(f"boom {s}", s) for s in statuses]

    def _raise(self, method: str) -> None:
        queue = self.errors.get(method)
        if queue:
            error = queue[0] if len(queue) == 1 and queue[0].status in (403, 404) else queue.pop(0)
            raise error

    def add_rotation(self, rotation_id: str, password: str) -> None:
        with self.cond:
            self.pending_id = rotation_id
            self.pending_value = json.dumps({"password": password})  # username defaults
            self.cond.notify_all()

    def sync_config(self) -> dict[str, Any]:
        self.config_calls += 1
        self._raise("sync_config")
        return {
            "providerType": "postgresql",
            "connection": {"host": "db", "port": 5432, "adminUser": "admin", "adminPass": "x"},
            "managedUsername": USER,
            "pollIntervalSeconds": 10,
            "pendingRotationId": self.pending_id,
            "pendingValue": self.pending_value,
            "rotationStatus": "pending" if self.pending_id else "none",
        }

    def wait(self, after: str | None, timeout: float) -> str | None:
        self._raise("wait")
        with self.cond:
            self.cond.wait_for(lambda: self.pending_id not in (None, after), timeout)
            return self.pending_id if self.pending_id != after else None

    def heartbeat(self, status: str, error: str) -> None:
        self._raise("heartbeat")
        self.heartbeats.append((status, error))

    def confirm(self, rotation_id: str) -> int:
        self._raise("confirm")
        if rotation_id != self.pending_id:
            raise SyncError("not pending", 409)
        self.live = (USER, json.loads(self.pending_value or "{}")["password"])
        self.version += 1
        self.confirmed.append(rotation_id)
        self.pending_id = self.pending_value = None
        return self.version

    def reject(self, rotation_id: str, error: str) -> None:
        self._raise("reject")
        self.rejected.append((rotation_id, error))
        if not self.sticky:
            self.pending_id = self.pending_value = None

    def live_credentials(self) -> tuple[str, str]:
        self._raise("live")
        return self.live


class FakeDatabase:
    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = {USER: LIVE} if users is None else users
        self.admin_ok = True
        self.refuse_set: set[str] = set()  # passwords set_password fails on
        self.refuse_verify: set[str] = set()  # passwords verify refuses even when set
        self.applied: list[str] = []

    def test_admin(self) -> None:
        if not self.admin_ok:
            raise ProviderError("connection refused")

    def user_exists(self, username: str) -> bool:
        if not self.admin_ok:
            raise ProviderError("connection refused")
        return username in self.users

    def create_user(self, username: str, password: str) -> None:
        self.users[username] = password
        self.applied.append(password)

    def set_password(self, username: str, password: str) -> None:
        if not self.admin_ok or password in self.refuse_set:
            raise ProviderError("permission denied")
        self.users[username] = password
        self.applied.append(password)

    def verify(self, username: str, password: str) -> None:
        if self.users.get(username) != password or password in self.refuse_verify:
            raise ProviderError("password authentication failed")


class Harness:
    def __init__(self, tmp_path, server: FakeServer, db: FakeDatabase, **options: Any) -> None:
        self.server, self.db = server, db
        self.journal = FileJournal(tmp_path / "journal.json")
        self.stop = threading.Event()
        self.lines: list[str] = []
        self.connections: list[Connection] = []
        self.code: int | None = None
        opts = {"wait_timeout": 1.0, "max_backoff": 0.05, **options}

        def factory(connection: Connection) -> FakeDatabase:
            self.connections.append(connection)
            return db

        self.agent = SyncAgent(
            server, factory, self.journal, self.stop, self.lines.append, AgentOptions(**opts)
        )
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = self.agent.run()

    def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> int | None:
        """Run the agent until `condition` holds (or it exits), then stop it."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.thread.is_alive() and not condition():
            time.sleep(0.01)
        assert condition(), self.lines
        self.stop.set()
        self.thread.join(3)
        assert not self.thread.is_alive()
        return self.code

    def log(self) -> str:
        return "\n".join(self.lines)


def test_happy_rotation_is_applied_verified_confirmed(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: server.confirmed == ["rot_1"]) == 0
    assert db.users[USER] == NEW and server.live == (USER, NEW)
    assert h.journal.load() is None and not (tmp_path / "journal.json").exists()
    assert server.heartbeats[0] == ("healthy", "")
    assert "rotation rot_1 applied, verified, confirmed (v2)" in h.log()
    assert NEW not in h.log() and LIVE not in h.log()


def test_rotation_pushed_while_running_is_handled(tmp_path) -> None:
    server, db = FakeServer(), FakeDatabase()
    h = Harness(tmp_path, server, db)
    threading.Timer(0.3, server.add_rotation, ("rot_2", "pushed-pass")).start()
    assert h.until(lambda: server.confirmed == ["rot_2"]) == 0
    assert db.users[USER] == "pushed-pass"


def test_first_run_creates_the_user_with_the_live_password(tmp_path) -> None:
    server, db = FakeServer(), FakeDatabase(users={})
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: bool(server.heartbeats)) == 0
    assert db.users == {USER: LIVE}


def test_apply_failure_rejects_and_leaves_live_untouched(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    db.refuse_set = {NEW}
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: bool(server.rejected)) == 0
    ((rotation, error),) = server.rejected
    assert rotation == "rot_1" and error.startswith("apply failed: permission denied")
    assert db.users[USER] == LIVE and server.live == (USER, LIVE)
    assert h.journal.load() is None


def test_verify_failure_restores_old_password_then_rejects(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    db.refuse_verify = {NEW}
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: bool(server.rejected)) == 0
    error = server.rejected[0][1]
    assert error.startswith("verification failed: ") and "old password was restored" in error
    assert db.applied == [NEW, LIVE] and db.users[USER] == LIVE
    assert not server.confirmed


def test_verify_and_rollback_failure_says_so(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    db.refuse_verify, db.refuse_set = {NEW}, {LIVE}
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: bool(server.rejected)) == 0
    assert server.rejected[0][1].startswith("verification failed AND rollback failed: ")


def test_crash_mid_apply_with_rotation_still_pending_is_retried(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase(users={USER: NEW})
    FileJournal(tmp_path / "journal.json").save("rot_1", "verifying")
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: server.confirmed == ["rot_1"]) == 0
    assert "rot_1 was in flight (verifying)" in h.log()
    assert db.applied == [LIVE, NEW] and db.users[USER] == NEW
    assert h.journal.load() is None


def test_crash_mid_apply_with_rotation_gone_restores_live(tmp_path) -> None:
    server, db = FakeServer(), FakeDatabase(users={USER: NEW})
    FileJournal(tmp_path / "journal.json").save("rot_1", "applying")
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: bool(server.heartbeats)) == 0
    assert db.users[USER] == LIVE and "no longer pending" in h.log()
    assert h.journal.load() is None and not server.confirmed and not server.rejected


@pytest.mark.parametrize("status", [403, 404])
def test_revoked_or_deleted_at_start_exits_cleanly(tmp_path, status: int) -> None:
    server = FakeServer()
    server.fail("sync_config", status)
    h = Harness(tmp_path, server, FakeDatabase())
    assert h.agent.run() == 0
    assert "secret deleted or access revoked" in h.log()


@pytest.mark.parametrize("status", [403, 404])
def test_revoked_or_deleted_while_running_exits_cleanly(tmp_path, status: int) -> None:
    server = FakeServer()
    h = Harness(tmp_path, server, FakeDatabase())
    h.thread.start()
    time.sleep(0.2)
    server.fail("wait", status)
    server.fail("sync_config", status)  # a 404 from wait is checked with sync-config
    h.thread.join(5)
    assert not h.thread.is_alive() and h.code == 0
    assert "secret deleted or access revoked" in h.log()


def test_machine_revoked_while_running_exits_cleanly(tmp_path) -> None:
    # A revoked machine is unknown to the gate (401): once running, that ends the agent.
    server = FakeServer()
    h = Harness(tmp_path, server, FakeDatabase())
    h.thread.start()
    time.sleep(0.2)
    server.fail("wait", *([401] * 50))
    server.fail("sync_config", *([401] * 50))
    h.thread.join(5)
    assert not h.thread.is_alive() and h.code == 0
    assert "secret deleted or access revoked" in h.log()


def test_unknown_machine_at_start_exits_1(tmp_path) -> None:
    server = FakeServer()
    server.fail("sync_config", 401)
    h = Harness(tmp_path, server, FakeDatabase())
    assert h.agent.run() == 1


def test_unbound_at_confirm_restores_the_live_password_and_exits(tmp_path) -> None:
    # The operator named another agent (or unset it) while this one was applying: its
    # value will never go live, so the database must not keep it.
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    server.fail("confirm", 403)
    h = Harness(tmp_path, server, db)
    assert h.agent.run() == 0
    assert db.applied == [NEW, LIVE] and db.users[USER] == LIVE
    assert not server.confirmed and h.journal.load() is None
    assert "will not go live; restored the live password" in h.log()
    assert "secret deleted or access revoked" in h.log()


def test_unbound_and_unreadable_at_confirm_still_exits(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    server.fail("confirm", 403)
    refuse_confirm = server.confirm

    def confirm(rotation_id: str) -> int:
        server.fail("live", 403)  # grant revoked too: the next agent restores at its start
        return refuse_confirm(rotation_id)

    server.confirm = confirm  # type: ignore[method-assign]
    h = Harness(tmp_path, server, db)
    assert h.agent.run() == 0
    assert db.applied == [NEW] and "cannot restore" in h.log()


def test_admin_test_failure_reports_error_and_exits_1(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    db.admin_ok = False
    h = Harness(tmp_path, server, db)
    assert h.agent.run() == 1
    assert server.heartbeats == [("error", "database admin test failed: connection refused")]
    assert not server.confirmed and not server.rejected


def test_confirm_409_restores_the_live_password(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    server.fail("confirm", 409)
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: db.applied == [NEW, LIVE]) == 0
    assert db.users[USER] == LIVE and h.journal.load() is None


def test_same_rotation_is_handled_once(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    server.sticky = True
    db.refuse_set = {NEW}
    server.fail("wait", 405)  # polling: every poll sees rot_1 again
    h = Harness(tmp_path, server, db, poll_floor=0.01, poll_interval=0.01)
    assert h.until(lambda: server.config_calls >= 5) == 0
    assert len(server.rejected) == 1 and "polling instead" in h.log()


def test_wait_unsupported_falls_back_to_polling(tmp_path) -> None:
    server, db = FakeServer(), FakeDatabase()
    server.fail("wait", 404)
    h = Harness(tmp_path, server, db, poll_floor=0.01, poll_interval=0.05)
    threading.Timer(0.2, server.add_rotation, ("rot_3", "polled-pass")).start()
    assert h.until(lambda: server.confirmed == ["rot_3"]) == 0


def test_unreachable_server_is_retried_not_fatal(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    server.fail("sync_config", 0, 503)
    server.fail("confirm", 0)
    h = Harness(tmp_path, server, db)
    assert h.until(lambda: server.confirmed == ["rot_1"]) == 0
    assert "retrying" in h.log()


def test_stop_flag_ends_a_long_poll_promptly(tmp_path) -> None:
    server = FakeServer()
    h = Harness(tmp_path, server, FakeDatabase(), wait_timeout=25.0)
    h.thread.start()
    time.sleep(0.3)
    began = time.monotonic()
    h.stop.set()
    h.thread.join(3)
    assert not h.thread.is_alive() and h.code == 0
    assert time.monotonic() - began < 1.0


def test_heartbeat_reports_database_outage_and_recovery(tmp_path) -> None:
    server, db = FakeServer(), FakeDatabase()
    h = Harness(tmp_path, server, db, heartbeat_every=0.05)
    h.thread.start()
    time.sleep(0.1)
    db.admin_ok = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(s == "error" for s, _ in server.heartbeats):
        time.sleep(0.02)
    db.admin_ok = True
    while time.monotonic() < deadline + 5 and server.heartbeats[-1][0] != "healthy":
        time.sleep(0.02)
    h.stop.set()
    h.thread.join(3)
    statuses = [s for s, _ in server.heartbeats]
    assert "error" in statuses and statuses[-1] == "healthy"
    assert "stopped answering" in h.log() and "answers again" in h.log()


def test_local_connection_wins_and_apply_delay_is_honoured(tmp_path) -> None:
    server, db = FakeServer(pending="rot_1"), FakeDatabase()
    local = Connection(ProviderType.MYSQL, "127.0.0.1", 3306, "", "root", "pw")
    h = Harness(tmp_path, server, db, connection=local, apply_delay_ms=150)
    began = time.monotonic()
    assert h.until(lambda: server.confirmed == ["rot_1"]) == 0
    assert h.connections == [local]
    assert time.monotonic() - began >= 0.15
