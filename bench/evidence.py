"""Evidence benchmark: the audit log at scale, on SQLite and PostgreSQL.

Writes `--events` records (default 1,000,000): ~7 % ledger events through the Ledger
and the rest machine access records bulk-inserted with valid lane chains (see
bench/evidence_data.py), into a fresh SQLite data dir and a fresh PostgreSQL database
`kl_bench_<hex>` (dropped after). Then, per store:

* rebuild: `projector.rebuild()` over the ledger's events (the only projected log),
  against a raw scan of the same event table (`select_notifications`, 1,000 a page,
  as bench/ledger.py), alternated three times, median of each: events/s and the ratio;
* query: AuditSearch page (action + machine + 7-day window, 50 rows, with total),
  median of 7 after one warm-up;
* as-of and who-could-read at now through PointInTime (median of 5; the first call
  on the fresh store, which folds everything and stores snapshots, is printed too, and
  so is the first call of a new PointInTime, as after a restart), and who-read of
  one secret up to now;
* export: the jsonl Exporter to a file sink, records/s over the first `--export`
  records (default 100,000) in log order.

Run:  uv run python bench/evidence.py [--events N] [--skip-postgres] [--only query,pit]
Last line: one JSON object; its top-level keys are the PostgreSQL figures (SQLite's
when `--skip-postgres`), per-store figures under "sqlite" and "postgres".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from evidence_data import Vault, access_rows, write_access, write_vault  # noqa: E402
from ledger import postgres_database, raw_scan  # noqa: E402

from application.siemexport import Exporter, Position  # noqa: E402
from domain.auditquery import AuditQuery  # noqa: E402
from domain.siem.formats import formatter  # noqa: E402
from infrastructure.crypto.keyring import KeyRing  # noqa: E402
from infrastructure.settings import Settings  # noqa: E402
from infrastructure.siem.sinks import FileSink  # noqa: E402
from interfaces.bootstrap import (  # noqa: E402
    build_access_store,
    build_audit_export,
    build_audit_search,
    build_point_in_time,
    build_store,
)

Result = dict[str, Any]
PARTS = ("rebuild", "query", "pit", "export")
DAY_MS = 86_400_000


def timed(fn: Callable[[], object]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_ms(fn: Callable[[], object], runs: int) -> float:
    return round(statistics.median(timed(fn)[0] for _ in range(runs)) * 1000, 2)


def export_eps(settings: Settings, out: Path, limit: int) -> tuple[float, float, int]:
    """Records/s, and this process's CPU µs per record (steadier on a shared machine)."""
    source, cursors = build_audit_export(settings)
    sink = FileSink(out, "jsonl")
    render = formatter("jsonl", "bench", "bench-host", "1").render
    exporter = Exporter(source, cursors, sink, render, "bench")
    sent = 0
    start, cpu = time.perf_counter(), time.process_time()
    for sent in exporter.run(Position()):
        if sent >= limit:
            break
    sink.flush()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    sink.close()
    source.close()
    cursors.close()
    eps = round(sent / seconds, 1) if seconds else 0.0
    return eps, (round(cpu / sent * 1e6, 2) if sent else 0.0), sent


def run_store(name: str, settings: Settings, vault_events: int, args: Any) -> Result:
    say = (lambda *a: None) if args.json else (lambda *a: print(f"{name:<8}", *a, flush=True))
    ledger, envelope, projector, _clock = build_store(settings)
    args.envelope = envelope
    out: Result = {}
    try:
        envelope.establish(KeyRing.generate())
        seconds, vault = timed(lambda: write_vault(ledger, vault_events))
        events = ledger.recorder.max_notification_id() or 0
        say(f"wrote {events} ledger events in {seconds:.1f} s")
        access = build_access_store(settings, projector)
        now_ms = int(time.time() * 1000)
        rows = access_rows(vault, args.events - events, now_ms)
        seconds, _ = timed(lambda: write_access(access.engine, rows))
        say(f"wrote {len(rows)} access records in {seconds:.1f} s")
        projector.catch_up()
        out["events"] = events + len(rows)
        out["ledger_events"] = events
        if "rebuild" in args.only:
            measure_rebuild(ledger, projector, events, out, say)
        measure_queries(settings, ledger, projector, access, vault, out, say, args)
        if "export" in args.only:
            with tempfile.TemporaryDirectory(prefix="kl_export_") as tmp:
                path = Path(tmp) / "audit.jsonl"
                out["export_eps"], out["export_cpu_us"], sent = export_eps(
                    settings, path, args.export
                )
            say(
                f"export  {out['export_eps']:>12,.0f} records/s (jsonl file, {sent} records,"
                f" {out['export_cpu_us']} µs CPU per record)"
            )
        access.close()
    finally:
        ledger.close()
        projector.engine.dispose()
    return out


