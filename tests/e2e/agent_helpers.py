"""Helpers for end-to-end tests of a REAL agent process against a REAL database.

`AgentProcess` runs `keyledger agent start` as its own process (stdout+stderr to a log
file the test waits on). `Harness` is one test's world: a live server, an operator,
a project, the scram-sha-256 PostgreSQL (`pg_server`), and the roles and agent
processes the test made, all cleaned up by `close()` (agents first, then roles).
`db_accepts` logs in as the managed user: the only proof of which password works.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from tests.databases import Server
from tests.e2e.conftest import ROOT, LiveServer
from tests.e2e.machine_helpers import Machine, Operator, register_machine, send_signed

T = TypeVar("T")
AGENT_START = [sys.executable, "-m", "interfaces.cli.main", "agent", "start"]


def wait_until(predicate: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll until `predicate()` is truthy; return its value, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


# -- the database -----------------------------------------------------------------


def db_accepts(pg: Server, username: str, password: str) -> bool:
    """Whether PostgreSQL lets `username` log in with `password` right now."""
    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=pg.port,
            dbname="postgres",
            user=username,
            password=password,
            connect_timeout=3,
        ) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.OperationalError:
        return False
    return True


def pg_super(pg: Server, statement: str, *identifiers: str, password: str | None = None) -> None:
    """Run one statement as the superuser; `{}` placeholders are quoted identifiers."""
    parts: list[sql.Composable] = [sql.Identifier(name) for name in identifiers]
    if password is not None:
        parts.append(sql.Literal(password))
    with psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        dbname="postgres",
        user=pg.admin[0],
        password=pg.admin[1],
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        conn.execute(sql.SQL(statement).format(*parts))


def role_exists(pg: Server, username: str) -> bool:
    with psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        dbname="postgres",
        user=pg.admin[0],
        password=pg.admin[1],
        connect_timeout=5,
    ) as conn:
        row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
    return row is not None


# -- the server --------------------------------------------------------------------


def create_managed(
    op: Operator, project_id: str, pg: Server, username: str, **overrides: Any
) -> str:
    """A managed PostgreSQL secret for `username` on `pg`; returns its id."""
    body: dict[str, Any] = {
        "name": f"pg-{username}",
        "provider": "postgresql",
        "host": "127.0.0.1",
        "port": pg.port,
        "database": "postgres",
        "adminUser": pg.admin[0],
        "adminPass": pg.admin[1],
        "username": username,
        "intervalSeconds": 3600,
        "length": 24,
        "charset": "alphanumeric",
    }
    body.update(overrides)
    created = op.post(f"/v1/admin/projects/{project_id}/managed-secrets", body, expect=201)
    return str(created["id"])


def live_credentials(live: LiveServer, machine: Machine, secret_id: str) -> dict[str, str]:
    """The secret's live value as a machine reads it (signed GET /v1/secret/{id})."""
    response = send_signed(live, machine, "GET", f"/v1/secret/{secret_id}")
    assert response.status_code == 200, response.text
    value: dict[str, str] = json.loads(response.json()["value"])
    return value


def pending_credentials(live: LiveServer, agent: Machine, secret_id: str) -> dict[str, str] | None:
    """The pending value, as the bound agent machine's sync-config shows it (or None)."""
    response = send_signed(live, agent, "GET", f"/v1/secret/{secret_id}/sync-config")
    assert response.status_code == 200, response.text
    pending = response.json().get("pendingValue")
    return None if pending is None else dict(json.loads(pending))


# -- the agent process -------------------------------------------------------------


class AgentProcess:
    """`python -m interfaces.cli.main agent start --secret …` with its log in a file."""

    def __init__(
        self,
        live: LiveServer,
        machine: Machine,
        secret_id: str,
        home: Path,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.env = {
            **live.env,
            "KEYLEDGER_IDENTITY": str(machine.identity_path),
            "KEYLEDGER_HOME": str(home),  # its pid file and journal live here
            **(extra_env or {}),
        }
        self.secret_id = secret_id
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*AGENT_START, "--secret", self.secret_id],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def mark(self) -> int:
        """A position in the log: `wait_for_line(..., since=mark)` looks only after it."""
        return len(self.text())

    def wait_for_line(self, substring: str, timeout: float = 30, since: int = 0) -> str:
        """The first log line after `since` containing `substring`; fails on exit/timeout."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.returncode is not None
            for line in self.text()[since:].splitlines():
                if substring in line:
                    return line
            if exited:
                raise AssertionError(f"agent exited before {substring!r}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {substring!r} within {timeout:g} s:\n{self.text()[-3000:]}"
                )
            time.sleep(0.05)

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait(self, timeout: float = 15) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"agent still running after {timeout:g} s:\n{self.text()[-3000:]}"
            ) from None

    def kill9(self) -> None:
        """SIGKILL, and reap it (an unreaped zombie would still look alive to a new agent)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.wait(15)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# -- one test's world --------------------------------------------------------------


