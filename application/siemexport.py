"""Ship the audit log to a SIEM: every record once, in order, after a per-sink cursor.

The two logs are read after a `Position` — the last ledger notification id delivered
and, per access lane, the last seq — so a record written later into any lane is still
found, whatever its timestamp. Each pass reads a page of each log (one query per log),
merges them by time (each log stays in its own order), renders the page in one loop and
hands it to the sink as one delivery; the cursor is committed once per delivery, with
the sink's own mark (a file's size), so a resume can undo what a kill left uncounted:
the file sink truncates the uncommitted tail. Sinks that cannot take back what they
sent (TCP, HEC) report progress inside a delivery and the cursor follows it; what a
kill between a send and its commit costs is stated in the README. UDP, which has no
acknowledgement, moves the cursor before it sends: at most once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import takewhile
from operator import attrgetter
from typing import Protocol

from domain.siem.record import AuditRecord

Progress = Callable[[int], None]
STAMP = attrgetter("timestamp_ms")  # the merge key, in C: it runs for every record


class SinkError(Exception):
    """The sink refused or could not be reached; the cursor stays at the last delivery."""


@dataclass(frozen=True)
class Position:
    """Where a sink's export stands; `sink` is the sink's mark at that point (a file's
    offset and identity), so that a resume can drop what was written after it."""

    ledger: int = 0
    lanes: dict[str, int] = field(default_factory=dict)
    sink: dict[str, int] = field(default_factory=dict, compare=False)  # not where, but how

    def after(self, record: AuditRecord) -> Position:
        return self.advanced([record])

    def advanced(self, records: list[AuditRecord]) -> Position:
        """The position after `records` (in delivery order), in one pass."""
        ledger, lanes = self.ledger, dict(self.lanes)
        for record in records:
            if record.log == "ledger":
                ledger = int(record.id)
            else:
                lane, seq = record.id.rsplit(":", 1)
                lanes[lane] = int(seq)
        return Position(ledger, lanes, self.sink)

    def marked(self, sink: dict[str, int]) -> Position:
        return Position(self.ledger, self.lanes, dict(sink))

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"ledger": self.ledger, "lanes": dict(sorted(self.lanes.items()))}
        if self.sink:
            data["sink"] = dict(sorted(self.sink.items()))
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Position:
        lanes, sink = data.get("lanes") or {}, data.get("sink") or {}
        if not isinstance(lanes, dict) or not isinstance(sink, dict):
            raise ValueError("an export cursor's lanes and sink mark are mappings")
        return cls(
            int(str(data.get("ledger", 0))),
            {str(k): int(v) for k, v in lanes.items()},
            {str(k): int(v) for k, v in sink.items()},
        )


class AuditSource(Protocol):
    def ledger_after(
        self, notification_id: int, limit: int, actions: Collection[str] | None = None
    ) -> list[AuditRecord]:
        """Up to `limit` ledger records after the id; only `actions` when given."""
        ...

    def lanes(self) -> list[str]: ...

    def lane_after(
        self, lane: str, seq: int, limit: int, actions: Collection[str] | None = None
    ) -> list[AuditRecord]: ...

    def count_after(self, position: Position) -> int: ...


class CursorStore(Protocol):
    def load(self, sink: str) -> Position | None: ...

    def save(self, sink: str, position: Position) -> None: ...


class Sink(Protocol):
    at_most_once: bool  # True: the cursor is saved before a delivery (UDP), not after

    def resume(self, mark: dict[str, int]) -> None:
        """Undo what was written after `mark` (the cursor's), where the sink can."""

    def deliver(self, records: list[str], progress: Progress | None = None) -> None:
        """Send `records`; `progress(n)` may report that the first n are in, mid-way."""

    def mark(self) -> dict[str, int]:
        """What to save with the cursor after a delivery (a file's size), or {}."""

    def flush(self) -> None: ...

    def close(self) -> None: ...


def pending(source: AuditSource, position: Position, limit: int) -> list[AuditRecord]:
    """Up to about `limit` records after `position` from every log, merged by time."""
    return page_after(source, position, limit)[0]


def page_after(
    source: AuditSource, position: Position, limit: int
) -> tuple[list[AuditRecord], Position]:
    """`pending`, and the position after it: each log's last record, since every log
    is kept a prefix (cheaper than stepping through every record)."""
    streams = [source.ledger_after(position.ledger, limit)]
    streams += [
        source.lane_after(lane, position.lanes.get(lane, 0), limit) for lane in source.lanes()
    ]
    # Cut every log where the first log that filled its page ends, so no later pass
    # brings an earlier-stamped record after a later-stamped one. A prefix, not a
    # filter: the cursor must never step over a record.
    full = [s for s in streams if len(s) >= limit]
    if full:
        first = min(full, key=lambda s: s[-1].timestamp_ms)  # kept whole: always progress
        cut = first[-1].timestamp_ms
        streams = [
            s if s is first else list(takewhile(lambda r: r.timestamp_ms <= cut, s))
            for s in streams
        ]
    end = position.advanced([s[-1] for s in streams if s])
    return list(heapq.merge(*streams, key=STAMP)), end


@dataclass
class Exporter:
    source: AuditSource
    cursors: CursorStore
    sink: Sink
    render: Callable[[AuditRecord], str]
    name: str
    page: int = 5000  # records per delivery and per cursor commit

    def run(self, position: Position, since_ms: int = 0) -> Iterator[int]:
        """Deliver everything after `position`; yields the running count per delivery.

        The next page is read in a thread while this one is rendered and written: the
        store's drivers wait on the database without the GIL, so the two overlap."""
        self.sink.resume(position.sink)
        sent = 0
        with ThreadPoolExecutor(1, thread_name_prefix="export-read") as reader:
            ahead = reader.submit(page_after, self.source, position, self.page)
            while (page := ahead.result())[0]:
                records, end = page
                ahead = reader.submit(page_after, self.source, end, self.page)
                sent += self._deliver(position, end, records, since_ms)
                position = end
                yield sent
        self.sink.flush()

    def _deliver(
        self, start: Position, end: Position, records: list[AuditRecord], since_ms: int
    ) -> int:
        """One delivery and its cursor commit (before it for an at-most-once sink)."""
        kept = [i for i, r in enumerate(records) if r.timestamp_ms >= since_ms]
        wanted = [records[i] for i in kept] if since_ms else records
        render = self.render
        lines = [render(r) for r in wanted]
        if self.sink.at_most_once:
            self.cursors.save(self.name, end)
            self.sink.deliver(lines)
        else:
            self.sink.deliver(lines, self._follower(start, records, kept))
            self.cursors.save(self.name, end.marked(self.sink.mark()))
        return len(wanted)

    def _follower(self, start: Position, records: list[AuditRecord], kept: list[int]) -> Progress:
        """Saves the cursor after the n-th record delivered (and the skipped ones before
        it), as the sink reports progress inside a delivery."""

        def progress(n: int) -> None:
            done = records[: kept[n - 1] + 1] if n else []
            self.cursors.save(self.name, start.advanced(done).marked(self.sink.mark()))

        return progress
