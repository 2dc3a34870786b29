"""Secret-name claims: the index aggregate that keeps names unique per project.

The claim's id is derived from (project, name); two concurrent creates race to
write version 1 of the same claim and the store lets only one win. A claim is
released on rename or purge and can then be reclaimed.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from domain.audit import AuditStamp
from domain.errors import Conflict
from domain.ids import index_id


def claim_id(project_id: str, name: str) -> uuid.UUID:
    return index_id("secret-name", project_id, name)


class SecretNameClaim(Aggregate):
    TOPIC = "keyledger.name.SecretNameClaim"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.name.Event"

    @staticmethod
    def create_id(project_id: str, name: str, secret_id: str, audit: AuditStamp) -> uuid.UUID:
        return claim_id(project_id, name)

    @event("Claimed", topic="keyledger.name.Claimed")
    def __init__(self, project_id: str, name: str, secret_id: str, audit: AuditStamp) -> None:
        self.project_id = project_id
        self.name = name
        self.secret_id: str | None = secret_id

    def reclaim(self, secret_id: str, audit: AuditStamp) -> None:
        if self.secret_id is not None:
            raise Conflict(f"A secret named {self.name!r} already exists in this project")
        self._reclaimed(secret_id, audit)

    @event("Reclaimed", topic="keyledger.name.Reclaimed")
    def _reclaimed(self, secret_id: str, audit: AuditStamp) -> None:
        self.secret_id = secret_id

    @event("Released", topic="keyledger.name.Released")
    def release(self, audit: AuditStamp) -> None:
        self.secret_id = None