class Harness:
    def __init__(self, live: LiveServer, pg: Server, tmp: Path) -> None:
        self.live = live
        self.pg = pg
        self.tmp = tmp
        self.agents: list[AgentProcess] = []
        self.roles: list[str] = []
        self.op = Operator(live)
        self.project_id = self.op.project("databases")

    def role_name(self, suffix: str = "") -> str:
        """A unique role name, dropped at teardown."""
        name = f"kl_e2e_{secrets.token_hex(3)}{suffix}"
        self.roles.append(name)
        return name

    def admin_role(self) -> tuple[str, str]:
        """A dedicated CREATEROLE admin for one secret (so a test may lock it out)."""
        name, password = self.role_name("_adm"), "adm-" + secrets.token_hex(12)
        pg_super(
            self.pg, "CREATE ROLE {} WITH LOGIN CREATEROLE PASSWORD {}", name, password=password
        )
        return name, password

    def managed(self, username: str | None = None, **overrides: Any) -> tuple[str, str]:
        """(secret id, managed username)."""
        username = username or self.role_name()
        return create_managed(self.op, self.project_id, self.pg, username, **overrides), username

    def machine(self, name: str, secret_id: str, *, agent: bool = False) -> Machine:
        """A machine granted `secret_id`; with `agent`, also named its sync agent."""
        machine = register_machine(
            self.live, self.op, name, project_id=self.project_id, grants=(secret_id,)
        )
        if agent:
            self.op.set_agent(secret_id, machine.machine_id)
        return machine

    def agent(self, machine: Machine, secret_id: str, *, delay_ms: int = 0) -> AgentProcess:
        """Start an agent; restarting one for the same machine reuses its home (journal)."""
        extra = {"KEYLEDGER_AGENT_APPLY_DELAY_MS": str(delay_ms)} if delay_ms else {}
        proc = AgentProcess(
            self.live,
            machine,
            secret_id,
            self.tmp / f"agent-home-{machine.name}",
            self.tmp / f"agent-{machine.name}.log",
            extra,
        )
        self.agents.append(proc)
        return proc.start()

    def status(self, secret_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.op.get(f"/v1/admin/secrets/{secret_id}/rotation")
        return result

    def rotate(self, secret_id: str) -> str:
        pending = self.op.post(f"/v1/admin/secrets/{secret_id}/rotate")
        assert pending["rotation"] == "pending", pending
        return str(pending["rotationId"])

    def wait_healthy(self, secret_id: str, timeout: float = 30) -> None:
        wait_until(lambda: self.status(secret_id)["agent"] == "healthy", "a healthy agent", timeout)

    def wait_version(self, secret_id: str, version: int, timeout: float = 30) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            s = self.status(secret_id)
            return s if s["version"] == version and s["rotation"] == "none" else None

        return wait_until(done, f"version {version} to go live", timeout)

    def close(self) -> None:
        for proc in self.agents:
            proc.close()
        self.op.close()
        # A killed agent's /agent/wait long-poll keeps running server-side until its
        # timeout, and a graceful stop waits for it (~10 s per test): this test's
        # server holds nothing worth a graceful stop, so end it now.
        server = self.live.process
        if server is not None and server.poll() is None:
            server.kill()
            server.wait(10)
        for name in reversed(self.roles):
            try:
                pg_super(self.pg, "DROP ROLE IF EXISTS {}", name)
            except psycopg.Error as exc:  # never mask the test's own outcome
                print(f"could not drop role {name}: {exc}", file=sys.stderr)


def no_secret_in(text: str, *values: str) -> bool:
    return not any(value and value in text for value in values)


__all__ = [
    "AgentProcess",
    "Harness",
    "create_managed",
    "db_accepts",
    "live_credentials",
    "no_secret_in",
    "pending_credentials",
    "pg_super",
    "role_exists",
    "wait_until",
]
