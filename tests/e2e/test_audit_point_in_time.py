"""Point-in-time audit against a live server on both stores: a scripted history of
grants, revokes, disables, removals, allowlist changes and a seal, with the server's
clock read between steps, then as-of, who-could-read and who-read at those instants
(HTTP, and the CLI in-process with the operator's saved session).

One server per store, shared by the module; the history is written once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from interfaces.cli import client, main
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import OWNER, PASSWORD, Machine, Operator, register_machine, signed

VALUE = "sk_live_point_in_time_7c1e"


def mark() -> int:
    """A server-clock instant strictly between the step before and the step after."""
    time.sleep(0.015)
    now = int(time.time() * 1000)
    time.sleep(0.015)
    return now


class HttpOperator(Operator):
    """`Operator` without its two CLI process starts (seconds each on a busy machine):
    init and login over HTTP, the session saved where the in-process CLI looks."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        code = (live.settings.data_dir / "setup-code").read_text().strip()
        login = {"email": OWNER, "password": PASSWORD}
        httpx.post(
            f"{live.url}/v1/admin/init", json={"setupCode": code, **login}
        ).raise_for_status()
        session = httpx.post(f"{live.url}/v1/admin/login", json=login).json()
        live.home.mkdir(parents=True, exist_ok=True)
        record = {**session, "server": client.server_origin(live.url)}
        (live.home / "session.json").write_text(json.dumps(record))
        token = {"Authorization": f"Bearer {session['token']}"}
        self.http = httpx.Client(base_url=live.url, headers=token, timeout=30)


@dataclass
class History:
    live: LiveServer
    op: Operator
    project: str
    secret: str
    a: Machine
    b: Machine
    c: Machine
    at: dict[str, int] = field(default_factory=dict)

    def read(self, machine: Machine, expect: int = 200) -> None:
        response = signed(self.live, machine, "GET", f"/v1/secret/{self.secret}").send()
        assert response.status_code == expect, response.text

    def api(self, path: str, expect: int = 200, **params: Any) -> Any:
        response = self.op.http.get(path, params=params)
        assert response.status_code == expect, (path, response.status_code, response.text)
        return response.json()

    def could(self, at: str) -> dict[str, str | None]:
        answer = self.api("/v1/admin/audit/who-could-read", secret=self.secret, at=self.at[at])
        return {m["name"]: m["failedCondition"] for m in answer["machines"]}

    def cli(self, *args: str) -> Any:
        env = {"KEYLEDGER_HOME": str(self.live.home), "KEYLEDGER_SERVER": self.live.url}
        return CliRunner().invoke(main.app, list(args), env=env)


def script(live: LiveServer) -> History:
    before = mark()
    op = HttpOperator(live)
    project = op.project("payments")
    secret = op.secret(project, "stripe-key", VALUE)
    a = register_machine(live, op, "web-a", project_id=project, grants=(secret,))
    b = register_machine(live, op, "web-b", project_id=project)
    c = register_machine(live, op, "web-c", approve=False)
    h = History(live, op, project, secret, a, b, c, {"before": before})
    h.at["setup"] = mark()
    for _ in range(3):
        h.read(a)
    h.read(b, 403)  # refused: not counted as a read
    h.at["reads1"] = mark()
    op.replace(secret, "second value")
    op.disable(a.machine_id)
    h.at["disabled"] = mark()
    op.enable(a.machine_id)
    op.remove_from_project(a.machine_id, project)
    h.at["removed"] = mark()
    op.add_to_project(a.machine_id, project)
    op.grant(a.machine_id, secret)  # the removal took the grant with it
    op.allowlist(True)
    h.at["allowlist_empty"] = mark()
    op.allow("127.0.0.0/8", "loopback")
    h.at["allowlist_loopback"] = mark()
    h.read(a)
    h.read(a)
    h.at["reads2"] = mark()
    op.revoke_grant(a.machine_id, secret)
    h.at["grant_revoked"] = mark()
    op.grant(a.machine_id, secret)
    op.delete(secret)
    h.at["trashed"] = mark()
    op.post(f"/v1/admin/secrets/{secret}/restore")
    op.seal()
    h.at["sealed"] = mark()
    op.unseal()
    op.revoke(b.machine_id)
    h.at["end"] = mark()
    return h


@pytest.fixture(scope="module", params=STORES)
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[History]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        h = script(live)
        stack.callback(h.op.close)
        yield h


def test_as_of_before_the_vault_is_empty(history: History) -> None:
    state = history.api("/v1/admin/audit/as-of", at=history.at["before"])
    assert state["vaultExists"] is False and state["events"] == 0
    assert state["projects"] == state["secrets"] == state["machines"] == []
    assert state["memberships"] == state["grants"] == state["frozenProjects"] == []


