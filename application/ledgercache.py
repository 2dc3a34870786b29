"""Aggregates as of the ledger's head, for the access gate's decisions.

Decisions read aggregates, never a read model; one cheap probe per request
(`HeadWatch`) tells whether anything in the vault changed, and if so the cache is
dropped, so a revoke bites on the very next request. A project in the trash or
purged is not found here: machines see it as deleted.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from application.ledger import Ledger
from application.ports import HeadWatch, KeyService
from domain import ids
from domain.errors import NotFound
from domain.project import Project
from domain.secret import Secret
from domain.vault import Vault


class LedgerCache:
    """Aggregates as of the ledger's head; dropped whenever the head moves."""

    def __init__(self, ledger: Ledger, keys: KeyService, head: HeadWatch) -> None:
        self.ledger = ledger
        self.keys = keys
        self.head = head
        self._head: object = None
        self._items: dict[uuid.UUID, Any] = {}
        self._lock = threading.Lock()

    def sync(self, head: object = None) -> object:
        """Drop the cache if the ledger moved; returns the head it now stands for.

        `head`: one the caller already knows (the access writer's newest batch read
        it); the decision is then re-checked at commit if the ledger moved since."""
        if head is None:
            head = self.head.token()
        if head != self._head or head is None:
            with self._lock:
                self._items = {}
                self._head = head
                self.keys.forget_cached()
        return head

    def get(self, aggregate_id: uuid.UUID) -> Any:
        # Take the dict first, then load: an aggregate loaded now is at least as new
        # as that dict's head, and if a sync swaps the dict meanwhile, this one only
        # lands in the old dict, never in the new one.
        items = self._items
        item = items.get(aggregate_id)
        if item is None:
            item = self.ledger.repository.get(aggregate_id)
            items[aggregate_id] = item
        return item

    def vault(self) -> Vault | None:
        try:
            vault: Vault = self.get(ids.VAULT_SINGLETON)
        except AggregateNotFoundError:
            return None
        return vault

    def secret(self, secret_id: str) -> Secret:
        try:
            secret = self.get(ids.aggregate_id(ids.require(ids.SECRET, secret_id)))
        except AggregateNotFoundError:
            secret = None
        if not isinstance(secret, Secret) or secret.purged:
            raise NotFound(f"Secret {secret_id[:40]} not found")
        return secret

    def project(self, project_id: str) -> Project:
        try:
            project = self.get(ids.aggregate_id(ids.require(ids.PROJECT, project_id)))
        except AggregateNotFoundError:
            project = None
        if not isinstance(project, Project) or project.in_trash or project.purged:
            raise NotFound(f"Project {project_id[:40]} not found")
        return project

    def secret_and_project(self, secret_id: str) -> tuple[Secret, Project]:
        """A secret and its live project. A secret whose project is in the trash or
        purged is answered exactly like a deleted secret: not found."""
        secret = self.secret(secret_id)
        try:
            return secret, self.project(secret.project_id)
        except NotFound:
            raise NotFound(f"Secret {secret_id[:40]} not found") from None
