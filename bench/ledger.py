"""Throughput benchmark for the keyledger event store, projection and audit chain.

For each backend (SQLite in a temp dir; PostgreSQL on 127.0.0.1:5432 in a fresh,
throw-away database `kl_bench_<hex>`) it measures:

1. append, one event per transaction: `ledger.save(AuditRecord(...))`, each record a
   standalone one-event aggregate, so every save is one transaction (and one chain row);
2. append, batched: `--batch` such records per `ledger.save(*records)` call;
3. read-model rebuild: `projector.rebuild()` over every stored event, against a raw
   scan of the same rows (`recorder.select_notifications(start, 1000)` in a loop) and
   the raw scan plus `mapper.to_domain_event()` for each row ("raw scan + decode");
4. audit verify: `verify_chain(ledger.recorder)` over the whole hash chain.

Before the rebuild a realistic mix is written through the application: one project,
`--secrets` secrets (name claim + secret each) and one replacement per secret. The
append figures use only AuditRecord saves, so 1-per-txn and batched compare like with
like. Rates are events per second (wall clock, `time.perf_counter`); `rebuild_cpu_us` and
`raw_scan_cpu_us` are this process's CPU time per event (`time.process_time`: steadier
than wall time on a shared machine; the database server's CPU is not in them).

Run:  uv run python bench/ledger.py [--events 2000] [--batch 50] [--secrets 200]
                                    [--skip-postgres] [--json]
Human-readable lines go to stdout, followed by one JSON object on the last line;
with `--json` only the JSON object is printed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from application.ledger import Ledger  # noqa: E402
from domain.audit import ActorKind, AuditStamp  # noqa: E402
from domain.records import AuditRecord  # noqa: E402
from infrastructure.crypto.keyring import KeyRing  # noqa: E402
from infrastructure.eventstore.chain import ChainSource, verify_chain  # noqa: E402
from infrastructure.readmodels.projector import SqlProjector  # noqa: E402
from infrastructure.settings import Settings  # noqa: E402
from interfaces.bootstrap import build_store  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SCAN_PAGE = 1000
STAMP = AuditStamp(ActorKind.USER, "127.0.0.1", user_id="usr_bench00000", detail="bench")

Result = dict[str, float | int]
Say = Callable[..., None]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def append_one_per_txn(ledger: Ledger, n: int) -> None:
    for _ in range(n):
        ledger.save(AuditRecord(action="user_login", audit=STAMP))


def append_batched(ledger: Ledger, n: int, batch: int) -> None:
    for offset in range(0, n, batch):
        size = min(batch, n - offset)
        ledger.save(*(AuditRecord(action="user_login", audit=STAMP) for _ in range(size)))


def write_mix(ledger: Ledger, n_secrets: int) -> None:
    """A project, `n_secrets` secrets and one new version each, through the use cases."""
    project = ledger.create_project("bench", "", STAMP)
    ids = [
        ledger.create_secret(project.project_id, f"s{i}", STAMP, value="x" * 32).secret_id
        for i in range(n_secrets)
    ]
    for secret_id in ids:
        ledger.replace_secret(secret_id, STAMP, value="y" * 32)


def raw_scan(ledger: Ledger, decode: bool) -> int:
    count, start = 0, 1
    while True:
        page = ledger.recorder.select_notifications(start, SCAN_PAGE)
        if decode:
            for notification in page:
                ledger.mapper.to_domain_event(notification)
        count += len(page)
        if len(page) < SCAN_PAGE:
            return count
        start = page[-1].id + 1


def run_backend(name: str, settings: Settings, args: argparse.Namespace, out: Result) -> None:
    def say(label: str, value: float, unit: str = "events/s") -> None:
        if not args.json:
            shown = f"{value:>10.4f}" if unit == "x" else f"{value:>10.1f}"
            print(f"{name:<8} {label:<22} {shown} {unit}", flush=True)

    ledger, envelope, projector, _clock = build_store(settings)
    try:
        envelope.establish(KeyRing.generate())
        n = args.events
        seconds = timed(lambda: append_one_per_txn(ledger, n))
        out["append_1_per_txn"] = rate(n, seconds)
        say("append 1/txn", out["append_1_per_txn"])

        seconds = timed(lambda: append_batched(ledger, n, args.batch))
        out["append_batched_50" if args.batch == 50 else f"append_batched_{args.batch}"] = rate(
            n, seconds
        )
        say(f"append batched x{args.batch}", rate(n, seconds))

        mix_before = ledger.recorder.max_notification_id() or 0
        seconds = timed(lambda: write_mix(ledger, args.secrets))
        mix_events = (ledger.recorder.max_notification_id() or 0) - mix_before
        out["mix_events"] = mix_events
        say("app mix (use cases)", rate(mix_events, seconds))
        measure_reads(ledger, projector, out, say)
    finally:
        ledger.close()
        projector.engine.dispose()


def measure_reads(ledger: Ledger, projector: SqlProjector, out: Result, say: Say) -> None:
    counts: dict[str, int] = {}
    cpu: dict[str, float] = {}  # this process's CPU seconds (the database server's not counted)

    def run(key: str, fn: Callable[[], int]) -> float:
        start, cpu_start = time.perf_counter(), time.process_time()
        counts[key] = fn()
        cpu[key] = time.process_time() - cpu_start
        return time.perf_counter() - start

    raw_scan(ledger, decode=False)  # warm caches and pools once, untimed
    rebuild_s = run("rebuild", projector.rebuild)
    raw_s = run("raw", lambda: raw_scan(ledger, decode=False))
    decode_s = run("decode", lambda: raw_scan(ledger, decode=True))
    chain = cast(ChainSource, ledger.recorder)  # the Chained*ApplicationRecorder
    verify_s = run("verify", lambda: verify_chain(chain).checked)
    report = verify_chain(chain)
    total = counts["raw"]
    if not report.ok or {counts["rebuild"], counts["decode"], counts["verify"]} != {total}:
        raise RuntimeError(f"count mismatch {counts} or broken chain {report}")

    out["total_events"] = total
    out["rebuild_eps"] = rate(total, rebuild_s)
    out["raw_scan_eps"] = rate(total, raw_s)
    out["raw_scan_decode_eps"] = rate(total, decode_s)
    out["rebuild_over_raw"] = round(out["rebuild_eps"] / out["raw_scan_eps"], 4)
    out["verify_eps"] = rate(total, verify_s)
    out["rebuild_cpu_us"] = round(cpu["rebuild"] / total * 1e6, 2)
    out["raw_scan_cpu_us"] = round(cpu["raw"] / total * 1e6, 2)
    say(f"rebuild ({total} ev)", out["rebuild_eps"])
    say("raw scan", out["raw_scan_eps"])
    say("raw scan + decode", out["raw_scan_decode_eps"])
    say("rebuild / raw scan", out["rebuild_over_raw"], "x")
    say("audit verify", out["verify_eps"])
    say("rebuild CPU / event", out["rebuild_cpu_us"], "µs")
    say("raw scan CPU / event", out["raw_scan_cpu_us"], "µs")


@contextmanager
def postgres_database() -> Iterator[str]:
    name = "kl_bench_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000, help="AuditRecords per append run")
    parser.add_argument("--batch", type=int, default=50, help="aggregates per batched save")
    parser.add_argument("--secrets", type=int, default=200, help="secrets in the app mix")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.events < 1 or args.batch < 1 or args.secrets < 0:
        parser.error("--events and --batch must be >= 1, --secrets >= 0")

    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="kl_bench_") as tmp:
        results["sqlite"] = {}
        settings = Settings(data_dir=Path(tmp), database_url=None)
        run_backend("sqlite", settings, args, results["sqlite"])
    if not args.skip_postgres:
        with postgres_database() as url, tempfile.TemporaryDirectory(prefix="kl_bench_") as tmp:
            results["postgres"] = {}
            settings = Settings(data_dir=Path(tmp), database_url=url)
            run_backend("postgres", settings, args, results["postgres"])
    print(json.dumps(results, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
