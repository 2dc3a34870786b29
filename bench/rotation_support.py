"""Pieces of bench/rotation.py: the keyledger server, its machine, agents, databases."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pymongo
import pymysql
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from reads_support import EMAIL, ROOT, Proc, free_port, wait_http

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from interfaces.cli.signing import MachineClient
from tests import databases
from tests.e2e.machine_helpers import raw_public_key, write_identity

PROVIDERS = ("postgresql", "mysql", "redis", "mongodb")


@dataclass
class Database:
    """A throwaway database a managed secret points at, and how to log in to it."""

    provider: str
    port: int
    database: str
    admin: tuple[str, str]
    options: dict[str, str]
    username: str
    login: Callable[[str, str], None]  # raises when the password is refused


def _pg_login(port: int) -> Callable[[str, str], None]:
    def login(user: str, password: str) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=user, password=password, dbname="postgres"
        ) as conn:
            conn.execute("SELECT 1")

    return login


def _mysql_login(user: str, password: str) -> None:
    pymysql.connect(host="127.0.0.1", port=3306, user=user, password=password).close()


def _redis_login(port: int) -> Callable[[str, str], None]:
    def login(user: str, password: str) -> None:
        client = redis.Redis(port=port, username=user, password=password)
        try:
            client.ping()
        finally:
            client.close()

    return login


def _mongo_login(port: int) -> Callable[[str, str], None]:
    def login(user: str, password: str) -> None:
        client: Any = pymongo.MongoClient(
            host="127.0.0.1",
            port=port,
            username=user,
            password=password,
            authSource="admin",
            serverSelectionTimeoutMS=5000,
        )
        try:
            client.admin.command("ping")
        finally:
            client.close()

    return login


def open_database(provider: str, stack: ExitStack) -> Database:
    """Start (or borrow accounts on) the throwaway database for one provider."""
    name = f"{databases.PREFIX}_bench_{provider[:5]}"  # MariaDB cleanup drops PREFIX%
    if provider == "postgresql":
        pg = stack.enter_context(databases.scram_postgres())
        return Database(provider, pg.port, "postgres", pg.admin, {}, name, _pg_login(pg.port))
    if provider == "mysql":
        my = stack.enter_context(databases.mariadb_accounts())
        return Database(provider, 3306, "", my.admin, {"userHost": "%"}, name, _mysql_login)
    if provider == "redis":
        rs = databases.redis_acl(stack.enter_context(databases.redis_servers()))
        options = {"mode": "acl"}
        return Database(provider, rs.port, "", rs.admin, options, name, _redis_login(rs.port))
    if provider == "mongodb":
        mg = stack.enter_context(databases.secantus())
        options = {"authDatabase": "admin"}
        return Database(provider, mg.port, "", mg.admin, options, name, _mongo_login(mg.port))
    raise ValueError(f"unknown provider {provider}")


@dataclass
class Agent:
    """`keyledger agent start` for one secret; stderr lines stamped on arrival."""

    secret_id: str
    popen: subprocess.Popen[str]
    log_path: Path
    lines: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), line)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def _pump(self) -> None:
        assert self.popen.stderr is not None
        with self.log_path.open("a") as log:
            for line in self.popen.stderr:
                with self.changed:
                    self.lines.append((time.time(), line.rstrip("\n")))
                    self.changed.notify_all()
                log.write(line)
                log.flush()
        with self.changed:
            self.changed.notify_all()

    def wait_done(self, rotation_id: str, timeout: float) -> bool:
        """Until the agent logs that it confirmed or rejected `rotation_id` (or exits)."""

        def done() -> bool:
            if self.popen.poll() is not None:
                return True
            return any(
                rotation_id in line and ("confirmed" in line or "rejected" in line)
                for _, line in self.lines[-5:]
            )

        with self.changed:
            return self.changed.wait_for(done, timeout)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def tail(self, count: int = 15) -> str:
        return "\n".join(line for _, line in self.lines[-count:])


class Keyledger:
    """One server (embedded SQLite, or PostgreSQL with `database_url`), an operator
    session, a project and one approved machine that runs every agent."""

    def __init__(self, workdir: Path, stack: ExitStack, database_url: str | None) -> None:
        self.dir = workdir / "keyledger"
        self.home = self.dir / "home"
        self.stack = stack
        (self.dir / "data").mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLEDGER_")}
        self.env.update(
            KEYLEDGER_DATA_DIR=str(self.dir / "data"),
            KEYLEDGER_HOME=str(self.home),
            KEYLEDGER_SERVER=self.url,
            COLUMNS="200",
        )
        if database_url:
            self.env["KEYLEDGER_DATABASE_URL"] = database_url
        command = [sys.executable, "-m", "interfaces.cli.main", "server", "--port", str(self.port)]
        command += ["--log-level", "warning"]
        self.proc = Proc.start("keyledger", command, self.env, self.dir / "server.log")
        stack.callback(self.proc.stop)
        wait_http(self.url + "/healthz", self.proc)
        self._setup()

    def _cli(self, *args: str, stdin: str = "") -> None:
        done = subprocess.run(
            [sys.executable, "-m", "interfaces.cli.main", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"keyledger {args[0]} failed: {done.stderr.strip()}")

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(path, json=body or {})
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def _setup(self) -> None:
        password = "Bench-" + secrets.token_urlsafe(18) + "!1"
        self._cli("init", "--email", EMAIL, "--password-stdin", stdin=password + "\n")
        self._cli("login", "--email", EMAIL, "--password-stdin", stdin=password + "\n")
        token = json.loads((self.home / "session.json").read_text())["token"]
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.stack.callback(self.http.close)
        self.project_id = self.post("/v1/admin/projects", {"name": "rotation-bench"})["id"]
        key = Ed25519PrivateKey.generate()
        bootstrap = self.post("/v1/admin/machines/token")["token"]
        body = {
            "token": bootstrap,
            "publicKey": raw_public_key(key),
            "hostname": "bench-db-host",
            "name": "bench-agent",
        }
        response = httpx.post(self.url + "/v1/bootstrap/register", json=body, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"register -> {response.status_code}: {response.text[:300]}")
        data = response.json()
        self.machine_id = str(data["machineId"])
        self.identity = write_identity(
            self.dir / "machine", self.machine_id, key, data["vaultId"], self.url, "bench-agent"
        )
        self.post(f"/v1/admin/machines/{self.machine_id}/approve")
        self.post(f"/v1/admin/machines/{self.machine_id}/projects", {"projectId": self.project_id})
        self.machine = MachineClient(self.url, self.machine_id, key)

    def managed(self, db: Database) -> str:
        """A managed secret for `db`, granted to the machine and naming it the agent."""
        body = {
            "name": f"bench-{db.provider}",
            "provider": db.provider,
            "host": "127.0.0.1",
            "port": db.port,
            "database": db.database,
            "adminUser": db.admin[0],
            "adminPass": db.admin[1],
            "username": db.username,
            "intervalSeconds": 3600,
            "length": 32,
            "charset": "alphanumeric",
            "options": db.options,
        }
        secret_id = str(
            self.post(f"/v1/admin/projects/{self.project_id}/managed-secrets", body)["id"]
        )
        self.post(f"/v1/admin/machines/{self.machine_id}/grants", {"secretId": secret_id})
        self.post(f"/v1/admin/secrets/{secret_id}/set-agent", {"machineId": self.machine_id})
        return secret_id

    def start_agent(self, secret_id: str) -> Agent:
        env = {**self.env, "KEYLEDGER_IDENTITY": str(self.identity)}
        popen = subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", "agent", "start", "--secret", secret_id],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        agent = Agent(secret_id, popen, self.dir / f"agent-{secret_id}.log")
        self.stack.callback(agent.stop)
        threading.Thread(target=agent._pump, daemon=True).start()
        return agent

    def wait_healthy(self, agent: Agent, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if agent.popen.poll() is not None:
                raise RuntimeError(f"agent for {agent.secret_id} exited:\n{agent.tail()}")
            status: dict[str, Any] = self.get(f"/v1/admin/secrets/{agent.secret_id}/rotation")
            if status.get("agent") == "healthy":
                return status
            time.sleep(0.1)
        raise RuntimeError(f"agent for {agent.secret_id} not healthy:\n{agent.tail()}")

    def live_password(self, secret_id: str) -> tuple[str, str]:
        value = json.loads(self.machine.call("GET", f"/v1/secret/{secret_id}")["value"])
        return str(value["username"]), str(value["password"])
