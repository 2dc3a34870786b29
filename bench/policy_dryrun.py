"""Policy dry-run over 1,000,000 recorded reads: the issue's goal is ≤ 2 s.

What it measures: `PolicyDryRuns`' two halves as the server runs them, on an embedded
(SQLite) access log holding `--records` `secret_read` rows of two secrets over 7 days
from 50 machines and 200 source addresses: fetching the window's rows (the
(secret_id, time) index) and re-judging every one under a policy with all counted and
uncounted axes on (Oslo office hours, IPv4 + IPv6 CIDRs, per-minute and per-day caps,
co-sign, a TTL read limit). Rows are written straight into `kl_access_records` with
dummy hashes (the dry-run reads no hash). The best of `--runs` is reported.

Run:  uv run python bench/policy_dryrun.py [--records 1000000] [--runs 3]
The last line of output is one JSON object: {"records", "seconds", "fetch_seconds",
"judge_seconds", "blocked", "cpu_seconds", "goal_seconds"}: wall-clock seconds of the best
run and its process CPU time (the fairer figure on a machine shared with other work).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from domain.policydryrun import dry_run
from domain.policyrules import PolicyRules
from infrastructure.accessstore.readhistory import SqlReadHistory
from infrastructure.accessstore.store import SqlAccessStore, sqlite_engine
from infrastructure.accessstore.tables import access_records

DAY_MS = 86_400_000
RULES = PolicyRules(
    time_window_enabled=True,
    time_window_start="08:00",
    time_window_end="18:00",
    time_window_timezone="Europe/Oslo",
    time_window_days=("mon", "tue", "wed", "thu", "fri"),
    ip_allowlist_enabled=True,
    ip_allowlist_cidrs=("10.0.0.0/8", "2001:db8::/32"),
    rate_cap_enabled=True,
    max_reads_per_minute=60,
    max_reads_per_day=50_000,
    co_sign_enabled=True,
    co_sign_machine_id="machine-0",
    co_sign_window_seconds=60,
    ttl_enabled=True,
    ttl_max_reads=400_000,
)


def fill(store: SqlAccessStore, records: int, until_ms: int) -> None:
    rng = random.Random(13)
    addresses = [f"10.0.{i // 250}.{i % 250}" for i in range(150)]
    addresses += [f"2001:db8::{i:x}" for i in range(30)] + [f"192.0.2.{i}" for i in range(20)]
    since = until_ms - 7 * DAY_MS
    times = sorted(rng.randrange(since, until_ms) for _ in range(records))
    batch = []
    with store.engine.begin() as conn:
        for seq, at in enumerate(times):
            batch.append(
                {
                    "lane": "bench", "seq": seq, "timestamp_ms": at, "action": "secret_read",
                    "severity": "info", "actor_kind": "machine",
                    "source_ip": rng.choice(addresses), "detail": "version 1",
                    "machine_id": f"machine-{rng.randrange(50)}",
                    "secret_id": rng.choice(("sk_benchaaaaa", "sk_benchbbbbb")),
                    "prev_hash": b"", "hash": b"",
                }
            )  # fmt: skip
            if len(batch) == 50_000:
                conn.execute(insert(access_records), batch)
                batch = []
        if batch:
            conn.execute(insert(access_records), batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlAccessStore(sqlite_engine(Path(tmp) / "access.sqlite"), None)
        until = int(time.time() * 1000)
        started = time.perf_counter()
        fill(store, args.records, until)
        print(f"wrote {args.records:,} records in {time.perf_counter() - started:.1f} s")
        history = SqlReadHistory(store.engine)
        best: tuple[float, float, float, int, float] | None = None
        for run in range(args.runs):
            c0, t0 = time.process_time(), time.perf_counter()
            rows = list(
                history.reads(["sk_benchaaaaa", "sk_benchbbbbb"], until - 7 * DAY_MS, until + 1)
            )
            t1 = time.perf_counter()
            result = dry_run(RULES, rows)
            t2, cpu = time.perf_counter(), time.process_time() - c0
            assert result.total.allowed + result.total.blocked == args.records
            print(
                f"run {run + 1}: {t2 - t0:.2f} s (fetch {t1 - t0:.2f} s, judge {t2 - t1:.2f} s), "
                f"{result.total.blocked:,} blocked; CPU {cpu:.2f} s"
            )
            if best is None or t2 - t0 < best[0]:
                best = (t2 - t0, t1 - t0, t2 - t1, result.total.blocked, cpu)
        store.close()
    assert best is not None
    print(
        json.dumps(
            {
                "records": args.records,
                "seconds": round(best[0], 3),
                "fetch_seconds": round(best[1], 3),
                "judge_seconds": round(best[2], 3),
                "blocked": best[3],
                "cpu_seconds": round(best[4], 3),
                "goal_seconds": 2.0,
            }
        )
    )


if __name__ == "__main__":
    main()
