"""Canary secrets and project freeze, through the official `sikkerkey` SDK and a live server.

A granted machine's read of an armed canary freezes the project before the answer is
built: the reader gets 200 and the value, and the very next request by any machine
touching the project gets 423. Each module runs on both stores.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import ApiError

from domain.values import _CHARSETS, Charset
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Machine, Operator, register_machine, signed

REAL = "sk_live_canary_neighbour_51b7"


@dataclass
class Server:
    live: LiveServer
    op: Operator


@dataclass
class Setup:
    project: str
    real: str
    canary: str
    reader: Machine  # granted the canary beside the real secret
    other: Machine  # granted only the real secret


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        yield Server(live, op)


def setup(server: Server, name: str, *extra: str) -> Setup:
    op, live = server.op, server.live
    project = op.project(name)
    real = op.secret(project, "stripe-key", REAL)
    created = json.loads(
        live.ok(
            "canary", "create", "--project", project, "--name", "aws-root-key", *extra, "--json"
        ).stdout
    )
    canary = created["id"]
    reader = register_machine(live, op, f"{name}-reader", project_id=project, grants=(real,))
    op.grant(reader.machine_id, canary)
    other = register_machine(live, op, f"{name}-other", project_id=project, grants=(real,))
    return Setup(project, real, canary, reader, other)


def sdk(machine: Machine) -> SikkerKey:
    return SikkerKey(str(machine.identity_path))


def entries(op: Operator, action: str, **match: Any) -> list[dict[str, Any]]:
    return [
        e
        for e in op.audit(1000)
        if e["action"] == action and all(e.get(k) == v for k, v in match.items())
    ]


def canary_view(server: Server, canary: str) -> dict[str, Any]:
    return dict(json.loads(server.live.ok("canary", "show", canary, "--json").stdout))


def test_a_canary_read_answers_then_freezes_everything(server: Server) -> None:
    s = setup(server, "payments")
    op = server.op
    shown = canary_view(server, s.canary)
    assert shown["type"] == "canary" and shown["enabled"] is True
    assert shown["triggerFreezeProject"] is True and shown["fireCount"] == 0
    assert "value" not in shown

    reader = sdk(s.reader)
    # Machines see a standard secret: the same fields, the same type.
    listed = {x.id: x for x in reader.list_secrets()}
    assert listed[s.canary].field_names == listed[s.real].field_names
    raw = signed(server.live, s.reader, "GET", "/v1/cli/secrets").send().json()["secrets"]
    by_id = {x["id"]: x for x in raw}
    assert by_id[s.canary]["type"] == by_id[s.real]["type"] == "standard"
    assert set(by_id[s.canary]) == set(by_id[s.real])

    # Signed before the trip, sent the instant the canary's 200 is in: must be 423.
    next_by_other = signed(server.live, s.other, "GET", f"/v1/secret/{s.real}")
    value = reader.get_secret(s.canary)
    refused = next_by_other.send()
    assert refused.status_code == 423, refused.text
    assert set(refused.json()) == {"error"}

    assert len(value) == 64 and set(value) <= set(_CHARSETS[Charset.SYMBOLS])
    with pytest.raises(ApiError) as locked:
        reader.get_secret(s.real)
    assert locked.value.http_status == 423
    for touch in (reader.list_secrets, reader.export, sdk(s.other).export):
        with pytest.raises(ApiError) as listing:
            touch()
        assert listing.value.http_status == 423
    with pytest.raises(ApiError) as locked_canary:
        reader.get_secret(s.canary)  # the canary itself is in the frozen project
    assert locked_canary.value.http_status == 423

    freezes = entries(op, "project_freeze", projectId=s.project)
    assert len(freezes) == 1
    assert freezes[0]["machineId"] == s.reader.machine_id and s.canary in freezes[0]["detail"]
    trips = entries(op, "canary_triggered", secretId=s.canary)
    assert len(trips) == 2  # the answered read and the refused one
    assert {t["machineId"] for t in trips} == {s.reader.machine_id}
    assert all(t["sourceIp"] == "127.0.0.1" and t["severity"] == "critical" for t in trips)
    assert all(t["timestamp"] for t in trips)
    shown = canary_view(server, s.canary)
    assert shown["fireCount"] == 2 and shown["lastTriggeredAt"] is not None

    # Unfreezing restores reads and does not disarm.
    server.live.ok("project", "unfreeze", s.project)
    assert sdk(s.other).get_secret(s.real) == REAL
    assert canary_view(server, s.canary)["enabled"] is True
    assert len(entries(op, "project_unfreeze", projectId=s.project)) == 1

    # Disarmed, a canary read is an ordinary read: no freeze, no trip.
    server.live.ok("canary", "disarm", s.canary)
    server.live.ok("canary", "disarm", s.canary)  # idempotent
    assert reader.get_secret(s.canary) == value
    assert reader.get_secret(s.real) == REAL
    assert canary_view(server, s.canary)["fireCount"] == 2
    assert len(entries(op, "canary_disarm", secretId=s.canary)) == 1
    listing = json.loads(server.live.ok("canary", "list", "--json").stdout)
    assert {c["id"]: c["enabled"] for c in listing}[s.canary] is False


def test_export_trips_a_canary_granted_beside_real_secrets(server: Server) -> None:
    s = setup(server, "exports")
    exported = sdk(s.reader).export()
    assert exported["STRIPE_KEY"] == REAL and len(exported["AWS_ROOT_KEY"]) == 64
    with pytest.raises(ApiError) as locked:
        sdk(s.other).get_secret(s.real)
    assert locked.value.http_status == 423
    assert len(entries(server.op, "project_freeze", projectId=s.project)) == 1
    assert len(entries(server.op, "canary_triggered", secretId=s.canary)) == 1


def test_two_machines_at_once_freeze_once_and_trip_twice(server: Server) -> None:
    s = setup(server, "race")
    server.op.grant(s.other.machine_id, s.canary)
    requests = [
        signed(server.live, m, "GET", f"/v1/secret/{s.canary}") for m in (s.reader, s.other)
    ]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def read(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            r = requests[index]
            statuses.append(client.get(r.url, headers=r.headers).status_code)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 423], statuses  # the freeze's winner answered
    assert len(entries(server.op, "project_freeze", projectId=s.project)) == 1
    trips = entries(server.op, "canary_triggered", secretId=s.canary)
    assert {t["machineId"] for t in trips} == {s.reader.machine_id, s.other.machine_id}
    assert len(trips) == 2


def test_freeze_related_freezes_projects_sharing_a_machine(server: Server) -> None:
    s = setup(server, "related", "--freeze-related")
    elsewhere = server.op.project("related-elsewhere")
    neighbour = server.op.secret(elsewhere, "db", "pw")
    server.op.add_to_project(s.other.machine_id, elsewhere)
    server.op.grant(s.other.machine_id, neighbour)
    unrelated = server.op.project("related-unrelated")
    sdk(s.reader).get_secret(s.canary)
    with pytest.raises(ApiError) as locked:
        sdk(s.other).get_secret(neighbour)
    assert locked.value.http_status == 423
    frozen = {e["projectId"] for e in entries(server.op, "project_freeze")}
    assert {s.project, elsewhere} <= frozen and unrelated not in frozen


def test_freeze_by_hand_and_bad_input(server: Server) -> None:
    s = setup(server, "manual", "--no-freeze")
    op = server.op
    before = len(entries(op, "project_freeze"))
    unknown = op.http.post("/v1/admin/projects/proj_0000000000000000000000/freeze", json={})
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}
    cli = server.live.cli("project", "freeze", "proj_0000000000000000000000")
    assert cli.code == 1
    assert len(entries(op, "project_freeze")) == before

    # --no-freeze: the trip is recorded, nothing is frozen.
    assert len(sdk(s.reader).get_secret(s.canary)) == 64
    assert sdk(s.other).get_secret(s.real) == REAL
    assert len(entries(op, "canary_triggered", secretId=s.canary)) == 1

    server.live.ok("project", "freeze", s.project)
    with pytest.raises(ApiError) as locked:
        sdk(s.other).get_secret(s.real)
    assert locked.value.http_status == 423
    again = op.http.post(f"/v1/admin/projects/{s.project}/freeze", json={})
    assert again.status_code == 409 and set(again.json()) == {"error"}
    frozen = entries(op, "project_freeze", projectId=s.project)
    assert len(frozen) == 1 and frozen[0]["actorKind"] == "user"
    op.post(f"/v1/admin/projects/{s.project}/unfreeze")
    assert sdk(s.other).get_secret(s.real) == REAL


def test_a_frozen_project_refuses_its_managed_secret_agent(server: Server) -> None:
    op, live = server.op, server.live
    project = op.project("managed")
    body = {
        "name": "pg-app",
        "provider": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "database": "postgres",
        "adminUser": "postgres",
        "adminPass": "unused-here",
        "username": "app_user_canary",
        "intervalSeconds": 3600,
    }
    managed = op.post(f"/v1/admin/projects/{project}/managed-secrets", body, expect=201)["id"]
    agent = register_machine(live, op, "managed-agent", project_id=project, grants=(managed,))
    op.set_agent(managed, agent.machine_id)
    config = f"/v1/secret/{managed}/sync-config"
    assert signed(live, agent, "GET", config).send().status_code == 200

    live.ok("project", "freeze", project)
    refused = signed(live, agent, "GET", config).send()
    assert refused.status_code == 423 and set(refused.json()) == {"error"}
    beat = signed(
        live, agent, "POST", f"/v1/secret/{managed}/agent/heartbeat", {"status": "healthy"}
    )
    assert beat.send().status_code == 423
    live.ok("project", "unfreeze", project)
    assert signed(live, agent, "GET", config).send().status_code == 200
