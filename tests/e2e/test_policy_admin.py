"""Access policies for the operator: CLI and `/v1/admin` on a live server, both stores.

Strict validation answers 400 `{"error"}` and saves nothing; a secret binds to at most
one policy of its own project (binding replaces); a bound policy cannot be deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Operator, register_machine


@dataclass
class Server:
    live: LiveServer
    op: Operator


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        for attempt in range(3):  # a busy machine can start it slowly
            try:
                live.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        op = Operator(live)
        stack.callback(op.close)
        yield Server(live, op)


def cli_json(server: Server, *args: str) -> Any:
    return json.loads(server.live.ok(*args, "--json").stdout)


def actions(op: Operator, prefix: str) -> list[str]:
    return [e["action"] for e in op.audit(1000) if e["action"].startswith(prefix)]


def test_create_update_bind_and_delete_through_the_cli(server: Server) -> None:
    op, live = server.op, server.live
    project = op.project("office")
    secret = op.secret(project, "db-password", "pw-office-1")
    cosigner = register_machine(live, op, "office-cosigner", project_id=project)
    created = cli_json(
        server, "policy", "create", "--project", project, "--name", "office-hours",
        "--time-window", "08:00-18:00", "--tz", "Europe/Oslo", "--days", "mon,tue,wed,thu,fri",
        "--ip", "10.0.0.0/8", "--ip", "2001:db8::/32",
        "--max-reads-per-minute", "60", "--max-reads-per-day", "5000",
        "--cosign", cosigner.machine_id, "--cosign-window", "60",
        "--ttl-expires-at", "2099-01-01T00:00Z", "--ttl-max-reads", "1000",
        "--rotate-after-reads", "500",
    )  # fmt: skip
    policy = created["id"]
    assert policy.startswith("pol_") and created["projectId"] == project
    assert created["enabledAxes"] == [
        "time_window", "ip_allowlist", "rate_cap", "co_sign", "ttl", "rotate_after_reads",
    ]  # fmt: skip
    assert created["timeWindowDays"] == ["mon", "tue", "wed", "thu", "fri"]
    assert created["ttlExpiresAt"] == 4070908800000
    assert created["ipAllowlistCidrs"] == ["10.0.0.0/8", "2001:db8::/32"]

    updated = cli_json(
        server, "policy", "update", policy, "--no-time-window", "--max-reads-per-minute", "120"
    )
    assert updated["timeWindowEnabled"] is False and updated["timeWindowStart"] == "08:00"
    assert updated["maxReadsPerMinute"] == 120 and "time_window" not in updated["enabledAxes"]

    live.ok("policy", "bind", secret, policy)
    assert op.get(f"/v1/admin/secrets/{secret}/binding")["policyId"] == policy
    shown = cli_json(server, "policy", "show", policy)
    assert shown["boundSecrets"] == [secret]
    refused = live.cli("policy", "delete", policy)
    assert refused.code != 0 and "bound" in refused.stderr

    second = cli_json(server, "policy", "create", "--project", project, "--name", "night")
    live.ok("policy", "bind", secret, second["id"])  # replaces
    assert cli_json(server, "policy", "show", policy)["boundSecrets"] == []
    assert cli_json(server, "policy", "show", second["id"])["boundSecrets"] == [secret]
    listed = cli_json(server, "policy", "list", "--project", project)
    assert [p["name"] for p in listed] == ["night", "office-hours"]
    live.ok("policy", "delete", policy)
    live.ok("policy", "unbind", secret)
    live.ok("policy", "delete", second["id"])
    assert cli_json(server, "policy", "list", "--project", project) == []
    done = actions(op, "policy_")
    for action in ("policy_create", "policy_update", "policy_bind", "policy_unbind"):
        assert action in done
    assert done.count("policy_delete") == 2


BAD: list[tuple[dict[str, Any], str]] = [
    ({"timeWindowEnabled": True, "timeWindowStart": "08:00", "timeWindowEnd": "18:00",
      "timeWindowTimezone": "Europe/Atlantis", "timeWindowDays": ["mon"]}, "time zone"),
    ({"timeWindowEnabled": True, "timeWindowStart": "25:00", "timeWindowEnd": "18:00",
      "timeWindowTimezone": "UTC", "timeWindowDays": ["mon"]}, "HH:MM"),
    ({"timeWindowEnabled": True, "timeWindowStart": "08:00", "timeWindowEnd": "18:00",
      "timeWindowTimezone": "UTC", "timeWindowDays": []}, "day"),
    ({"ipAllowlistEnabled": True, "ipAllowlistCidrs": ["10.0.0.0/40"]}, "CIDR"),
    ({"rateCapEnabled": True, "maxReadsPerMinute": 0}, "above 0"),
    ({"rateCapEnabled": True}, "maxReadsPer"),
    ({"coSignEnabled": True, "coSignMachineId": "not-in-project",
      "coSignWindowSeconds": 60}, "machine in this policy's project"),
    ({"ttlEnabled": True, "ttlExpiresAt": 1000}, "future"),
    ({"rotateAfterReadsEnabled": True, "rotateAfterReads": -5}, "above 0"),
    ({"maxReadsPerMinute": "many"}, "whole number"),
    ({"surprise": True}, "Unknown policy field"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "says"), BAD)
def test_bad_input_is_a_400_and_nothing_is_saved(
    server: Server, body: dict[str, Any], says: str
) -> None:
    op = server.op
    project = op.project(f"strict-{len(op.audit(1000))}")
    before = actions(op, "policy_")
    reply = op.post(f"/v1/admin/projects/{project}/policies", {"name": "p", **body}, expect=400)
    assert set(reply) == {"error"} and says in reply["error"], reply
    assert op.get(f"/v1/admin/projects/{project}/policies")["policies"] == []
    assert actions(op, "policy_") == before


def test_binding_across_projects_and_unknown_ids(server: Server) -> None:
    op = server.op
    a, b = op.project("left"), op.project("right")
    secret = op.secret(a, "left-secret", "v")
    policy = op.post(f"/v1/admin/projects/{b}/policies", {"name": "p"}, expect=201)["id"]
    reply = op.post(f"/v1/admin/secrets/{secret}/binding", {"policyId": policy}, expect=400)
    assert "project" in reply["error"]
    op.post(f"/v1/admin/secrets/{secret}/binding", {"policyId": "pol_0000000000"}, expect=404)
    op.post(f"/v1/admin/secrets/{secret}/binding/delete", expect=409)  # nothing bound
    op.post("/v1/admin/policies/pol_0000000000/delete", expect=404)
    op.post(f"/v1/admin/projects/{a}/policies", {"name": "dup"}, expect=201)
    op.post(f"/v1/admin/projects/{a}/policies", {"name": "dup"}, expect=409)
