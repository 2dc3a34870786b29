"""Access policies enforced on every machine read path, live server with two API
processes, both stores, through the official `sikkerkey` SDK.

Each axis is tested on each path (single read, export, export of one project, change
polling) against a control: the same read without the policy succeeds, so a path that
skipped the axis would fail its test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import AccessDeniedError, ApiError, RateLimitedError

from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Machine, Operator, register_machine, signed

VALUE = "pw-policy-guarded-77"
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass
class Server:
    live: LiveServer
    op: Operator


@dataclass
class Guarded:
    project: str
    secret: str
    reader: Machine
    cosigner: Machine


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        for attempt in range(3):  # two API processes start slowly on a busy machine
            try:
                live.start("--workers", "2")  # rate caps must hold across processes
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        op = Operator(live)
        stack.callback(op.close)
        yield Server(live, op)


_count = iter(range(10_000))


def guarded(server: Server) -> Guarded:
    op, live = server.op, server.live
    n = next(_count)
    project = op.project(f"guarded-{n}")
    secret = op.secret(project, f"db-password-{n}", VALUE)
    reader = register_machine(live, op, f"reader-{n}", project_id=project, grants=(secret,))
    cosigner = register_machine(live, op, f"cosigner-{n}", project_id=project, grants=(secret,))
    return Guarded(project, secret, reader, cosigner)


def bind(server: Server, g: Guarded, axes: dict[str, Any]) -> str:
    op = server.op
    name = f"p-{next(_count)}"
    policy = op.post(f"/v1/admin/projects/{g.project}/policies", {"name": name, **axes}, 201)
    op.post(f"/v1/admin/secrets/{g.secret}/binding", {"policyId": policy["id"]})
    return str(policy["id"])


def sdk(machine: Machine) -> SikkerKey:
    return SikkerKey(str(machine.identity_path))


def hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def outside_now() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "timeWindowEnabled": True,
        "timeWindowStart": hhmm(now + timedelta(hours=2)),
        "timeWindowEnd": hhmm(now + timedelta(hours=3)),
        "timeWindowTimezone": "UTC",
        "timeWindowDays": ALL_DAYS,
    }


def denials(op: Operator, secret: str) -> list[str]:
    return [
        e["detail"]
        for e in op.audit(1000)
        if e["action"] == "secret_read_denied" and e.get("secretId") == secret
    ]


def read_value(server: Server, g: Guarded, path: str, machine: Machine | None = None) -> Any:
    """What `path` gives the machine for the secret: its value, None if left out, or
    the error the SDK raised."""
    client = sdk(machine or g.reader)
    try:
        if path == "read":
            return client.get_secret(g.secret)
        if path in ("export", "export_project"):
            exported = client.export(g.project if path == "export_project" else None)
            name = next((k for k in exported if k.startswith("DB_PASSWORD_")), "")
            return exported.get(name)
        if path == "poll":
            reply = signed(
                server.live, machine or g.reader, "POST", "/v1/secrets/poll", {"watch": [g.secret]}
            ).send()
            assert reply.status_code == 200, reply.text
            status = reply.json()["changes"].get(g.secret, {}).get("status")
            return None if status == "access_denied" else VALUE
    except ApiError as refused:
        return refused
    raise AssertionError(path)


PATHS = ("read", "export", "export_project", "poll")


def assert_blocked(server: Server, g: Guarded, path: str, condition: str) -> None:
    got = read_value(server, g, path)
    if path == "read":
        assert isinstance(got, AccessDeniedError), got
        assert got.http_status == 403
    else:
        assert got is None, got
    if path != "poll":  # a poll reads no value: nothing to audit
        assert any(condition in d for d in denials(server.op, g.secret))


STATIC_AXES: dict[str, Callable[[Guarded], dict[str, Any]]] = {
    "time_window": lambda g: outside_now(),
    "ip_allowlist": lambda g: {
        "ipAllowlistEnabled": True,
        "ipAllowlistCidrs": ["10.0.0.0/8", "2001:db8::/32"],
    },
    "co_sign": lambda g: {
        "coSignEnabled": True,
        "coSignMachineId": g.cosigner.machine_id,
        "coSignWindowSeconds": 60,
    },
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("axis", list(STATIC_AXES))
def test_403_axes_block_every_read_path(server: Server, axis: str, path: str) -> None:
    g = guarded(server)
    assert read_value(server, g, path) == VALUE  # control: no policy, it reads
    if path == "poll":
        sdk(g.reader).get_secret(g.secret)  # a fetched baseline, then no change
        assert read_value(server, g, path) == VALUE
    policy = bind(server, g, STATIC_AXES[axis](g))
    assert_blocked(server, g, path, f"policy {policy}: {axis}")


def test_allowed_side_of_each_403_axis(server: Server) -> None:
    g = guarded(server)
    now = datetime.now(UTC)
    policy = bind(
        server,
        g,
        {
            "timeWindowEnabled": True,
            "timeWindowStart": hhmm(now - timedelta(hours=1)),
            "timeWindowEnd": hhmm(now + timedelta(hours=1)),
            "timeWindowTimezone": "UTC",
            "timeWindowDays": ALL_DAYS,
            "ipAllowlistEnabled": True,
            "ipAllowlistCidrs": ["127.0.0.0/8", "::1/128"],
            "coSignEnabled": True,
            "coSignMachineId": g.cosigner.machine_id,
            "coSignWindowSeconds": 60,
        },
    )
    assert sdk(g.cosigner).get_secret(g.secret) == VALUE  # the co-signer itself may read
    with pytest.raises(AccessDeniedError):
        sdk(g.reader).get_secret(g.secret)
    server.op.post(f"/v1/admin/policies/{policy}/update", {"coSignEnabled": False})
    assert sdk(g.reader).get_secret(g.secret) == VALUE  # edits apply on the next read


def wait_for_a_fresh_minute_span(seconds: int = 20) -> None:
    if time.time() % 60 > 60 - seconds:
        time.sleep(60 - time.time() % 60 + 0.5)


@pytest.mark.parametrize("path", ("read", "export", "export_project"))
def test_rate_cap_is_exact_across_processes_and_answers_429(server: Server, path: str) -> None:
    g = guarded(server)
    bind(server, g, {"rateCapEnabled": True, "maxReadsPerMinute": 3})
    wait_for_a_fresh_minute_span()
    for _ in range(3):
        assert read_value(server, g, path) == VALUE
    if path == "read":
        refused = signed(server.live, g.reader, "GET", f"/v1/secret/{g.secret}").send()
        assert refused.status_code == 429, refused.text
        assert set(refused.json()) == {"error"}
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        with pytest.raises(RateLimitedError):  # the SDK retries, then gives up
            sdk(g.reader).get_secret(g.secret)
    else:
        assert read_value(server, g, path) is None
    assert any("rate_cap" in d for d in denials(server.op, g.secret))


@pytest.mark.parametrize("path", ("read", "export", "export_project"))
def test_ttl_read_limit_retires_the_secret_with_410(server: Server, path: str) -> None:
    g = guarded(server)
    bind(server, g, {"ttlEnabled": True, "ttlMaxReads": 2})
    assert read_value(server, g, path) == VALUE
    assert read_value(server, g, path) == VALUE
    gone = read_value(server, g, path)
    if path == "read":
        assert isinstance(gone, ApiError) and gone.http_status == 410, gone
    else:
        assert gone is None
    assert any("ttl" in d for d in denials(server.op, g.secret))


def test_ttl_time_retires_and_daily_cap(server: Server) -> None:
    g = guarded(server)
    soon = int(time.time() * 1000) + 3000
    policy = bind(server, g, {"ttlEnabled": True, "ttlExpiresAt": soon})
    assert sdk(g.reader).get_secret(g.secret) == VALUE
    time.sleep(max(0.0, soon / 1000 - time.time()) + 0.2)
    assert isinstance(read_value(server, g, "read"), ApiError)
    assert read_value(server, g, "poll") is None
    server.op.post(
        f"/v1/admin/policies/{policy}/update",
        {"ttlEnabled": False, "rateCapEnabled": True, "maxReadsPerDay": 1},
    )
    assert sdk(g.reader).get_secret(g.secret) == VALUE
    refused = signed(server.live, g.reader, "GET", f"/v1/secret/{g.secret}").send()
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= 86_400


def test_dry_run_rejudges_recorded_reads(server: Server) -> None:
    g = guarded(server)
    other = guarded(server)  # its reads are not the policy's business
    for _ in range(3):
        assert sdk(g.reader).get_secret(g.secret) == VALUE
    assert sdk(g.cosigner).get_secret(g.secret) == VALUE
    assert sdk(other.reader).get_secret(other.secret) == VALUE
    op, live = server.op, server.live
    policy = op.post(
        f"/v1/admin/projects/{g.project}/policies",
        {"name": "would-block", "coSignEnabled": True, "coSignMachineId": g.cosigner.machine_id,
         "coSignWindowSeconds": 30},
    )["id"]  # fmt: skip
    named = json.loads(
        live.ok("policy", "dry-run", policy, "--secret", g.secret, "--days", "1", "--json").stdout
    )
    assert (named["reads"], named["allowed"], named["blocked"]) == (4, 1, 3)
    assert named["byCondition"] == {"co_sign": 3}
    assert named["byMachine"][g.reader.machine_id]["blocked"] == 3
    assert named["byMachine"][g.cosigner.machine_id]["allowed"] == 1
    assert sum(day["blocked"] for day in named["byDay"].values()) == 3
    assert json.loads(live.ok("policy", "dry-run", policy, "--json").stdout)["reads"] == 0
    op.post(f"/v1/admin/secrets/{g.secret}/binding", {"policyId": policy})
    bound = json.loads(live.ok("policy", "dry-run", policy, "--json").stdout)
    assert bound["secrets"] == [g.secret] and bound["blocked"] == 3
    wrong = op.post(f"/v1/admin/policies/{policy}/dry-run", {"secretId": other.secret}, expect=400)
    assert set(wrong) == {"error"}
    op.post(f"/v1/admin/policies/{policy}/dry-run", {"days": 0}, expect=400)


def test_rotate_after_n_reads_gives_a_new_value(server: Server) -> None:
    g = guarded(server)
    bind(server, g, {"rotateAfterReadsEnabled": True, "rotateAfterReads": 2})
    reader = sdk(g.reader)
    assert reader.get_secret(g.secret) == VALUE
    reader.get_secret(g.secret)  # the 2nd read queues the rotation (it may see either value)
    deadline = time.monotonic() + 20
    while (fresh := reader.get_secret(g.secret)) == VALUE and time.monotonic() < deadline:
        time.sleep(0.3)
    assert fresh != VALUE and len(fresh) >= 16
    rotations = [
        e for e in server.op.audit(1000)
        if e["action"] == "secret_rotate" and e.get("secretId") == g.secret
    ]  # fmt: skip
    assert len(rotations) == 1 and rotations[0]["actorKind"] == "system", rotations
