"""Ship the audit log to a SIEM: every record once, in order, after a per-sink cursor.

The two logs are read after a `Position` — the last ledger notification id delivered
and, per access lane, the last seq — so a record written later into any lane is still
found, whatever its timestamp. Each pass merges what the logs hold after the position
by time (each log stays in its own order) and hands the records to the sink one
delivery at a time; the cursor is committed after every delivery. A kill between a
delivery and its commit is the only window in which a record can be sent twice on
resume; a record cut mid-write is an incomplete frame the receiver drops (see README).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Protocol

from domain.siem.record import AuditRecord


class SinkError(Exception):
    """The sink refused or could not be reached; the cursor stays at the last delivery."""


@dataclass(frozen=True)
class Position:
    ledger: int = 0
    lanes: dict[str, int] = field(default_factory=dict)

    def after(self, record: AuditRecord) -> Position:
        if record.log == "ledger":
            return Position(int(record.id), self.lanes)
        lane, seq = record.id.rsplit(":", 1)
        return Position(self.ledger, {**self.lanes, lane: int(seq)})

    def as_json(self) -> dict[str, object]:
        return {"ledger": self.ledger, "lanes": dict(sorted(self.lanes.items()))}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Position:
        lanes = data.get("lanes") or {}
        if not isinstance(lanes, dict):
            raise ValueError("an export cursor's lanes are a mapping of lane to seq")
        return cls(int(str(data.get("ledger", 0))), {str(k): int(v) for k, v in lanes.items()})


class AuditSource(Protocol):
    def ledger_after(self, notification_id: int, limit: int) -> list[AuditRecord]: ...

    def lanes(self) -> list[str]: ...

    def lane_after(self, lane: str, seq: int, limit: int) -> list[AuditRecord]: ...

    def count_after(self, position: Position) -> int: ...


class CursorStore(Protocol):
    def load(self, sink: str) -> Position | None: ...

    def save(self, sink: str, position: Position) -> None: ...


class Sink(Protocol):
    batch: int  # records per delivery (1 where a cut frame must not cost a duplicate)

    def deliver(self, records: list[str]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def pending(source: AuditSource, position: Position, limit: int) -> list[AuditRecord]:
    """Up to about `limit` records after `position` from every log, merged by time."""
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
    return list(heapq.merge(*streams, key=lambda r: r.timestamp_ms))


@dataclass
class Exporter:
    source: AuditSource
    cursors: CursorStore
    sink: Sink
    render: Callable[[AuditRecord], str]
    name: str
    page: int = 500

    def run(self, position: Position, since_ms: int = 0) -> Iterator[int]:
        """Deliver everything after `position`; yields the running count per delivery."""
        sent = 0
        while True:
            records = pending(self.source, position, self.page)
            if not records:
                self.sink.flush()
                return
            for start in range(0, len(records), self.sink.batch):
                chunk = records[start : start + self.sink.batch]
                wanted = [r for r in chunk if r.timestamp_ms >= since_ms]
                if wanted:
                    self.sink.deliver([self.render(r) for r in wanted])
                for record in chunk:
                    position = position.after(record)
                self.cursors.save(self.name, position)
                sent += len(wanted)
                yield sent
            self.sink.flush()