def measure_rebuild(ledger: Any, projector: Any, events: int, out: Result, say: Any) -> None:
    raw_scan(ledger, decode=False)  # warm, untimed
    rebuilds, scans, rebuild_cpu, scan_cpu = [], [], [], []
    for _ in range(3):  # alternated, median of each: the machine may be shared
        cpu = time.process_time()
        rebuild_s, rebuilt = timed(projector.rebuild)
        rebuild_cpu.append(time.process_time() - cpu)
        cpu = time.process_time()
        scan_s, scanned = timed(lambda: raw_scan(ledger, decode=False))
        scan_cpu.append(time.process_time() - cpu)
        assert rebuilt == scanned == events, (rebuilt, scanned, events)
        rebuilds.append(rebuild_s)
        scans.append(scan_s)
    rebuild_s, scan_s = statistics.median(rebuilds), statistics.median(scans)
    # This process's CPU per event: steadier than wall time on a shared machine
    # (the database server's CPU is not in it).
    out["rebuild_cpu_us"] = round(statistics.median(rebuild_cpu) / events * 1e6, 2)
    out["scan_cpu_us"] = round(statistics.median(scan_cpu) / events * 1e6, 2)
    out["rebuild_eps"] = round(events / rebuild_s, 1)
    out["scan_eps"] = round(events / scan_s, 1)
    out["rebuild_over_scan"] = round(scan_s / rebuild_s, 4)
    say(
        f"rebuild {out['rebuild_eps']:>12,.0f} events/s   raw scan {out['scan_eps']:>12,.0f}"
        f" events/s   ratio {out['rebuild_over_scan']:.3f}x   CPU/event rebuild"
        f" {out['rebuild_cpu_us']:.1f} µs, scan {out['scan_cpu_us']:.1f} µs"
    )


def measure_queries(
    settings: Settings,
    ledger: Any,
    projector: Any,
    access: Any,
    vault: Vault,
    out: Result,
    say: Any,
    args: Any,
) -> None:
    if "query" in args.only:
        measure_search(settings, projector, vault, out, say)
    if "pit" in args.only:
        measure_pit(ledger, args.envelope, projector, access, vault, out, say)


def measure_search(settings: Settings, projector: Any, vault: Vault, out: Result, say: Any) -> None:
    search = build_audit_search(settings, projector)
    now_ms = int(time.time() * 1000)
    query = AuditQuery(
        actions=("secret_read",),
        machine_id=vault.machines[0],
        from_ms=now_ms - 14 * DAY_MS,
        to_ms=now_ms - 7 * DAY_MS,
        page_size=50,
    )
    page = search.page(query)
    out["query_ms"] = median_ms(lambda: search.page(query), 7)
    say(f"query   {out['query_ms']:>8.2f} ms median ({page['total']} matching, 50 a page)")
    search.close()


def measure_pit(
    ledger: Any, envelope: Any, projector: Any, access: Any, vault: Vault, out: Result, say: Any
) -> None:
    pit = build_point_in_time(ledger, envelope, projector, access)
    at = datetime.now(UTC).isoformat()
    secret_id = vault.secrets[0][0]
    cold_s, state = timed(lambda: pit.as_of(at))
    out["as_of_cold_ms"] = round(cold_s * 1000, 2)
    out["as_of_ms"] = median_ms(lambda: pit.as_of(at), 5)
    answer = pit.who_could_read(secret_id, at)
    out["who_could_read_ms"] = median_ms(lambda: pit.who_could_read(secret_id, at), 5)
    say(
        f"as-of   {out['as_of_ms']:>8.2f} ms median (first {out['as_of_cold_ms']:.0f} ms,"
        f" {len(state['secrets'])} secrets)"
    )
    say(
        f"who-could-read {out['who_could_read_ms']:>8.2f} ms median"
        f" ({len(answer['machines'])} machines)"
    )
    restarted = build_point_in_time(ledger, envelope, projector, access)  # a new process
    restart_s, _ = timed(lambda: restarted.as_of(at))
    out["as_of_restart_ms"] = round(restart_s * 1000, 2)
    say(f"as-of   {out['as_of_restart_ms']:>8.2f} ms first call after a restart (snapshots)")
    reads = pit.who_read(secret_id, None, at)
    out["who_read_ms"] = median_ms(lambda: pit.who_read(secret_id, None, at), 5)
    say(f"who-read {out['who_read_ms']:>8.2f} ms median ({reads['reads']} reads)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="records in all")
    parser.add_argument("--ledger-share", type=float, default=0.07, help="share of ledger events")
    parser.add_argument("--export", type=int, default=100_000, help="records to export")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to measure, of {','.join(PARTS)} (default: all)",
    )
    args = parser.parse_args(argv)
    args.only = frozenset(part.strip() for part in args.only.split(",") if part.strip())
    if not args.only or not args.only <= set(PARTS):
        parser.error(f"--only takes parts of {','.join(PARTS)}")
    if args.events < 1000 or not 0 < args.ledger_share < 1:
        parser.error("--events must be >= 1000 and 0 < --ledger-share < 1")
    vault_events = int(args.events * args.ledger_share)
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="kl_evidence_") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=None)
        results["sqlite"] = run_store("sqlite", settings, vault_events, args)
    if not args.skip_postgres:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(postgres_database())
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="kl_evidence_"))
            settings = Settings(data_dir=Path(tmp), database_url=url)
            results["postgres"] = run_store("postgres", settings, vault_events, args)
    main_store = results.get("postgres", results["sqlite"])
    keys = ("events", "rebuild_eps", "scan_eps", "query_ms", "as_of_ms", "who_could_read_ms")
    line = {k: main_store[k] for k in (*keys, "export_eps") if k in main_store} | results
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
