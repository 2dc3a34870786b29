"""The issue's walkthrough, per provider, through the real CLI and a real agent process.

operator: `secret create-managed` → `grant` → `secret set-agent` → agent host: `agent test`,
`agent start` → operator: `secret rotate`, `secret status --json` → app: the official SDK's
`get_fields` returns the password the database accepts (and the old one is refused).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from sikkerkey import SikkerKey

from application.ports import ProviderError
from domain.managed import ProviderType
from infrastructure.providers import provider_for
from tests.databases import Server
from tests.e2e.conftest import ROOT, LiveServer
from tests.e2e.machine_helpers import Operator, register_machine

PROVIDERS = {
    "postgresql": ("pg_server", "postgres", {}),
    "mysql": ("mysql_server", "", {}),
    "redis": ("redis_acl_server", "", {"mode": "acl"}),
    "mongodb": ("mongo_server", "appdb", {"authDatabase": "admin"}),
}


def status(live: LiveServer, secret_id: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(live.ok("secret", "status", secret_id, "--json").stdout)
    return result


def wait_for(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def agent_procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_walkthrough(
    provider: str,
    live: LiveServer,
    request: pytest.FixtureRequest,
    agent_procs: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    fixture, database, options = PROVIDERS[provider]
    server: Server = request.getfixturevalue(fixture)
    username = f"kl_walk_{secrets.token_hex(3)}"
    op = Operator(live)
    project_id = op.project("databases")

    args = ["secret", "create-managed", "--project", project_id, "--name", f"{provider}-app"]
    args += ["--provider", provider, "--host", "127.0.0.1", "--port", str(server.port)]
    args += ["--database", database, "--admin-user", server.admin[0], "--admin-pass-stdin"]
    args += ["--username", username, "--interval", "1h", "--length", "32"]
    args += ["--charset", "alphanumeric", "--json"]
    for key, value in options.items():
        args += ["--option", f"{key}={value}"]
    created = json.loads(live.ok(*args, stdin=server.admin[1]).stdout)
    secret_id = created["id"]
    assert created["managed"] is True and created["agent"] == "no agent"
    assert server.admin[1] not in live.ok("audit", "tail", "--json").stdout

    machine = register_machine(live, op, f"agent-{provider}", project_id=project_id)
    live.ok("grant", machine.machine_id, secret_id)
    live.ok("secret", "set-agent", secret_id, machine.machine_id)  # only it gets sync-config
    agent_env = {**live.env, "KEYLEDGER_IDENTITY": str(machine.identity_path)}
    agent_env["KEYLEDGER_HOME"] = str(tmp_path / "agent-home")

    def agent(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "interfaces.cli.main", "agent", *more, "--secret", secret_id],
            cwd=ROOT,
            env=agent_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    tested = agent("test")
    assert tested.returncode == 0, tested.stderr
    log = (tmp_path / "agent.log").open("wb")
    agent_procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", "agent", "start", "--secret", secret_id],
            cwd=ROOT,
            env=agent_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )
    wait_for(lambda: status(live, secret_id)["agent"] == "healthy", "a healthy agent")

    sdk = SikkerKey(str(machine.identity_path))
    first = sdk.get_fields(secret_id)
    assert first["username"] == username
    connection = server.connection(ProviderType(provider), database=database, **options)
    db = provider_for(connection)
    db.verify(username, first["password"])  # the agent created the role with it

    rotated = json.loads(live.ok("secret", "rotate", secret_id, "--json").stdout)
    assert rotated["rotation"] == "pending" and rotated["rotationId"].startswith("rot_")
    done = wait_for(
        lambda: (s := status(live, secret_id))["version"] == 2 and s["rotation"] == "none" and s,
        "the rotation to go live",
    )
    assert done["agent"] == "healthy" and done["error"] is None
    second = sdk.get_fields(secret_id)
    assert second["password"] != first["password"]
    db.verify(username, second["password"])
    with pytest.raises(ProviderError):
        db.verify(username, first["password"])
    assert os.environ.get("KEYLEDGER_SECRET_VALUE") is None
    text = (tmp_path / "agent.log").read_text()
    assert "confirmed" in text
    for value in (first["password"], second["password"], server.admin[1]):
        assert value not in text  # the agent never prints a password

    if provider == "mysql":
        root = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
        with root.cursor() as cur:
            cur.execute("DROP USER IF EXISTS %s@%s", (username, "%"))
        root.close()
