"""OpenBao's PostgreSQL static role for bench/rotation.py: `rotate-role` timings."""

from __future__ import annotations

import os
import secrets
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from reads_support import Proc, free_port, wait_http
from rotation_support import Database

ROLE = "bench_static"


class OpenBaoStatic:
    """`bao server -dev`, the database engine, a connection to the scram cluster as its
    superuser, and a static role (rotation_period 24h) for a PostgreSQL login role."""

    def __init__(self, workdir: Path, stack: ExitStack, bao: Path, pg: Database) -> None:
        self.dir = workdir / "openbao"
        self.dir.mkdir()
        self.pg = pg
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_", "OPENBAO_"))
        }
        env["HOME"] = str(self.dir)
        command = [
            str(bao),
            "server",
            "-dev",
            f"-dev-root-token-id={self.token}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            "-dev-no-store-token",
            "-log-level=warn",
        ]
        self.proc = Proc.start("openbao", command, env, self.dir / "server.log")
        stack.callback(self.proc.stop)
        wait_http(self.url + "/v1/sys/health", self.proc)
        self.http = httpx.Client(
            base_url=self.url, headers={"X-Vault-Token": self.token}, timeout=60
        )
        stack.callback(self.http.close)
        self.username = f"{pg.username}_bao"
        self._setup()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:400]}")
        return response.json() if response.content else None

    def _setup(self) -> None:
        admin_user, admin_pass = self.pg.admin
        with psycopg.connect(
            host="127.0.0.1",
            port=self.pg.port,
            user=admin_user,
            password=admin_pass,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(self.username), sql.Literal("pw-" + secrets.token_urlsafe(16))
                )
            )
        self._call("POST", "/v1/sys/mounts/database", {"type": "database"})
        self._call(
            "POST",
            "/v1/database/config/pg",
            {
                "plugin_name": "postgresql-database-plugin",
                "connection_url": (
                    "postgresql://{{username}}:{{password}}@127.0.0.1:"
                    f"{self.pg.port}/postgres?sslmode=disable"
                ),
                "username": admin_user,
                "password": admin_pass,
                "password_authentication": "scram-sha-256",
                "allowed_roles": "*",
                "verify_connection": True,
            },
        )
        self._call(
            "POST",
            f"/v1/database/static-roles/{ROLE}",
            {"db_name": "pg", "username": self.username, "rotation_period": "24h"},
        )

    def rotate(self) -> float:
        """One synchronous `rotate-role`, in milliseconds (client wall time)."""
        started = time.perf_counter()
        self._call("POST", f"/v1/database/rotate-role/{ROLE}")
        return (time.perf_counter() - started) * 1000

    def live_password_works(self) -> bool:
        creds = self._call("GET", f"/v1/database/static-creds/{ROLE}")["data"]
        try:
            self.pg.login(str(creds["username"]), str(creds["password"]))
        except Exception:
            return False
        return True
