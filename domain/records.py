"""Standalone audit records: things worth auditing that change no aggregate.

A failed login changes nothing in the vault, yet belongs in the log. Each record is
its own one-event aggregate (fresh id, version 1), so records never contend.

A record may be keyed (`record_key`): its id then derives from the key, and the
store's uniqueness on (id, version 1) refuses a second record with the same key.
The machine plane keys each read record by machine and nonce: the audit write *is*
the replay check.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from domain.audit import AuditStamp
from domain.ids import index_id


class AuditRecord(Aggregate):
    TOPIC = "keyledger.record.AuditRecord"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.record.Event"

    @staticmethod
    def create_id(record_key: str | None = None) -> uuid.UUID:
        return uuid.uuid4() if record_key is None else index_id("record", record_key)

    @event("Recorded", topic="keyledger.record.Recorded")
    def __init__(
        self,
        action: str,
        audit: AuditStamp,
        secret_id: str | None = None,
        record_key: str | None = None,
    ) -> None:
        self.action = action
        self.secret_id = secret_id
