"""A change made through one API process bites on the very next signed read through another.

Two separate `keyledger server` processes share one PostgreSQL database, as two hosts
behind a load balancer would. The reading server (B) has just served the machine, so
whatever it keeps warm (machine, project, grants) is warm; the operator then revokes,
disables, removes or un-grants through the other server (A), and B's very next read,
sent without any pause, must be refused with the gate's status and already be in the
audit log when the refusal arrives. A new machine per round keeps the rounds apart;
every round uses a loopback source address of its own, so each refusal is the first
failure from its source and is written at once, never folded into a later count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infrastructure.settings import Settings
from tests.conftest import FAST_ARGON2_KIB, fresh_pg_database
from tests.e2e.conftest import LiveServer, prepare
from tests.e2e.machine_helpers import Machine, Operator, Signed, register_machine, signed

pytestmark = pytest.mark.postgres

VALUE = "sk_live_freshness_guard_7a1c"
ROUNDS = 5


@dataclass
class Pair:
    a: LiveServer  # the operator's changes go through here
    b: LiveServer  # the machine reads through here
    op: Operator
    project: str
    secret: str


def _settings(root: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=root / "data", database_url=database_url, argon2_memory_kib=FAST_ARGON2_KIB
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with fresh_pg_database() as url, ExitStack() as stack:
        root_a, root_b = tmp_path_factory.mktemp("server-a"), tmp_path_factory.mktemp("server-b")
        a = prepare(_settings(root_a, url), root_a)
        stack.callback(a.stop)  # before start: a server that never came up is stopped too
        a.start()
        op = Operator(a)
        stack.callback(op.close)
        # Another host: its own data dir, the same database and server key.
        key_file = str(a.settings.data_dir / "server.key")
        b = prepare(_settings(root_b, url), root_b, KEYLEDGER_SERVER_KEY_FILE=key_file)
        stack.callback(b.stop)
        b.start()
        project = op.project("payments")
        secret = op.secret(project, "stripe-key", VALUE)
        yield Pair(a, b, op, project, secret)


def send_from(request: Signed, source: str) -> httpx.Response:
    """Send from the loopback address `source` (the server sees it as the client)."""
    url = request.url.replace("://localhost:", "://127.0.0.1:")
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as client:
        return client.request(request.method, url, headers=request.headers, content=request.body)


@dataclass(frozen=True)
class Change:
    make: Callable[[Pair, Machine], Any]
    status: int
    action: str
    detail: str  # a word the refusal's audit detail contains
    names_secret: bool  # the refusal is about this secret (per-secret check)


CHANGES = {
    "revoke": Change(lambda p, m: p.op.revoke(m.machine_id), 401, "auth_failure", "revoked", False),
    "disable": Change(
        lambda p, m: p.op.disable(m.machine_id), 403, "auth_failure", "disabled", False
    ),
    "remove_from_project": Change(
        lambda p, m: p.op.remove_from_project(m.machine_id, p.project),
        403,
        "secret_read_denied",
        "project",
        True,
    ),
    "revoke_grant": Change(
        lambda p, m: p.op.revoke_grant(m.machine_id, p.secret),
        403,
        "secret_read_denied",
        "grant",
        True,
    ),
}


def records_refusal(entry: dict[str, Any], pair: Pair, change: Change, machine: Machine) -> bool:
    if entry["action"] != change.action or change.detail not in (entry["detail"] or ""):
        return False
    if change.names_secret and entry["secretId"] != pair.secret:
        return False
    # An unknown-or-revoked refusal comes before the machine is proven, so it may name
    # the claimed machine or none; every other refusal names it.
    return bool(
        entry["machineId"] == machine.machine_id
        or (change.status == 401 and entry["machineId"] is None)
    )


@pytest.mark.parametrize("name", list(CHANGES))
def test_change_through_one_server_bites_on_the_next_read_through_another(
    pair: Pair, name: str
) -> None:
    change = CHANGES[name]
    case = list(CHANGES).index(name)
    path = f"/v1/secret/{pair.secret}"
    for round_ in range(ROUNDS):
        source = f"127.0.{case + 1}.{round_ + 10}"
        machine = register_machine(
            pair.a, pair.op, f"{name}-{round_}", project_id=pair.project, grants=(pair.secret,)
        )
        # Positive control: B serves this machine (and has it warm) right before the change.
        answered = send_from(signed(pair.b, machine, "GET", path), source)
        assert answered.status_code == 200, answered.text
        assert answered.json() == {"value": VALUE}

        change.make(pair, machine)  # through A; committed when A answers
        refused = send_from(signed(pair.b, machine, "GET", path), source)  # at once, through B

        assert refused.status_code == change.status, (name, round_, refused.text)
        assert set(refused.json()) == {"error"}
        assert VALUE not in refused.text
        # Audited before answered: the record is there the moment the refusal is.
        from_here = [e for e in pair.op.audit(limit=1000) if e["sourceIp"] == source]
        assert any(records_refusal(e, pair, change, machine) for e in from_here), from_here


def test_a_canary_trip_through_one_server_bites_on_the_next_read_through_another(
    pair: Pair,
) -> None:
    """The freeze a canary read makes on B refuses the next read on A, and a freeze or
    unfreeze by hand through A is seen by B's very next read."""
    for round_ in range(ROUNDS):
        source = f"127.0.9.{round_ + 10}"
        project = pair.op.project(f"canary-{round_}")
        real = pair.op.secret(project, "stripe-key", VALUE)
        body = {"projectId": project, "name": "aws-root-key"}
        canary = pair.op.post("/v1/admin/canaries", body, expect=201)["id"]
        intruder = register_machine(
            pair.a, pair.op, f"intruder-{round_}", project_id=project, grants=(real, canary)
        )
        worker = register_machine(
            pair.a, pair.op, f"worker-{round_}", project_id=project, grants=(real,)
        )
        warm = send_from(signed(pair.a, worker, "GET", f"/v1/secret/{real}"), source)
        assert warm.status_code == 200, warm.text  # A has the project warm, unfrozen

        tripped = send_from(signed(pair.b, intruder, "GET", f"/v1/secret/{canary}"), source)
        assert tripped.status_code == 200 and len(tripped.json()["value"]) == 64
        refused = send_from(signed(pair.a, worker, "GET", f"/v1/secret/{real}"), source)
        assert refused.status_code == 423, (round_, refused.text)
        assert set(refused.json()) == {"error"} and VALUE not in refused.text

        pair.op.post(f"/v1/admin/projects/{project}/unfreeze")  # through A
        again = send_from(signed(pair.b, worker, "GET", f"/v1/secret/{real}"), source)
        assert again.status_code == 200, (round_, again.text)
        pair.op.post(f"/v1/admin/projects/{project}/freeze")  # through A
        frozen = send_from(signed(pair.b, worker, "GET", f"/v1/secret/{real}"), source)
        assert frozen.status_code == 423, (round_, frozen.text)
        freezes = [
            e
            for e in pair.op.audit(limit=1000)
            if e["action"] == "project_freeze" and e["projectId"] == project
        ]
        assert sorted(e["actorKind"] for e in freezes) == ["system", "user"]
