"""The server half of the rotation saga over HTTP, with a hand-driven agent.

The agent here is signed requests from a test: these tests pin the wire contract
(sync-config, heartbeat, confirm, reject, wait) and the saga's bookkeeping. The
real agent process against real databases is in test_managed_agent.py.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Machine, Operator, register_machine, send_signed, signed


def managed(op: Operator, project_id: str, name: str = "orders-db") -> dict[str, Any]:
    body = {
        "name": name,
        "provider": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "database": "test",
        "adminUser": "postgres",
        "adminPass": "admin-secret-pw",
        "username": "orders_app",
        "intervalSeconds": 3600,
        "length": 24,
        "charset": "alphanumeric",
    }
    result: dict[str, Any] = op.post(
        f"/v1/admin/projects/{project_id}/managed-secrets", body, expect=201
    )
    return result


def agent_call(live: LiveServer, m: Machine, verb: str, secret_id: str, body: Any = None) -> Any:
    path = f"/v1/secret/{secret_id}/" + verb
    if body is None:
        return send_signed(live, m, "GET", path)
    return send_signed(live, m, "POST", path, body=body)


def live_value(live: LiveServer, m: Machine, secret_id: str) -> dict[str, str]:
    response = send_signed(live, m, "GET", f"/v1/secret/{secret_id}")
    assert response.status_code == 200, response.text
    value: dict[str, str] = json.loads(response.json()["value"])
    return value


@pytest.fixture
def world(live: LiveServer) -> tuple[Operator, str, str, Machine]:
    op = Operator(live)
    project_id = op.project("db")
    secret = managed(op, project_id)
    agent = register_machine(live, op, "agent", project_id=project_id, grants=(secret["id"],))
    op.set_agent(secret["id"], agent.machine_id)
    return op, project_id, secret["id"], agent


def test_promote_reject_fail_and_retry(live: LiveServer, world: Any) -> None:
    op, project_id, secret_id, agent = world
    first = live_value(live, agent, secret_id)
    assert first["username"] == "orders_app" and len(first["password"]) == 24

    config = agent_call(live, agent, "sync-config", secret_id)
    assert config.status_code == 200, config.text
    data = config.json()
    assert data["providerType"] == "postgresql"
    assert data["connection"]["adminPass"] == "admin-secret-pw"
    assert data["managedUsername"] == "orders_app"
    assert data["pendingRotationId"] is None and data["rotationStatus"] == "none"

    # A second granted machine is refused: only the named agent gets the connection.
    other = register_machine(live, op, "other", project_id=project_id, grants=(secret_id,))
    refused = agent_call(live, other, "sync-config", secret_id)
    assert refused.status_code == 403 and "adminPass" not in refused.text

    beat = agent_call(live, agent, "agent/heartbeat", secret_id, {"status": "healthy"})
    assert beat.status_code == 200, beat.text
    assert op.get(f"/v1/admin/secrets/{secret_id}/rotation")["agent"] == "healthy"

    # Manual replace is refused: the schedule owns the value.
    op.post(f"/v1/admin/secrets/{secret_id}/replace", {"fields": {"a": "b"}}, expect=409)

    # Rotate now → pending; the live value does not change until confirmed.
    pending = op.post(f"/v1/admin/secrets/{secret_id}/rotate")
    rotation_id = pending["rotationId"]
    assert pending["rotation"] == "pending"
    data = agent_call(live, agent, "sync-config", secret_id).json()
    assert data["pendingRotationId"] == rotation_id
    new = json.loads(data["pendingValue"])
    assert new["username"] == "orders_app" and new["password"] != first["password"]
    assert live_value(live, agent, secret_id) == first
    op.post(f"/v1/admin/secrets/{secret_id}/rotate", expect=409)  # already pending

    wrong = agent_call(live, agent, "agent/confirm-rotation", secret_id, {"rotationId": "rot_x"})
    assert wrong.status_code == 409
    ok = agent_call(live, agent, "agent/confirm-rotation", secret_id, {"rotationId": rotation_id})
    assert ok.status_code == 200, ok.text
    assert ok.json()["version"] == 2
    assert live_value(live, agent, secret_id) == new

    # Three rejections → failed; the live value never moves; retry resets.
    for attempt in range(3):
        rid = op.post(f"/v1/admin/secrets/{secret_id}/rotate")["rotationId"]
        body = {"rotationId": rid, "error": f"connection refused #{attempt}"}
        assert agent_call(live, agent, "agent/reject-rotation", secret_id, body).status_code == 200
        assert live_value(live, agent, secret_id) == new
    status = op.get(f"/v1/admin/secrets/{secret_id}/rotation")
    assert status["rotation"] == "failed" and "connection refused #2" in status["error"]
    op.post(f"/v1/admin/secrets/{secret_id}/rotate", expect=409)
    assert op.post(f"/v1/admin/secrets/{secret_id}/retry-rotation")["rotation"] == "none"
    assert op.post(f"/v1/admin/secrets/{secret_id}/rotate")["rotation"] == "pending"

    actions = [e["action"] for e in op.audit()]
    for action in (
        "rotation_schedule_create",
        "agent_bind",
        "agent_status_change",
        "rotation_pending",
        "rotation_confirm",
        "secret_rotate",
        "rotation_reject",
        "rotation_failed",
        "rotation_retry",
    ):
        assert action in actions, action
    # The admin password and values never reach the audit log.
    dump = json.dumps(op.audit())
    assert "admin-secret-pw" not in dump and new["password"] not in dump


def test_wait_returns_when_a_rotation_is_issued(live: LiveServer, world: Any) -> None:
    op, _project_id, secret_id, agent = world
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 200
    idle = agent_call(live, agent, "agent/wait", secret_id, {"timeoutSeconds": 1})
    assert idle.status_code == 200 and idle.json() == {"pendingRotationId": None}

    answer: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        response = agent_call(live, agent, "agent/wait", secret_id, {"timeoutSeconds": 20})
        answer.update(response.json(), elapsed=time.monotonic() - started)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    rotation_id = op.post(f"/v1/admin/secrets/{secret_id}/rotate")["rotationId"]
    waiter.join(25)
    assert answer["pendingRotationId"] == rotation_id
    assert answer["elapsed"] < 10  # pushed, not timed out


def test_deleted_is_404_and_revoked_is_403(live: LiveServer, world: Any) -> None:
    op, _project_id, secret_id, agent = world
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 200
    op.revoke_grant(agent.machine_id, secret_id)
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 403
    op.grant(agent.machine_id, secret_id)
    # Revoking the grant unbound it: a new grant alone does not make it the agent again.
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 403
    op.set_agent(secret_id, agent.machine_id)
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 200
    op.delete(secret_id)
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 404
    status = op.get(f"/v1/admin/secrets/{secret_id}/rotation")
    assert status["schedule"] is None  # deleting cancels the schedule
    op.post(f"/v1/admin/secrets/{secret_id}/restore")
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 200
    status = op.get(f"/v1/admin/secrets/{secret_id}/rotation")
    assert status["schedule"]["enabled"] is True  # restoring brings it back
    assert "rotation_schedule_reinstate" in [e["action"] for e in op.audit()]


def test_bad_input_is_refused(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("db")
    base = {
        "name": "x",
        "provider": "postgresql",
        "host": "127.0.0.1",
        "adminUser": "postgres",
        "adminPass": "p",
        "username": "ok_name",
    }
    for change in (
        {"username": 'x"; DROP ROLE postgres; --'},
        {"username": "a" * 64},
        {"username": "1abc"},
        {"provider": "oracle"},
        {"host": "bad host;"},
        {"intervalSeconds": 299},
        {"intervalSeconds": 31 * 86400},
        {"length": 0},
        {"charset": "emoji"},
    ):
        response = op.http.post(
            f"/v1/admin/projects/{project_id}/managed-secrets", json={**base, **change}
        )
        assert response.status_code == 400, (change, response.text)
        assert "error" in response.json()
    assert op.get(f"/v1/admin/projects/{project_id}/secrets")["secrets"] == []


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_dropped_wait_ends_with_its_client(live: LiveServer, world: Any) -> None:
    """A killed agent's long-poll must not run on (it would hold up a graceful stop)."""
    _op, _project_id, secret_id, agent = world
    assert agent_call(live, agent, "sync-config", secret_id).status_code == 200
    request = signed(
        live, agent, "POST", f"/v1/secret/{secret_id}/agent/wait", body={"timeoutSeconds": 30}
    )
    with pytest.raises(httpx.ReadTimeout):
        httpx.request(
            request.method, request.url, headers=request.headers, content=request.body, timeout=1
        )
    started = time.monotonic()
    live.stop()  # SIGTERM: the server answers requests in flight, then exits
    assert time.monotonic() - started < 8
