"""What bench/reads.py prints: one line per run, server-log problems, the JSON summary."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from reads_support import RunResult

CONNECTIONS_64 = 64


def _cpu(result: RunResult) -> str:
    """Server CPU per read (and the cores it kept busy), PostgreSQL backends', wrk's."""
    per_read = result.server_cpu_us_per_read
    if per_read is None:
        return "  cpu n/a (no reads)"
    cores = result.server_cpu_us / 1e6 / result.window_s if result.window_s else 0.0
    text = f"  cpu {per_read:5.0f} µs/read ({cores:.2f} cores)"
    backend = result.per_read_us(result.backend_cpu_us)
    if result.label == "postgres" and backend is not None:
        text += f" + PostgreSQL backends {backend:.0f} µs/read"
    wrk = result.per_read_us(result.wrk_cpu_s * 1e6)
    return text + f"; wrk {wrk:.0f} µs/read"


def describe(result: RunResult) -> str:
    statuses = ", ".join(f"{code}×{n}" for code, n in sorted(result.statuses.items()))
    line = (
        f"{result.rps:9.0f} reads/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
        f"  max {result.max_ms:7.1f} ms  ({result.ok} ok in {result.window_s:.2f} s; {statuses})"
    )
    line += _cpu(result)
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


def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


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


def pair_ratios(results: dict[str, list[RunResult]], label: str, suffix: str = "") -> list[float]:
    """Per pair: `label` reads/s ÷ OpenBao's in the same pair (runs are interleaved)."""
    return [
        k.rps / b.rps
        for k, b in zip(
            results.get(label + suffix, []), results.get("openbao" + suffix, []), strict=False
        )
        if b.rps > 0
    ]


def summary(results: dict[str, list[RunResult]]) -> dict[str, float | bool | None]:
    """The last line's JSON. Labels: embedded, postgres, openbao (pairs at --connections),
    the same + "@64" (pairs at 64 connections), "warmup-" + label."""

    def median(label: str, value: str) -> float | None:
        return median_or_none([getattr(r, value) for r in results.get(label, [])])

    keyledger_runs = [
        r
        for label, runs in results.items()
        if label.removeprefix("warmup-").split("@")[0] in ("embedded", "postgres")
        for r in runs
    ]
    backend = [r.per_read_us(r.backend_cpu_us) for r in results.get("postgres", [])]
    return {
        "keyledger_rps": rounded(median("postgres", "rps"), 1),
        "embedded_rps": rounded(median("embedded", "rps"), 1),
        "openbao_rps": rounded(median("openbao", "rps"), 1),
        "ratio": rounded(median_or_none(list(pair_ratios(results, "postgres"))), 4),
        "p50_ms": rounded(median("postgres", "p50_ms"), 3),
        "p99_ms": rounded(median("postgres", "p99_ms"), 3),
        "audit_match": (all(r.audit_match for r in keyledger_runs) if keyledger_runs else None),
        "server_cpu_us_per_read": rounded(median("postgres", "server_cpu_us_per_read"), 1),
        "embedded_cpu_us_per_read": rounded(median("embedded", "server_cpu_us_per_read"), 1),
        "openbao_cpu_us_per_read": rounded(median("openbao", "server_cpu_us_per_read"), 1),
        "postgres_backend_cpu_us_per_read": rounded(median_or_none(backend), 1),
        "ratio_64": rounded(median_or_none(list(pair_ratios(results, "postgres", "@64"))), 4),
        "embedded_ratio_64": rounded(
            median_or_none(list(pair_ratios(results, "embedded", "@64"))), 4
        ),
        "p99_64_ms": rounded(median("postgres@64", "p99_ms"), 3),
    }
