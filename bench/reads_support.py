"""Shared pieces of bench/reads.py: processes, signing, wrk runs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import resource
import signal
import socket
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from reads_cpu import CpuSampler

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
    connections: int
    server_cpu_us: float  # the server's process tree, over the read window
    backend_cpu_us: float  # PostgreSQL backends serving the server, same window
    wrk_cpu_s: float  # wrk's own CPU, whole run
    audit_reads: int | None = None
    audit_other: dict[str, int] = field(default_factory=dict)

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))

    @property
    def in_flight(self) -> int:
        return self.issued - self.received

    def per_read_us(self, cpu_us: float) -> float | None:
        return cpu_us / self.ok if self.ok else None

    @property
    def server_cpu_us_per_read(self) -> float | None:
        return self.per_read_us(self.server_cpu_us)

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
    server_pid: int,
    backend_pids: list[int] | None = None,
) -> RunResult:
    """One wrk run; the server's CPU (process tree led by `server_pid`, plus
    `backend_pids`) is taken over the read window, wrk's over its whole run."""
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
    # The bench's only child that ends during a run is wrk (the signing pool lives on).
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with CpuSampler(server_pid, backend_pids or []) as cpu:
        done = subprocess.run(args, capture_output=True, text=True, cwd=workdir, check=False)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    match = re.search(r"^KLBENCH (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(
            f"wrk failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    data = json.loads(match.group(1))
    window = float(data["window_s"]) or float(read_seconds)
    latency = data["latency_us"]
    server_cpu, backend_cpu = cpu.between(data.get("t_first"), data.get("t_last"))
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
        connections=connections,
        server_cpu_us=server_cpu,
        backend_cpu_us=backend_cpu,
        wrk_cpu_s=wrk_cpu,
    )
