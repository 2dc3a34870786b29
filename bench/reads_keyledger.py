"""keyledger as bench/reads.py measures it: set up like an operator would, read by a
machine with pre-signed requests, and every read's audit record counted."""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from reads_support import (
    EMAIL,
    MAX_LINES,
    MIN_LINES,
    ROOT,
    Proc,
    RunResult,
    _sign_chunk,
    free_port,
    run_wrk,
    say,
    sign_headers,
    wait_http,
)
from reads_targets import Target

Query = Callable[[str, tuple[Any, ...]], list[Any]]


class Keyledger(Target):
    """A keyledger server set up like an operator would: init, login, a project, one
    32-byte secret, and one approved machine granted that secret."""

    def __init__(
        self,
        label: str,
        workdir: Path,
        stack: ExitStack,
        pool: ProcessPoolExecutor,
        database_url: str | None,
        workers: int,
    ) -> None:
        self.label = label
        self.dir = workdir / label
        self.data_dir = self.dir / "data"
        self.home = self.dir / "home"
        self.data_dir.mkdir(parents=True, mode=0o700)  # the server refuses an open one
        self.database_url = database_url
        self.pool = pool
        self.sign_workers = max(1, os.cpu_count() or 1)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.value = secrets.token_hex(16)  # 32 bytes
        self.rates: dict[int, list[float]] = {}  # reads/s by connections
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLEDGER_")}
        self.env.update(
            KEYLEDGER_DATA_DIR=str(self.data_dir),
            KEYLEDGER_HOME=str(self.home),
            KEYLEDGER_SERVER=self.url,
            COLUMNS="200",
        )
        command = [sys.executable, "-m", "interfaces.cli.main", "server", "--port", str(self.port)]
        if database_url:
            self.env["KEYLEDGER_DATABASE_URL"] = database_url
        command += ["--workers", str(workers)]
        command += ["--log-level", "warning"]
        self.proc = Proc.start(label, command, self.env, self.dir / "server.log")
        stack.callback(self.proc.stop)
        wait_http(self.url + "/healthz", self.proc)
        self._setup()

    def _cli(self, *args: str, stdin: str = "") -> str:
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
        return done.stdout

    def _post(self, path: str, body: dict[str, Any], auth: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        response = httpx.post(self.url + path, json=body, headers=headers, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def _setup(self) -> None:
        password = "Bench-" + secrets.token_urlsafe(18) + "!1"
        self._cli("init", "--email", EMAIL, "--password-stdin", stdin=password + "\n")
        self._cli("login", "--email", EMAIL, "--password-stdin", stdin=password + "\n")
        self.token = json.loads((self.home / "session.json").read_text())["token"]
        pid = self._post("/v1/admin/projects", {"name": "bench"})["id"]
        self.secret_id = self._post(
            f"/v1/admin/projects/{pid}/secrets", {"name": "bench-read", "value": self.value}
        )["id"]
        bootstrap = self._post("/v1/admin/machines/token", {})["token"]
        self.key = Ed25519PrivateKey.generate()
        public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.machine_id = self._post(
            "/v1/bootstrap/register",
            {
                "token": bootstrap,
                "publicKey": base64.b64encode(public).decode(),
                "hostname": "bench-host",
                "name": f"bench-{self.label}",
            },
            auth=False,
        )["machineId"]
        self._post(f"/v1/admin/machines/{self.machine_id}/approve", {})
        self._post(f"/v1/admin/machines/{self.machine_id}/projects", {"projectId": pid})
        self._post(f"/v1/admin/machines/{self.machine_id}/grants", {"secretId": self.secret_id})
        # One signed read through httpx proves the signing before wrk is involved.
        response = httpx.get(
            self.url + self.path,
            headers=sign_headers(self.key, self.machine_id, self.path),
            timeout=30,
        )
        if response.status_code != 200 or response.json().get("value") != self.value:
            raise RuntimeError(f"signed read failed: {response.status_code} {response.text}")

    @property
    def path(self) -> str:
        return f"/v1/secret/{self.secret_id}"

    # -- audit counting: where the server records machine reads

    @contextmanager
    def _access_db(self) -> Iterator[Query]:
        """Where the access records live: access.sqlite, or the PostgreSQL database."""
        if self.database_url:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                yield lambda sql, params: conn.execute(sql.replace("?", "%s"), params).fetchall()
        else:
            uri = f"file:{self.data_dir / 'access.sqlite'}?mode=ro"
            lite = sqlite3.connect(uri, uri=True, timeout=30)
            try:
                yield lambda sql, params: lite.execute(sql, params).fetchall()
            finally:
                lite.close()

    def _audit_counts(self, since_ms: int) -> dict[str, int]:
        """Access records stamped at or after `since_ms`, by action (`kl_access_records`,
        the append-only access log each read is committed to before it is answered)."""
        with self._access_db() as query:
            rows = query(
                "SELECT action, count(*) FROM kl_access_records WHERE timestamp_ms >= ?"
                " GROUP BY action",
                (since_ms,),
            )
        return {str(action): int(count) for action, count in rows}

    def audit_since(self, since_ms: int, expected: int) -> tuple[int, dict[str, int]]:
        """(secret_read entries stamped at or after `since_ms`, other actions' counts).

        Each audit call makes the server catch its read models up; poll until the count
        reaches `expected` or stops moving (a short count is then a real shortfall)."""
        counts: dict[str, int] = {}
        previous = -1
        for _ in range(40):
            response = httpx.get(
                self.url + "/v1/admin/audit",
                params={"limit": 1},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=60,
            )
            response.raise_for_status()
            counts = self._audit_counts(since_ms)
            reads = counts.get("secret_read", 0)
            if reads >= expected or reads == previous:
                break
            previous = reads
            time.sleep(0.5)
        reads = counts.pop("secret_read", 0)
        return reads, counts

    # -- a run

    def _backend_pids(self) -> list[int]:
        """PostgreSQL backends connected to this server's database (its pool)."""
        if not self.database_url:
            return []
        with self._access_db() as query:
            rows = query(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                (),
            )
        return [int(pid) for (pid,) in rows if Path(f"/proc/{pid}").exists()]

    def _lines_for(self, seconds: int, connections: int) -> int:
        """Pre-signed lines for a run: the best rate seen at these connections, or, the
        first time, one seen at fewer scaled up by the connection ratio (at a latency
        that does not drop, reads/s grow at most in proportion), × 1.5 headroom."""
        if connections in self.rates:
            rate = max(self.rates[connections])
        elif self.rates:
            seen = max((c for c in self.rates if c <= connections), default=min(self.rates))
            rate = max(self.rates[seen]) * max(1.0, connections / seen)
        else:
            rate = 2000.0
        return min(MAX_LINES, max(MIN_LINES, math.ceil(rate * seconds * 1.5) + 1000))

    def _presign(self, count: int, path: Path) -> float:
        started = time.perf_counter()
        ts = str(int(time.time()))
        raw = self.key.private_bytes_raw()
        chunk = math.ceil(count / self.sign_workers)
        jobs = [
            (raw, self.path, self.machine_id, ts, min(chunk, count - i))
            for i in range(0, count, chunk)
        ]
        with path.open("w") as handle:
            for lines in self.pool.map(_sign_chunk, jobs):
                handle.writelines(lines)
        return time.perf_counter() - started

    def run(
        self, seconds: int, connections: int, args: argparse.Namespace, workdir: Path
    ) -> RunResult:
        count = self._lines_for(seconds, connections)
        lines_path = workdir / f"{self.label}-signed.tsv"
        took = self._presign(count, lines_path)
        say(f"    pre-signed {count} requests in {took:.1f} s")
        backends = self._backend_pids()
        since_ms = int(time.time() * 1000)  # the previous run's reads are all answered
        result = run_wrk(
            self.label,
            self.url + self.path,
            ["signed", str(lines_path), str(args.threads), str(seconds), self.value],
            seconds,
            connections,
            args.threads,
            workdir,
            self.proc.popen.pid,
            backends,
        )
        lines_path.unlink()
        result.audit_reads, result.audit_other = self.audit_since(since_ms, result.ok)
        self.rates.setdefault(connections, []).append(result.rps)
        return result
