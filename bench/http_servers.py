"""Which HTTP server carries keyledger fastest: uvicorn (h11), uvicorn (httptools +
uvloop) or granian, each running the same app (`interfaces.http.asgi:app`) with the
same worker count on one embedded (SQLite) data dir.

Two loads per server, wrk `-t2 -c32`: `GET /healthz` (the server's own cost: parsing,
the ASGI hop, writing) and signed secret reads exactly as bench/reads.py sends them
(pre-signed, each with a fresh nonce, every 200 checked for the value and counted
against the audit read model). For each run: requests/s, and the server's CPU time per
request (user + system of its process group, from /proc), which other load on the
machine disturbs less. Runs are interleaved in rounds, each round in a rotated
order, because the machine is shared and drifts; every round gives each pair of servers
a ratio (listed later ÷ listed earlier), and the summary takes medians over rounds.
The figures are for comparing, not for quoting as absolute rates.

Run:  uv run --all-groups python bench/http_servers.py [--duration 5] [--rounds 3]
                                                       [--workers 2] [--servers a,b]
Needs wrk and the packages the servers come from (uvicorn, httptools, uvloop, granian).
The last line is one JSON object: per server, the medians of healthz_rps,
healthz_cpu_us, reads_rps, reads_cpu_us; per pair "b/a", the medians of their ratios.
"""

from __future__ import annotations

import argparse
import itertools
import json
import operator
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from reads_keyledger import Keyledger
from reads_support import WARMUP_SECONDS, WRK_INSTALL, Proc, free_port, say, wait_http

APP = "interfaces.http.asgi:app"


def server_command(name: str, port: int, workers: int) -> list[str]:
    """Each server as keyledger would run it: proxy headers off, no access log."""
    bind = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", APP, *bind]
    uvicorn += ["--no-proxy-headers", "--no-access-log", "--log-level", "warning"]
    if name == "uvicorn-h11":
        return [*uvicorn, "--http", "h11", "--loop", "asyncio"]
    if name == "uvicorn-httptools":
        return [*uvicorn, "--http", "httptools", "--loop", "uvloop"]
    granian = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", APP, *bind]
    granian += ["--no-access-log", "--log-level", "warning", "--no-ws", "--http", "1"]
    if name == "granian":
        return [*granian, "--loop", "uvloop"]
    if name == "granian-st":
        return [*granian, "--loop", "uvloop", "--runtime-mode", "st"]
    if name == "granian-asyncio":
        return [*granian, "--loop", "asyncio"]
    raise SystemExit(f"unknown server {name!r}")


SERVERS = ("uvicorn-h11", "uvicorn-httptools", "granian", "granian-st", "granian-asyncio")
KINDS = ("healthz_rps", "healthz_cpu_us", "reads_rps", "reads_cpu_us")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(group: int) -> float:
    """User + system CPU of every live process in a process group (a server and its
    workers): CPU per request is steadier than requests/s on a shared machine."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def wrk_healthz(url: str, seconds: int, connections: int, threads: int) -> tuple[float, int]:
    """(requests/s, requests) of `GET /healthz`; refuses a run with any error."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url + "/healthz"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"healthz run had errors:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"no rate in wrk's output:\n{out}")
    return float(rate.group(1)), int(count.group(1))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--servers", default="uvicorn-h11,uvicorn-httptools,granian")
    args = parser.parse_args(argv)
    args.servers = args.servers.split(",")
    if len(args.servers) < 2 or len(set(args.servers)) != len(args.servers):
        parser.error("--servers needs two or more different servers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        say(WRK_INSTALL)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    runs: dict[str, dict[str, list[float]]] = {
        name: {kind: [] for kind in KINDS} for name in args.servers
    }
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="kl-bench-http-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=args.workers))
        say(f"setting up one embedded data dir ({args.workers} workers)...")
        target = Keyledger("http", workdir, stack, pool, None, args.workers)
        target.proc.stop()  # set up; every server below serves the same data dir
        urls: dict[str, str] = {}
        groups: dict[str, int] = {}
        for name in args.servers:
            port = free_port()
            log = workdir / f"{name}.log"
            proc = Proc.start(name, server_command(name, port, args.workers), target.env, log)
            stack.callback(proc.stop)
            urls[name], groups[name] = f"http://127.0.0.1:{port}", proc.popen.pid
            wait_http(urls[name] + "/healthz", proc)
        say(f"servers up: {', '.join(args.servers)}; wrk -t{args.threads} -c{args.connections}")
        for name in args.servers:  # first requests pay for imports, pools and caches
            wrk_healthz(urls[name], WARMUP_SECONDS, args.connections, args.threads)
            target.url = urls[name]
            target.run(WARMUP_SECONDS, args, workdir)
        for round_no in range(args.rounds):
            shift = round_no % len(args.servers)
            order = args.servers[shift:] + args.servers[:shift]
            say(f"round {round_no + 1}/{args.rounds}:")
            for name in order:
                run = runs[name]
                cpu = cpu_seconds(groups[name])
                rate, count = wrk_healthz(urls[name], args.duration, args.connections, args.threads)
                run["healthz_rps"].append(rate)
                run["healthz_cpu_us"].append((cpu_seconds(groups[name]) - cpu) / count * 1e6)
                target.url = urls[name]
                cpu = cpu_seconds(groups[name])
                result = target.run(args.duration, args, workdir)
                if result.non_2xx or result.bad_body or not result.audit_match:
                    raise RuntimeError(f"{name}: bad read run {result}")
                run["reads_rps"].append(result.rps)
                run["reads_cpu_us"].append((cpu_seconds(groups[name]) - cpu) / result.ok * 1e6)
                say(
                    f"  {name:18} healthz {rate:8.0f}/s {run['healthz_cpu_us'][-1]:6.0f} µs CPU"
                    f"   signed reads {result.rps:6.0f}/s {run['reads_cpu_us'][-1]:6.0f} µs CPU"
                )
            for a, b in itertools.combinations(args.servers, 2):
                ratios = ", ".join(f"{k} {runs[b][k][-1] / runs[a][k][-1]:.3f}" for k in KINDS)
                say(f"  {b}/{a}: {ratios}")
    summary: dict[str, Any] = {
        name: {kind: round(statistics.median(values), 1) for kind, values in run.items()}
        for name, run in runs.items()
    }
    for a, b in itertools.combinations(args.servers, 2):
        summary[f"{b}/{a}"] = {
            kind: round(statistics.median(map(operator.truediv, runs[b][kind], runs[a][kind])), 3)
            for kind in KINDS
        }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
