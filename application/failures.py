"""Unauthenticated failures: audited in the access log, folded per source.

Anyone can fail to authenticate as often as they like, so such a failure must never
become a vault event (it would grow the permanent ledger and move the gate's cache
key) and must not grow the access log without bound either. Per source (an IPv4
address or an IPv6 /64) and per interval, the first `BURST` failures are written one
by one before the request is answered, so a mistyped password or a misconfigured
machine shows its reason at once; every later failure in that interval is counted
and written as one record when the interval closes (`×137 in 60 s: bad signature
×137`). Nothing is dropped: counts are written by the server's background loop, by
the source's next failure after the interval, and on shutdown. The counters live in
memory, per process.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field

from application.accesslog import RecordWriter, Verdict
from application.ports import Clock
from domain.audit import ActorKind, AuditStamp

INTERVAL_MS = 60_000
BURST = 5
MAX_REASONS_SHOWN = 5


def source_key(source_ip: str) -> str:
    """What one source is: an IPv4 address, or an IPv6 /64 (one host's usual share)."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class _Window:
    started_ms: int
    written: int = 0
    folded: Counter[str] = field(default_factory=Counter)


def fold_detail(folded: Counter[str], interval_ms: int) -> str:
    total = sum(folded.values())
    shown = ", ".join(f"{reason} ×{n}" for reason, n in folded.most_common(MAX_REASONS_SHOWN))
    more = ", …" if len(folded) > MAX_REASONS_SHOWN else ""
    return f"×{total} in {interval_ms // 1000} s: {shown}{more}"


class AuthFailures:
    def __init__(
        self,
        records: RecordWriter,
        clock: Clock,
        interval_ms: int = INTERVAL_MS,
        burst: int = BURST,
    ) -> None:
        self.records = records
        self.clock = clock
        self.interval_ms = interval_ms
        self.burst = burst
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def record(
        self,
        source_ip: str,
        reason: str,
        *,
        machine_id: str | None = None,
        action: str = "auth_failure",
    ) -> None:
        """Audit one failure: written now (and waited for) or counted for the fold."""
        key = source_key(source_ip)
        now = self.clock.now_ms()
        closed: list[tuple[str, Counter[str]]] = []
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started_ms >= self.interval_ms:
                if window.folded:
                    closed.append((key, window.folded))
                window = None
            if window is None:
                window = self._windows[key] = _Window(started_ms=now)
            write_now = window.written < self.burst
            if write_now:
                window.written += 1
            else:
                window.folded[reason] += 1
        for closed_key, folded in closed:
            self._write_fold(closed_key, folded)
        if write_now:
            actor = ActorKind.MACHINE if machine_id else ActorKind.EXTERNAL
            stamp = AuditStamp(actor, source_ip, machine_id=machine_id, detail=reason)
            self.records.write(action, stamp)

    def flush(self, *, everything: bool = False) -> None:
        """Write the counts of closed intervals (all of them with `everything`) and
        wait for their commit."""
        now = self.clock.now_ms()
        closed: list[tuple[str, Counter[str]]] = []
        with self._lock:
            for key, window in list(self._windows.items()):
                if everything or now - window.started_ms >= self.interval_ms:
                    del self._windows[key]
                    if window.folded:
                        closed.append((key, window.folded))
        for future in [self._write_fold(key, folded) for key, folded in closed]:
            future.result(timeout=30)

    def _write_fold(self, key: str, folded: Counter[str]) -> Future[Verdict]:
        stamp = AuditStamp(ActorKind.EXTERNAL, key, detail=fold_detail(folded, self.interval_ms))
        return self.records.submit("auth_failure", stamp, None)
