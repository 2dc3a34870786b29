"""The dashboard's secret queries: one page of a project's secrets, its trash, a
secret's grants. Paged in SQL (LIMIT/OFFSET on the (project, name) index), so a
project of 10,000 secrets costs one page of rows, never the whole project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, RowMapping

from infrastructure.database import grants, machines, secrets_table

MAX_SEARCH = 100


@dataclass(frozen=True)
class SecretPage:
    """One page of a project's live secrets matching `search` (a name fragment)."""

    secrets: list[dict[str, Any]]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.secrets) < self.total


class SecretListing:
    """Mixed into ReadModels, which gives the engine and the API's shape of a secret row."""

    engine: Engine

    def _secret_of(self, row: RowMapping) -> dict[str, Any]:
        raise NotImplementedError

    def _rows(self, query: Any) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def secret_page(
        self, project_id: str, search: str = "", offset: int = 0, limit: int = 50
    ) -> SecretPage:
        """Live secrets by name; `search` matches anywhere in the name, any case."""
        t = secrets_table.c
        where = [t.project_id == project_id, t.deleted_ms.is_(None)]
        search = search.strip()[:MAX_SEARCH].lower()
        if search:
            where.append(func.lower(t.name).contains(search, autoescape=True))
        offset = max(0, offset)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).where(*where)).scalar_one()
            rows = conn.execute(
                select(secrets_table)
                .where(*where)
                .order_by(t.name, t.secret_id)
                .limit(limit)
                .offset(offset)
            ).mappings()
            found = [self._secret_of(r) for r in rows]
        return SecretPage(found, int(total), offset, limit)

    def project_trash(self, project_id: str) -> list[dict[str, Any]]:
        """The project's secrets in the trash, newest deletion first."""
        t = secrets_table.c
        query = (
            select(secrets_table)
            .where(t.project_id == project_id, t.deleted_ms.is_not(None))
            .order_by(t.deleted_ms.desc(), t.secret_id)
        )
        return [self._secret_of(r) for r in self._rows(query)]

    def secret_grants(self, secret_id: str) -> list[dict[str, Any]]:
        """The machines granted this secret, by name."""
        query = (
            select(machines.c.machine_id, machines.c.name, machines.c.hostname, grants.c.granted_ms)
            .join(grants, grants.c.machine_id == machines.c.machine_id)
            .where(grants.c.secret_id == secret_id)
            .order_by(machines.c.name)
        )
        return [
            {
                "id": r["machine_id"],
                "name": r["name"],
                "hostname": r["hostname"],
                "grantedAt": r["granted_ms"],
            }
            for r in self._rows(query)
        ]
