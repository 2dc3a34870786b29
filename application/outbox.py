"""The outreach follower: reads both logs after its position and fills the outbox.

Which records become deliveries (a webhook subscribed to the action, the email alert
set) is decided here, once per record; the deliveries and the position after the
records are committed in one transaction (`Outbox.enqueue`), so a process that dies
mid-way neither skips a record nor enqueues one twice. Sending is someone else's
job: the dispatcher hands due outbox rows to the Dramatiq actors.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from application.auditstream import StreamSource
from application.siemexport import Position, pending
from domain.outreach import payload

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
        old = self.outbox.position()
        if old is None:
            self.place()
            return 0
        records = pending(self.source, old, self.page)
        if not records:
            return 0
        routes = self.outbox.subscriptions()
        deliveries = []
        position = old
        for record in records:
            for kind, target in routes.get(record.action, ()):
                delivery_id = self.new_id()
                body = payload(delivery_id, record)
                deliveries.append(Delivery(delivery_id, kind, target, record.action, body))
            position = position.after(record)
        if not self.outbox.enqueue(deliveries, old, position):
            return 0
        return len(deliveries)

    def drain(self, most: int = 50) -> int:
        """Steps until the logs are read (at most `most` pages per call)."""
        total = 0
        for _ in range(most):
            before = self.outbox.position()
            total += self.step()
            if self.outbox.position() == before:
                break
        return total
