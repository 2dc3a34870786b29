"""A project's trash life: delete (30 days, restorable), restore, purge (crypto-shred).

Purging writes `project.Purged` first and destroys the wrapped master key after:
the event is the record that the key was destroyed, and a purge retried after a
crash between the two steps destroys it again. The ledger keeps every event (the
hash chain still verifies); what it holds of the project's secrets is ciphertext
under data keys that only the destroyed master key could unwrap.
"""

from __future__ import annotations

from typing import Protocol

from application.ledger import Ledger
from domain.audit import AuditStamp
from domain.errors import NotFound
from domain.project import Project


class ProjectSecrets(Protocol):
    def project_secret_ids(self, project_id: str) -> list[str]:
        """Every secret of the project, in the trash too (a read model: may lag)."""
        ...


class ProjectTrash:
    def __init__(self, ledger: Ledger, secrets: ProjectSecrets) -> None:
        self.ledger = ledger
        self.secrets = secrets

    def delete(self, project_id: str, audit: AuditStamp) -> Project:
        """Into the trash: machines are answered as for a deleted secret from now on."""
        project = self.ledger.project(project_id, in_trash=True)
        project.delete(self.ledger.clock.now_ms(), audit)
        self.ledger.save_or_conflict(project)
        return project

    def restore(self, project_id: str, audit: AuditStamp) -> Project:
        project = self.ledger.project_any(project_id)
        project.restore(self.ledger.clock.now_ms(), audit)
        self.ledger.save_or_conflict(project)
        return project

    def purge(self, project_id: str, audit: AuditStamp) -> Project:
        """Destroy the project key as an event; only a project in the trash (else 409)."""
        project = self.ledger.project_any(project_id)
        secret_ids = self.secrets.project_secret_ids(project.project_id)  # before it goes
        if project.purged:  # finish a purge cut short after its event, then say so
            self.ledger.keys.shred_project_key(project.project_id, secret_ids)
        project.purge(audit)
        self.ledger.save_or_conflict(project)
        self.ledger.keys.shred_project_key(project.project_id, secret_ids)
        return project

    def purge_expired(self, candidates: list[str], now_ms: int) -> list[str]:
        """Purge the given trashed projects whose 30 days are over (the sweep's job)."""
        purged = []
        for project_id in candidates:
            try:
                project = self.ledger.project_any(project_id)
            except NotFound:
                continue
            if project.trash_expired(now_ms):
                self.purge(project_id, AuditStamp.system("trash retention expired"))
                purged.append(project_id)
        return purged
