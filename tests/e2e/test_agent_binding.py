"""Only the machine the operator names is a managed secret's agent (issue 8, finding 2).

A read grant lets a machine read the live value and nothing more: the admin
connection, the pending value, confirm and reject belong to the agent named with
`keyledger secret set-agent`. Binding, unbinding and re-binding are audited, and
revoking the agent machine, its grant or its project membership unbinds it.
Hand-driven signed requests against a live server, on both stores.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.agent_helpers import wait_until
from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Machine, Operator, register_machine
from tests.e2e.test_rotation_saga import agent_call, live_value, managed

ADMIN_PASS = "admin-secret-pw"  # what `managed` seals as the database admin password
AGENT_CALLS: tuple[tuple[str, Any], ...] = (
    ("sync-config", None),
    ("agent/heartbeat", {"status": "healthy"}),
    ("agent/wait", {"timeoutSeconds": 1}),
)


def rotation(op: Operator, secret_id: str) -> dict[str, Any]:
    status: dict[str, Any] = op.get(f"/v1/admin/secrets/{secret_id}/rotation")
    return status


def assert_refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert "error" in response.json(), response.text
    assert "adminPass" not in response.text and ADMIN_PASS not in response.text
    assert "pendingValue" not in response.text


def audited(op: Operator, action: str, machine_id: str, count: int = 1) -> list[dict[str, Any]]:
    """At least `count` audit entries with this action about this machine."""

    def found() -> list[dict[str, Any]] | None:
        hits = [e for e in op.audit() if e["action"] == action and e["machineId"] == machine_id]
        return hits if len(hits) >= count else None

    return wait_until(found, f"{count} × {action} for {machine_id}", timeout=5)


def test_a_granted_app_machine_cannot_act_as_the_agent(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("db")
    secret_id = managed(op, project_id)["id"]
    app = register_machine(live, op, "app", project_id=project_id, grants=(secret_id,))
    first = live_value(live, app, secret_id)  # the grant reads the live value, as before

    # No agent named yet: asking first does not make the app the agent.
    for verb, body in AGENT_CALLS:
        assert_refused(agent_call(live, app, verb, secret_id, body))
    assert rotation(op, secret_id)["agentMachineId"] is None
    denied = audited(op, "agent_denied", app.machine_id, count=len(AGENT_CALLS))
    assert all(e["secretId"] == secret_id and e["severity"] == "high" for e in denied)

    # With the real agent named and a rotation pending, the app still cannot settle it.
    agent = register_machine(live, op, "agent", project_id=project_id, grants=(secret_id,))
    op.set_agent(secret_id, agent.machine_id)
    rotation_id = op.post(f"/v1/admin/secrets/{secret_id}/rotate")["rotationId"]
    confirm = {"rotationId": rotation_id}
    assert_refused(agent_call(live, app, "agent/confirm-rotation", secret_id, confirm))
    reject = {"rotationId": rotation_id, "error": "nope"}
    assert_refused(agent_call(live, app, "agent/reject-rotation", secret_id, reject))
    assert_refused(agent_call(live, app, "sync-config", secret_id))
    status = rotation(op, secret_id)
    assert status["pendingRotationId"] == rotation_id and status["version"] == 1, status
    assert status["failures"] == 0 and live_value(live, app, secret_id) == first

    config = agent_call(live, agent, "sync-config", secret_id)
    assert config.status_code == 200 and config.json()["connection"]["adminPass"] == ADMIN_PASS
    ok = agent_call(live, agent, "agent/confirm-rotation", secret_id, confirm)
    assert ok.status_code == 200, ok.text
    audited(op, "agent_denied", app.machine_id, count=len(AGENT_CALLS) + 3)


def test_set_unset_and_rebind_are_checked_and_audited(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("db")
    secret_id = managed(op, project_id)["id"]
    a, b = (
        register_machine(live, op, name, project_id=project_id, grants=(secret_id,))
        for name in ("agent-a", "agent-b")
    )
    ungranted = register_machine(live, op, "ungranted", project_id=project_id)
    outsider = register_machine(live, op, "outsider")
    pending = register_machine(live, op, "pending", approve=False)
    plain = op.secret(project_id, "plain", "v")
    op.set_agent(secret_id, ungranted.machine_id, expect=409)
    op.set_agent(secret_id, outsider.machine_id, expect=409)
    op.set_agent(secret_id, pending.machine_id, expect=409)
    op.set_agent(secret_id, "00000000-0000-4000-8000-000000000000", expect=404)
    op.set_agent(secret_id, "not-a-machine", expect=404)
    op.set_agent(plain, a.machine_id, expect=400)  # not a managed secret
    op.unset_agent(secret_id, expect=409)  # nobody to unbind

    assert op.set_agent(secret_id, a.machine_id)["agentMachineId"] == a.machine_id
    op.set_agent(secret_id, a.machine_id, expect=409)  # already
    old = op.post(f"/v1/admin/secrets/{secret_id}/rotate")["rotationId"]
    seen = json.loads(agent_call(live, a, "sync-config", secret_id).json()["pendingValue"])

    # Re-binding withdraws the rotation A has seen: its value must never go live.
    status = op.set_agent(secret_id, b.machine_id)
    assert status["agentMachineId"] == b.machine_id and status["pendingRotationId"] != old
    for verb, body in (*AGENT_CALLS, ("agent/confirm-rotation", {"rotationId": old})):
        assert_refused(agent_call(live, a, verb, secret_id, body))
    gone = agent_call(live, b, "agent/confirm-rotation", secret_id, {"rotationId": old})
    assert gone.status_code == 409, gone.text
    fresh = wait_until(
        lambda: rotation(op, secret_id)["pendingRotationId"], "the rotation issued afresh"
    )
    assert fresh != old
    done = agent_call(live, b, "agent/confirm-rotation", secret_id, {"rotationId": fresh})
    assert done.status_code == 200 and done.json()["version"] == 2, done.text
    assert live_value(live, b, secret_id)["password"] != seen["password"]

    status = op.unset_agent(secret_id)
    assert status["agentMachineId"] is None and status["agent"] == "no agent"
    assert_refused(agent_call(live, b, "sync-config", secret_id))

    entries = op.audit()
    binds = [e for e in entries if e["action"] == "agent_bind"]
    assert [e["machineId"] for e in binds] == [a.machine_id, b.machine_id]
    assert f"was {a.machine_id}" in binds[1]["detail"]
    assert all(e["userId"] and e["severity"] == "high" for e in binds)
    (unbind,) = [e for e in entries if e["action"] == "agent_unbind"]
    assert unbind["machineId"] == b.machine_id and unbind["userId"]
    (withdraw,) = [e for e in entries if e["action"] == "rotation_withdraw"]
    assert old in withdraw["detail"]
    audited(op, "agent_denied", a.machine_id, count=len(AGENT_CALLS) + 1)
    assert ADMIN_PASS not in json.dumps(entries) and seen["password"] not in json.dumps(entries)


def _bound(op: Operator, live: LiveServer, project_id: str, name: str) -> tuple[str, Machine]:
    secret_id = managed(op, project_id, name=f"db-{name}")["id"]
    machine = register_machine(live, op, name, project_id=project_id, grants=(secret_id,))
    op.set_agent(secret_id, machine.machine_id)
    assert agent_call(live, machine, "sync-config", secret_id).status_code == 200
    return secret_id, machine


def test_revoking_the_agent_its_grant_or_membership_unbinds_it(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("db")
    by_grant, g = _bound(op, live, project_id, "by-grant")
    by_project, p = _bound(op, live, project_id, "by-project")
    by_revoke, r = _bound(op, live, project_id, "by-revoke")
    rotation_id = op.post(f"/v1/admin/secrets/{by_revoke}/rotate")["rotationId"]

    op.revoke_grant(g.machine_id, by_grant)
    op.remove_from_project(p.machine_id, project_id)
    op.revoke(r.machine_id)
    for secret_id in (by_grant, by_project, by_revoke):
        assert rotation(op, secret_id)["agentMachineId"] is None, secret_id
    assert rotation(op, by_revoke)["pendingRotationId"] != rotation_id  # withdrawn

    # Access given back is not agency given back: that takes set-agent again.
    op.grant(g.machine_id, by_grant)
    assert_refused(agent_call(live, g, "sync-config", by_grant))
    op.add_to_project(p.machine_id, project_id)
    op.grant(p.machine_id, by_project)
    assert_refused(agent_call(live, p, "sync-config", by_project))
    op.set_agent(by_revoke, r.machine_id, expect=409)  # revoked for good

    details = {e["machineId"]: e["detail"] for e in op.audit() if e["action"] == "agent_unbind"}
    assert "agent unbound" in details[g.machine_id]
    assert "removed from project" in details[p.machine_id]
    assert "machine revoked" in details[r.machine_id]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_set_agent_and_unset_agent_from_the_cli(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("db")
    secret_id = managed(op, project_id)["id"]
    agent = register_machine(live, op, "agent", project_id=project_id, grants=(secret_id,))
    loner = register_machine(live, op, "loner", project_id=project_id)

    done = live.ok("secret", "set-agent", secret_id, agent.machine_id)
    assert f"Machine {agent.machine_id} is now the agent of {secret_id}" in done.stderr
    shown = live.ok("secret", "status", secret_id).stdout
    assert f"machine {agent.machine_id}" in shown
    refused = live.cli("secret", "set-agent", secret_id, loner.machine_id)
    assert refused.code == 1 and "grant" in refused.stderr.lower()
    assert "Traceback" not in refused.stderr

    status = json.loads(live.ok("secret", "unset-agent", secret_id, "--json").stdout)
    assert status["agentMachineId"] is None
    assert "set-agent" in live.ok("secret", "status", secret_id).stdout
    assert live.cli("secret", "unset-agent", secret_id).code == 1
    actions = [e["action"] for e in op.audit()]
    assert actions.count("agent_bind") == 1 and actions.count("agent_unbind") == 1


def test_a_rotation_issued_before_any_agent_waits_for_the_first(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("db")
    secret_id = managed(op, project_id)["id"]
    rotation_id = op.post(f"/v1/admin/secrets/{secret_id}/rotate")["rotationId"]
    agent = register_machine(live, op, "agent", project_id=project_id, grants=(secret_id,))
    status = op.set_agent(secret_id, agent.machine_id)
    assert status["pendingRotationId"] == rotation_id
    config = agent_call(live, agent, "sync-config", secret_id).json()
    assert config["pendingRotationId"] == rotation_id
    ok = agent_call(live, agent, "agent/confirm-rotation", secret_id, {"rotationId": rotation_id})
    assert ok.status_code == 200, ok.text
