"""Project freeze: an event on the project, so the gate's cached aggregates see it.

The gate refuses every machine request touching a frozen project (423) from the same
per-head cache as its other checks, so a freeze made by any API process bites on
the very next request everywhere, without a database round trip per read. A freeze
is applied to a project loaded fresh from the store (never to a cached one), and a
lost race on its version is retried: two canary trips at once give one event.
"""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from application.ledger import Ledger
from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict
from domain.project import Project

RETRIES = 5


class ProjectFreezes:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._lock = threading.Lock()  # one process: no needless version races

    def freeze(self, project_id: str, audit: AuditStamp) -> Project:
        """By hand (operator): 404 unknown, 409 in the trash or already frozen."""
        project = self.ledger.project(project_id)
        project.freeze(audit)
        self.ledger.save_or_conflict(project)
        return project

    def unfreeze(self, project_id: str, audit: AuditStamp) -> Project:
        """Machines may read again; a canary that froze it stays armed."""
        project = self.ledger.project(project_id)
        project.unfreeze(audit)
        self.ledger.save_or_conflict(project)
        return project

    def freeze_quietly(self, project_ids: list[str], audit: AuditStamp) -> list[str]:
        """Freeze each live project that is not frozen yet; returns those this call froze.

        Idempotent and race-safe across processes: the store's version check lets
        exactly one writer append the freeze; the loser reloads and finds it frozen."""
        done = []
        with self._lock:
            for project_id in dict.fromkeys(project_ids):
                if self._freeze_one(project_id, audit):
                    done.append(project_id)
        return done

    def _freeze_one(self, project_id: str, audit: AuditStamp) -> bool:
        for _attempt in range(RETRIES):
            try:
                project: Any = self.ledger.repository.get(ids.aggregate_id(project_id))
            except AggregateNotFoundError:
                return False
            if not isinstance(project, Project) or project.frozen:
                return False
            if project.in_trash or project.purged:
                return False
            project.freeze(audit)
            try:
                self.ledger.save(project)
            except IntegrityError:
                continue  # someone changed it meanwhile: look again
            return True
        raise Conflict(f"Project {project_id} kept changing; freeze it again")
