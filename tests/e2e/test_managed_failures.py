"""A live server, a REAL agent process and a REAL scram-sha-256 PostgreSQL: the rest of
the brief's "What Happens When Things Break" table (part 1: test_managed_agent.py).

Database unreachable during apply, verification failing after a successful apply,
repeated failure and retry, secret deleted, access revoked, a second agent. Every
claim about which password works is a real login as the managed role.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import Server
from tests.e2e.agent_helpers import (
    AgentProcess,
    Harness,
    db_accepts,
    live_credentials,
    pending_credentials,
    pg_super,
    wait_until,
)
from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Machine

pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture
def h(live: LiveServer, pg_server: Server, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(live, pg_server, tmp_path)
    try:
        yield harness
    finally:
        harness.close()


def started(
    h: Harness, *, own_admin: bool = False, delay_ms: int = 0
) -> tuple[str, str, str, Machine, AgentProcess]:
    """(secret, managed user, admin role, agent machine, running agent)."""
    admin = h.pg.admin
    if own_admin:  # a dedicated CREATEROLE admin the test may lock out
        admin = h.admin_role()
    secret_id, user = h.managed(adminUser=admin[0], adminPass=admin[1])
    machine = h.machine("agent", secret_id, agent=True)
    agent = h.agent(machine, secret_id, delay_ms=delay_ms)
    agent.wait_for_line(f"created database user {user} with the live password")
    h.wait_healthy(secret_id)
    return secret_id, user, admin[0], machine, agent


def rejected(h: Harness, agent: AgentProcess, secret_id: str) -> tuple[str, str]:
    """Issue a rotation and wait for the agent to reject it: (rotation id, log line)."""
    mark = agent.mark()
    rotation_id = h.rotate(secret_id)
    line = agent.wait_for_line(f"rotation {rotation_id} rejected", since=mark)
    settled(h, secret_id, rotation_id)
    return rotation_id, line


def settled(h: Harness, secret_id: str, rotation_id: str) -> None:
    """The agent logs a rejection just before it tells the server: wait for the server."""
    wait_until(
        lambda: h.status(secret_id)["pendingRotationId"] != rotation_id,
        f"the server to record the rejection of {rotation_id}",
        timeout=10,
    )


def confirmed(h: Harness, agent: AgentProcess, secret_id: str, version: int) -> None:
    rotation_id = h.rotate(secret_id)
    agent.wait_for_line(f"rotation {rotation_id} applied, verified, confirmed (v{version})")
    h.wait_version(secret_id, version)


def test_database_unreachable_during_apply_rejects_and_keeps_old(h: Harness) -> None:
    secret_id, user, admin, machine, agent = started(h, own_admin=True)
    live = live_credentials(h.live, machine, secret_id)

    pg_super(h.pg, "ALTER ROLE {} NOLOGIN", admin)  # the agent cannot reach the database
    _rotation_id, line = rejected(h, agent, secret_id)
    assert "apply failed" in line, line
    status = h.status(secret_id)
    assert status["rotation"] == "none" and status["pendingRotationId"] is None, status
    assert status["version"] == 1 and "apply failed" in (status["error"] or ""), status
    assert live_credentials(h.live, machine, secret_id) == live
    assert db_accepts(h.pg, user, live["password"])  # the old password still works
    actions = [e["action"] for e in h.op.audit()]
    assert "rotation_reject" in actions

    pg_super(h.pg, "ALTER ROLE {} LOGIN", admin)
    confirmed(h, agent, secret_id, 2)
    now = live_credentials(h.live, machine, secret_id)
    assert db_accepts(h.pg, user, now["password"])
    assert not db_accepts(h.pg, user, live["password"])


def test_verification_failure_rolls_back_to_the_live_password(h: Harness) -> None:
    # The drill delay leaves time to read the pending value before the agent rejects it.
    secret_id, user, _admin, machine, agent = started(h, delay_ms=1500)
    live = live_credentials(h.live, machine, secret_id)

    # ALTER ROLE still works for the admin, but no fresh login as the role succeeds.
    pg_super(h.pg, "ALTER ROLE {} CONNECTION LIMIT 0", user)
    assert not db_accepts(h.pg, user, live["password"])
    mark = agent.mark()
    rotation_id = h.rotate(secret_id)
    pending = pending_credentials(h.live, machine, secret_id)
    assert pending is not None and pending["password"] != live["password"]
    line = agent.wait_for_line(f"rotation {rotation_id} rejected", since=mark)
    assert "verification failed" in line and "old password was restored" in line, line
    settled(h, secret_id, rotation_id)

    status = h.status(secret_id)
    assert status["rotation"] == "none" and status["version"] == 1, status
    assert "verification failed" in (status["error"] or ""), status
    assert live_credentials(h.live, machine, secret_id) == live
    pg_super(h.pg, "ALTER ROLE {} CONNECTION LIMIT -1", user)
    assert db_accepts(h.pg, user, live["password"])  # rolled back to the live one
    assert not db_accepts(h.pg, user, pending["password"])


def test_repeated_failure_shows_failed_until_retry(h: Harness) -> None:
    secret_id, user, admin, machine, agent = started(h, own_admin=True)
    live = live_credentials(h.live, machine, secret_id)

    pg_super(h.pg, "ALTER ROLE {} NOLOGIN", admin)
    for attempt in range(3):
        _rotation_id, line = rejected(h, agent, secret_id)
        assert "apply failed" in line, (attempt, line)
        assert live_credentials(h.live, machine, secret_id) == live
    status = wait_until(
        lambda: (s := h.status(secret_id))["rotation"] == "failed" and s, "rotation failed"
    )
    assert "apply failed" in (status["error"] or ""), status
    assert status["version"] == 1
    h.op.post(f"/v1/admin/secrets/{secret_id}/rotate", expect=409)  # failed blocks rotation
    assert db_accepts(h.pg, user, live["password"])

    assert h.op.post(f"/v1/admin/secrets/{secret_id}/retry-rotation")["rotation"] == "none"
    pg_super(h.pg, "ALTER ROLE {} LOGIN", admin)
    confirmed(h, agent, secret_id, 2)
    now = live_credentials(h.live, machine, secret_id)
    assert db_accepts(h.pg, user, now["password"])
    assert not db_accepts(h.pg, user, live["password"])
    actions = [e["action"] for e in h.op.audit()]
    for action in ("rotation_reject", "rotation_failed", "rotation_retry", "rotation_confirm"):
        assert action in actions, action


def test_deleted_secret_stops_the_agent_cleanly(h: Harness) -> None:
    secret_id, user, _admin, machine, agent = started(h)
    live = live_credentials(h.live, machine, secret_id)
    h.op.delete(secret_id)
    assert agent.wait(10) == 0, agent.text()[-2000:]
    assert "secret deleted or access revoked" in agent.text()
    assert db_accepts(h.pg, user, live["password"])  # nothing half-done on the way out


UNBINDINGS = {
    "revoke-grant": lambda h, m, s: h.op.revoke_grant(m.machine_id, s),
    "unset-agent": lambda h, m, s: h.op.unset_agent(s),
    "remove-from-project": lambda h, m, s: h.op.remove_from_project(m.machine_id, h.project_id),
    "revoke-machine": lambda h, m, s: h.op.revoke(m.machine_id),
}


@pytest.mark.parametrize("how", list(UNBINDINGS))
def test_unbinding_the_agent_stops_it_cleanly(h: Harness, how: str) -> None:
    secret_id, user, _admin, machine, agent = started(h)
    live = live_credentials(h.live, machine, secret_id)
    UNBINDINGS[how](h, machine, secret_id)
    assert agent.wait(10) == 0, agent.text()[-2000:]
    assert "secret deleted or access revoked" in agent.text()
    assert h.status(secret_id)["agentMachineId"] is None  # unbound, not merely refused
    assert "agent_unbind" in [e["action"] for e in h.op.audit()]
    assert db_accepts(h.pg, user, live["password"])


def test_a_granted_machine_that_is_not_the_agent_is_refused(h: Harness) -> None:
    secret_id, user, _admin, machine, agent = started(h)
    other = h.machine("second", secret_id)  # granted read, never named the agent
    intruder = h.agent(other, secret_id)
    assert intruder.wait(30) == 0, intruder.text()[-2000:]
    assert f"is not the agent of {secret_id}" in intruder.text()
    assert h.pg.admin[1] not in intruder.text()

    assert agent.returncode is None
    live = live_credentials(h.live, machine, secret_id)
    confirmed(h, agent, secret_id, 2)
    now = live_credentials(h.live, machine, secret_id)
    assert now["password"] != live["password"]
    assert db_accepts(h.pg, user, now["password"])
    assert not db_accepts(h.pg, user, live["password"])
    assert h.status(secret_id)["agentMachineId"] == machine.machine_id


def test_rebinding_hands_the_secret_to_the_new_agent(h: Harness) -> None:
    secret_id, user, _admin, _first_machine, first = started(h)
    second_machine = h.machine("second", secret_id)
    h.op.set_agent(secret_id, second_machine.machine_id)
    assert first.wait(10) == 0, first.text()[-2000:]
    second = h.agent(second_machine, secret_id)
    h.wait_healthy(secret_id)
    confirmed(h, second, secret_id, 2)
    now = live_credentials(h.live, second_machine, secret_id)
    assert db_accepts(h.pg, user, now["password"])
    assert h.status(secret_id)["agentMachineId"] == second_machine.machine_id


def test_unbound_mid_rotation_puts_the_live_password_back(h: Harness) -> None:
    # The drill delay holds the agent between apply and verify; it is unbound there.
    secret_id, user, _admin, machine, agent = started(h, delay_ms=4000)
    live = live_credentials(h.live, machine, secret_id)
    rotation_id = h.rotate(secret_id)
    agent.wait_for_line(f"rotation {rotation_id} pending for {user}: applying")
    pending = pending_credentials(h.live, machine, secret_id)
    assert pending is not None
    wait_until(lambda: db_accepts(h.pg, user, pending["password"]), "the apply", timeout=3)
    h.op.unset_agent(secret_id)

    assert agent.wait(15) == 0, agent.text()[-2000:]
    assert f"rotation {rotation_id} will not go live; restored the live password" in agent.text()
    status = h.status(secret_id)
    assert status["version"] == 1 and status["pendingRotationId"] != rotation_id, status
    assert live_credentials(h.live, machine, secret_id) == live
    assert db_accepts(h.pg, user, live["password"])  # the live secret still works
    assert not db_accepts(h.pg, user, pending["password"])
    assert "rotation_withdraw" in [e["action"] for e in h.op.audit()]