def test_as_of_follows_the_history(history: History) -> None:
    h = history
    a, b, c = h.a.machine_id, h.b.machine_id, h.c.machine_id
    setup = h.api("/v1/admin/audit/as-of", at=h.at["setup"])
    assert [(s["id"], s["version"], s["state"]) for s in setup["secrets"]] == [
        (h.secret, 1, "live")
    ]
    assert {m["id"]: m["status"] for m in setup["machines"]} == {
        a: "approved",
        b: "approved",
        c: "pending",
    }
    assert sorted(m["machineId"] for m in setup["memberships"]) == sorted([a, b])
    assert setup["grants"] == [{"machineId": a, "secretId": h.secret}]
    assert setup["ipAllowlist"] == {"enabled": False, "entries": []}
    assert VALUE not in json.dumps(setup)
    disabled = h.api("/v1/admin/audit/as-of", at=h.at["disabled"])
    assert disabled["secrets"][0]["version"] == 2
    assert {m["id"]: m["status"] for m in disabled["machines"]}[a] == "disabled"
    removed = h.api("/v1/admin/audit/as-of", at=h.at["removed"])
    assert [m["machineId"] for m in removed["memberships"]] == [b]
    assert removed["grants"] == []
    loopback = h.api("/v1/admin/audit/as-of", at=h.at["allowlist_loopback"])
    assert loopback["ipAllowlist"]["enabled"] is True
    assert [e["cidr"] for e in loopback["ipAllowlist"]["entries"]] == ["127.0.0.0/8"]
    assert h.api("/v1/admin/audit/as-of", at=h.at["grant_revoked"])["grants"] == []
    trashed = h.api("/v1/admin/audit/as-of", at=h.at["trashed"])
    assert trashed["secrets"][0]["state"] == "trash"
    assert h.api("/v1/admin/audit/as-of", at=h.at["sealed"])["sealed"] is True
    end = h.api("/v1/admin/audit/as-of", at=h.at["end"])
    assert end["sealed"] is False and end["secrets"][0]["state"] == "live"
    assert {m["id"]: m["status"] for m in end["machines"]}[b] == "revoked"
    assert end["frozenProjects"] == []


def test_who_could_read_fails_each_condition_in_turn(history: History) -> None:
    h = history
    assert h.could("before") == {}
    pending = "machine is pending"
    assert h.could("setup") == {"web-a": None, "web-b": "no grant", "web-c": pending}
    assert h.could("disabled")["web-a"] == "machine is disabled"
    assert h.could("removed")["web-a"] == "machine not in project"
    empty = "IP allowlist enabled with no entries"
    assert h.could("allowlist_empty") == {"web-a": empty, "web-b": empty, "web-c": empty}
    loopback = h.api(
        "/v1/admin/audit/who-could-read", secret=h.secret, at=h.at["allowlist_loopback"]
    )
    (web_a,) = [m for m in loopback["machines"] if m["name"] == "web-a"]
    assert web_a["couldRead"] is True
    assert web_a["conditions"] == ["source IP on the vault allowlist (127.0.0.0/8)"]
    assert h.could("grant_revoked")["web-a"] == "no grant"
    assert h.could("trashed")["web-a"] == "secret is in the trash"
    assert h.could("sealed")["web-a"] == "server is sealed"
    assert h.could("end") == {"web-a": None, "web-b": "machine is revoked", "web-c": pending}


def test_who_read_counts_reads_in_the_window(history: History) -> None:
    h = history
    a = h.a.machine_id
    first = h.api(
        "/v1/admin/audit/who-read", secret=h.secret, **{"from": h.at["setup"], "to": h.at["reads1"]}
    )
    assert first["reads"] == 3
    (row,) = first["machines"]
    assert row["machineId"] == a and row["reads"] == 3
    assert h.at["setup"] <= row["firstRead"] < row["lastRead"] <= h.at["reads1"]
    everything = h.api("/v1/admin/audit/who-read", secret=h.secret)
    assert [(m["machineId"], m["reads"]) for m in everything["machines"]] == [(a, 5)]
    assert everything["machines"][0]["lastRead"] <= h.at["reads2"]
    window = {"from": h.at["grant_revoked"], "to": h.at["end"]}
    assert h.api("/v1/admin/audit/who-read", secret=h.secret, **window)["machines"] == []


def test_bad_input_and_no_session(history: History) -> None:
    h = history
    for params in ({"at": "yesterday"}, {"at": "2026-13-01T00:00Z"}, {}):
        answer = h.api("/v1/admin/audit/as-of", expect=400, **params)
        assert set(answer) >= {"error"}
    missing = h.api("/v1/admin/audit/who-could-read", 404, secret="sk_nosuchsecr", at=h.at["end"])
    assert "not found" in missing["error"]
    h.api("/v1/admin/audit/who-read", 404, secret="proj_aaaaaaaaaa")
    backwards = {"from": h.at["end"], "to": h.at["setup"]}
    assert "from" in h.api("/v1/admin/audit/who-read", 400, secret=h.secret, **backwards)["error"]
    anonymous = httpx.get(f"{h.live.url}/v1/admin/audit/as-of", params={"at": h.at["end"]})
    assert anonymous.status_code == 401 and "error" in anonymous.json()


def test_cli(history: History) -> None:
    h = history
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(h.at["end"] // 1000)) + ".999+00:00"
    as_of = h.cli("audit", "as-of", iso, "--json")
    assert as_of.exit_code == 0, as_of.output
    assert {m["name"] for m in json.loads(as_of.stdout)["machines"]} == {"web-a", "web-b", "web-c"}
    could = h.cli("audit", "who-could-read", h.secret, "--at", str(h.at["disabled"]), "--json")
    assert could.exit_code == 0, could.output
    verdict = {m["name"]: m["failedCondition"] for m in json.loads(could.stdout)["machines"]}
    assert verdict["web-a"] == "machine is disabled"
    read = h.cli("audit", "who-read", h.secret, "--from", str(h.at["setup"]), "--json")
    assert read.exit_code == 0 and json.loads(read.stdout)["reads"] == 5
    table = h.cli("audit", "who-could-read", h.secret, "--at", str(h.at["setup"]))
    assert table.exit_code == 0 and "no grant" in table.stdout
    bad = h.cli("audit", "as-of", "not-a-time", "--json")
    assert bad.exit_code == 1 and "not-a-time" in bad.stderr and "HTTP 400" in bad.stderr
    unknown = h.cli("audit", "who-read", "sk_nosuchsecr", "--json")
    assert unknown.exit_code == 1 and "HTTP 404" in unknown.stderr
