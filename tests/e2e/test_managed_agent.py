"""A live server, a REAL agent process and a REAL scram-sha-256 PostgreSQL: rotation
never splits credentials (the brief's "What Happens When Things Break", part 1).

Every assertion about which password works is a real login as the managed role.
Here: the happy path (both storage modes), the agent down when a rotation fires,
the agent SIGKILLed between apply and verify, and readers during a rotation storm.
The failure table's other rows are in test_managed_failures.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sikkerkey import SikkerKey

from tests.databases import Server
from tests.e2e.agent_helpers import (
    AgentProcess,
    Harness,
    db_accepts,
    live_credentials,
    no_secret_in,
    pending_credentials,
    wait_until,
)
from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Machine

SQLITE_ONLY = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture
def h(live: LiveServer, pg_server: Server, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(live, pg_server, tmp_path)
    try:
        yield harness
    finally:
        harness.close()


def started(
    h: Harness, name: str = "agent", delay_ms: int = 0
) -> tuple[str, str, Machine, AgentProcess]:
    """A managed secret, its agent machine and running agent (which created the role)."""
    secret_id, user = h.managed()
    machine = h.machine(name, secret_id, agent=True)
    agent = h.agent(machine, secret_id, delay_ms=delay_ms)
    agent.wait_for_line(f"created database user {user} with the live password")
    h.wait_healthy(secret_id)
    return secret_id, user, machine, agent


def test_happy_path_rotation_lands_in_db_and_vault_together(h: Harness) -> None:
    secret_id, user = h.managed()
    machine = h.machine("agent", secret_id, agent=True)
    agent = h.agent(machine, secret_id)
    agent.wait_for_line(f"created database user {user} with the live password")
    h.wait_healthy(secret_id)
    first = live_credentials(h.live, machine, secret_id)
    assert first["username"] == user and len(first["password"]) == 24
    assert db_accepts(h.pg, user, first["password"])
    assert not db_accepts(h.pg, user, first["password"] + "x")  # the DB really checks

    rotation_id = h.rotate(secret_id)
    line = agent.wait_for_line(f"rotation {rotation_id} applied, verified, confirmed")
    assert line.endswith("(v2)"), line
    status = h.wait_version(secret_id, 2)
    assert status["error"] is None and status["agent"] == "healthy", status

    second = live_credentials(h.live, machine, secret_id)
    assert second["username"] == user
    assert second["password"] != first["password"]
    assert len(second["password"]) == 24 and second["password"].isalnum()
    assert db_accepts(h.pg, user, second["password"])
    assert not db_accepts(h.pg, user, first["password"])

    actions = {entry["action"] for entry in h.op.audit()}
    for action in (
        "agent_bind",
        "agent_status_change",
        "rotation_pending",
        "rotation_confirm",
        "secret_rotate",
    ):
        assert action in actions, (action, sorted(actions))
    assert no_secret_in(agent.text(), first["password"], second["password"], h.pg.admin[1])
    assert agent.terminate() == 0  # SIGTERM: a clean stop


@SQLITE_ONLY
def test_agent_down_when_rotation_fires_is_held_then_applied(h: Harness) -> None:
    secret_id, user, machine, agent = started(h)
    assert agent.terminate() == 0  # bound once, now down
    live = live_credentials(h.live, machine, secret_id)

    rotation_id = h.rotate(secret_id)
    status = h.status(secret_id)
    assert status["rotation"] == "pending" and status["pendingRotationId"] == rotation_id
    assert status["version"] == 1
    pending = pending_credentials(h.live, machine, secret_id)
    assert pending is not None and pending["password"] != live["password"]
    # Held: the vault and the database both stay on the old password.
    assert live_credentials(h.live, machine, secret_id) == live
    assert db_accepts(h.pg, user, live["password"])
    assert not db_accepts(h.pg, user, pending["password"])

    again = h.agent(machine, secret_id)
    again.wait_for_line(f"rotation {rotation_id} applied, verified, confirmed")
    h.wait_version(secret_id, 2)
    now = live_credentials(h.live, machine, secret_id)
    assert now == pending
    assert db_accepts(h.pg, user, now["password"])
    assert not db_accepts(h.pg, user, live["password"])


@SQLITE_ONLY
def test_agent_killed_mid_apply_never_promotes_and_resumes(h: Harness) -> None:
    secret_id, user, machine, agent = started(h, delay_ms=4000)
    live = live_credentials(h.live, machine, secret_id)

    rotation_id = h.rotate(secret_id)
    agent.wait_for_line(f"rotation {rotation_id} pending for {user}: applying")
    pending = pending_credentials(h.live, machine, secret_id)
    assert pending is not None
    # Applied, not yet verified (the drill delay): kill it right there.
    wait_until(lambda: db_accepts(h.pg, user, pending["password"]), "the apply", timeout=3)
    journal = h.tmp / "agent-home-agent" / "agents" / f"{secret_id}.journal.json"
    assert rotation_id in journal.read_text()
    agent.kill9()

    # The database holds the pending password; the server must not have promoted it.
    status = h.status(secret_id)
    assert status["rotation"] == "pending" and status["pendingRotationId"] == rotation_id
    assert status["version"] == 1
    assert live_credentials(h.live, machine, secret_id) == live
    assert "confirmed" not in agent.text()

    again = h.agent(machine, secret_id)  # same home: it finds the journal
    again.wait_for_line(f"rotation {rotation_id} was in flight")
    again.wait_for_line(f"rotation {rotation_id} applied, verified, confirmed")
    h.wait_version(secret_id, 2)
    now = live_credentials(h.live, machine, secret_id)
    assert now == pending
    assert db_accepts(h.pg, user, now["password"])
    assert not db_accepts(h.pg, user, live["password"])
    assert not journal.exists()


@SQLITE_ONLY
def test_readers_never_see_a_password_the_db_never_accepted(h: Harness) -> None:
    secret_id, user, machine, agent = started(h)
    app = h.machine("app", secret_id)
    sdk = SikkerKey(str(app.identity_path))
    lives = [live_credentials(h.live, machine, secret_id)["password"]]
    superseded_at: list[float] = []  # [i]: when the rotation replacing lives[i] was issued

    stop = threading.Event()
    reads: list[tuple[str, bool, float]] = []  # (password, DB accepted it, login ended)
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                password = sdk.get_fields(secret_id)["password"]
            except Exception as exc:  # reported below
                errors.append(repr(exc))
                continue
            ok = db_accepts(h.pg, user, password)
            reads.append((password, ok, time.monotonic()))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for version in range(2, 12):
            superseded_at.append(time.monotonic())
            rotation_id = h.rotate(secret_id)
            agent.wait_for_line(f"rotation {rotation_id} applied, verified, confirmed")
            h.wait_version(secret_id, version)
            new = live_credentials(h.live, machine, secret_id)["password"]
            assert db_accepts(h.pg, user, new)
            lives.append(new)
        seen_before_stop = len(reads)
        wait_until(lambda: len(reads) > seen_before_stop + 2, "reads of the final value", 10)
    finally:
        stop.set()
        thread.join(30)
    superseded_at.append(float("inf"))  # the final value is never replaced

    assert not errors, errors[:5]
    assert len(set(lives)) == len(lives) == 11
    seen = {password for password, _, _ in reads}
    # No pending value ever reached a reader: everything read was a confirmed live value,
    # and every confirmed live value was accepted by the database (checked above).
    assert seen <= set(lives), seen - set(lives)
    # A read value may stop working only once the rotation replacing it was issued (the
    # agent applies before it confirms); a value that failed before that was promoted
    # ahead of the database: a split credential.
    early = [
        (lives.index(password), ended - superseded_at[lives.index(password)])
        for password, ok, ended in reads
        if not ok and ended < superseded_at[lives.index(password)]
    ]
    assert not early, early
    assert any(password == lives[-1] and ok for password, ok, _ in reads)
    assert len(reads) >= 20, len(reads)
