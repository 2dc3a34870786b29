"""Server CPU per read for bench/reads.py, from /proc (Linux).

A server is its whole process tree: the leader bench/reads.py started in its own
session plus every process in that process group or descending from it (keyledger's
uvicorn workers, multiprocessing helpers; OpenBao is one `bao` process). CPU is
utime + stime + cutime + cstime of each (clock ticks, SC_CLK_TCK per second): the
c-fields keep the time of a child that exits and is reaped mid-run, which would
otherwise drop out of the sum.

wrk's read window starts with its first request, which it sends only after each
thread has parsed the pre-signed file, and ends with its last response, in the drain
second. So CPU is sampled every SAMPLE_SECONDS in a thread while wrk runs and
interpolated at the window's edges (the Lua script stamps them with CLOCK_MONOTONIC,
the clock time.monotonic reads): idle time before and after the window is not counted.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.1
PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, process group, CPU ticks incl. reaped children) or None if gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces:
    # state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime ...
    fields = raw[raw.rindex(b")") + 2 :].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return int(fields[1]), int(fields[2]), utime + stime + cutime + cstime


def tree_ticks(leader: int) -> int:
    """CPU ticks of the leader, its process group and all its descendants, now."""
    stats = {}
    for entry in os.listdir(PROC):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    members = {pid for pid, (_, pgrp, _) in stats.items() if pgrp == leader or pid == leader}
    grown = True
    while grown:  # descendants that left the group (setsid) still count
        more = {pid for pid, (ppid, _, _) in stats.items() if ppid in members} - members
        members |= more
        grown = bool(more)
    return sum(stats[pid][2] for pid in members)


def pids_ticks(pids: Iterable[int]) -> int:
    """CPU ticks of the given processes (e.g. PostgreSQL backends), gone ones as 0."""
    return sum(stat[2] for stat in map(_stat, pids) if stat is not None)


class CpuSampler:
    """Samples a server tree's CPU (and some extra processes') in a background thread
    for the span of a `with` block; `between` gives the CPU over a sub-span."""

    def __init__(self, leader: int, extra_pids: Iterable[int] = ()) -> None:
        self.leader = leader
        self.extra_pids = tuple(extra_pids)
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        moment = time.monotonic()
        server = tree_ticks(self.leader)
        extra = pids_ticks(self.extra_pids)
        self.samples.append(((moment + time.monotonic()) / 2, server, extra))

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _at(self, moment: float) -> tuple[float, float]:
        """Ticks (server, extra) at `moment`, linear between the bracketing samples."""
        times = [s[0] for s in self.samples]
        i = bisect_left(times, moment)
        if i == 0:
            return float(self.samples[0][1]), float(self.samples[0][2])
        if i == len(times):
            return float(self.samples[-1][1]), float(self.samples[-1][2])
        (t0, s0, e0), (t1, s1, e1) = self.samples[i - 1], self.samples[i]
        share = (moment - t0) / (t1 - t0) if t1 > t0 else 1.0
        return s0 + (s1 - s0) * share, e0 + (e1 - e0) * share

    def between(self, start: float | None, end: float | None) -> tuple[float, float]:
        """CPU µs (server tree, extra processes) from `start` to `end` (monotonic
        seconds); the whole sampled span where an edge is unknown."""
        first = self._at(start) if start else self._at(self.samples[0][0])
        last = self._at(end) if end else self._at(self.samples[-1][0])
        return (last[0] - first[0]) * TICK_US, (last[1] - first[1]) * TICK_US
