"""Standalone audit records: things worth auditing that change no aggregate.

A failed login changes nothing in the vault, yet belongs in the log. Each record is
its own one-event aggregate (fresh id, version 1), so records never contend.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from domain.audit import AuditStamp


class AuditRecord(Aggregate):
    TOPIC = "keyledger.record.AuditRecord"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.record.Event"

    @staticmethod
    def create_id() -> uuid.UUID:
        return uuid.uuid4()

    @event("Recorded", topic="keyledger.record.Recorded")
    def __init__(self, action: str, audit: AuditStamp, secret_id: str | None = None) -> None:
        self.action = action
        self.secret_id = secret_id
