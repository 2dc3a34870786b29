"""The outreach follower: reads both logs after its position and fills the outbox.

Which records become deliveries (a webhook subscribed to the action, the email alert
set) is decided here, once per record; the deliveries and the position after the
records are committed in one transaction (`Outbox.enqueue`), so a process that dies
mid-way neither skips a record nor enqueues one twice. Sending is someone else's
job: the dispatcher hands due outbox rows to the Dramatiq actors.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from itertools import takewhile
from typing import Protocol

from application.auditstream import StreamSource
from application.siemexport import STAMP, Position
from domain.outreach import payload
from domain.siem.record import AuditRecord

EMAIL = "email"
WEBHOOK = "webhook"


@dataclass(frozen=True)
class Delivery:
    """One message to one destination; `body` is final (a retry re-sends these bytes)."""

    delivery_id: str
    kind: str  # WEBHOOK or EMAIL
    target: str  # the webhook id, or EMAIL
    action: str
    body: bytes


class Outbox(Protocol):
    def position(self) -> Position | None: ...

    def enqueue(self, deliveries: list[Delivery], old: Position | None, new: Position) -> bool:
        """Add `deliveries` and move the position old → new in one transaction; False
        (nothing written) if the position is no longer `old` (another leader moved it)."""
        ...

    def subscriptions(self) -> dict[str, list[tuple[str, str]]]:
        """action → [(kind, target)] for every enabled webhook and the email alert set."""
        ...


class Follower:
    def __init__(
        self,
        source: StreamSource,
        outbox: Outbox,
        page: int = 200,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.source = source
        self.outbox = outbox
        self.page = page
        self.new_id = new_id

    def place(self) -> None:
        """Where a store's first follower starts: the head of both logs, at start-up
        (before any webhook or alert can be configured), so history is not replayed
        to new destinations and nothing after start-up is skipped."""
        if self.outbox.position() is None:
            self.outbox.enqueue([], None, self.source.head())

    def step(self) -> int:
        """One page of records → deliveries; returns how many were enqueued."""
        return self._step()[0]

    def _step(self) -> tuple[int, bool]:
        """(enqueued, whether a page was full so more is waiting)."""
        old = self.outbox.position()
        if old is None:
            self.place()
            return 0, False
        # The head before the routes: a destination added after this read only gets
        # records after the head, and one added before it is in the routes.
        head = self.source.head()
        routes = self.outbox.subscriptions()
        records, position, more = routed_page(self.source, old, head, self.page, routes.keys())
        if position == old:
            return 0, False
        deliveries = []
        for record in records:
            for kind, target in routes.get(record.action, ()):
                delivery_id = self.new_id()
                body = payload(delivery_id, record)
                deliveries.append(Delivery(delivery_id, kind, target, record.action, body))
        if not self.outbox.enqueue(deliveries, old, position):
            return 0, False  # another follower moved: the next tick goes on from there
        return len(deliveries), more

    def drain(self, most: int = 50) -> int:
        """Steps while pages come back full (at most `most` per call). Not "until the
        position stops moving": under a steady stream of reads it never would."""
        total = 0
        for _ in range(most):
            enqueued, more = self._step()
            total += enqueued
            if not more:
                break
        return total


def routed_page(
    source: StreamSource, old: Position, head: Position, limit: int, actions: Collection[str]
) -> tuple[list[AuditRecord], Position, bool]:
    """The records of `actions` after `old` (filtered in SQL: the reads nobody listens
    to never reach Python), and how far the follower may move: past every record it
    was given and, where a log's page was neither full nor cut, to `head` — every
    record up to it either came back or is of an action nobody wants; and whether a
    page was full (more is waiting)."""
    ledger, lanes = old.ledger, dict(old.lanes)
    if not actions:
        ledger = max(ledger, head.ledger)
        for lane, top in head.lanes.items():
            if top > lanes.get(lane, 0):
                lanes[lane] = top
        return [], Position(ledger, lanes, old.sink), False
    streams = [("", source.ledger_after(old.ledger, limit, actions), head.ledger)]
    streams += [
        (lane, source.lane_after(lane, old.lanes.get(lane, 0), limit, actions), top)
        for lane, top in head.lanes.items()
    ]
    # As `page_after`: cut every log where the first full page ends, so no later
    # step brings an earlier-stamped record after a later-stamped one.
    full = [s for s in streams if len(s[1]) >= limit]
    first = min(full, key=lambda s: s[1][-1].timestamp_ms) if full else None
    cut = first[1][-1].timestamp_ms if first is not None else 0
    kept = []
    for stream in streams:
        lane, records, top = stream
        page = records
        if first is not None and stream is not first:
            page = list(takewhile(lambda r: r.timestamp_ms <= cut, records))
        whole = len(records) < limit and len(page) == len(records)
        last = _seq(page[-1]) if page else 0
        mark = max(last, top) if whole else last
        if lane == "":
            ledger = max(ledger, mark)
        elif mark > lanes.get(lane, 0):
            lanes[lane] = mark
        kept.append(page)
    merged = list(heapq.merge(*kept, key=STAMP))
    return merged, Position(ledger, lanes, old.sink), bool(full)


def _seq(record: AuditRecord) -> int:
    """A ledger record's notification id, or an access record's seq in its lane."""
    return int(record.id if record.log == "ledger" else record.id.rsplit(":", 1)[1])
