"""Read-side queries over the projected tables. Metadata only: no value ever lives here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, RowMapping

from domain.accesschain import ChainedEntry
from domain.secret import TRASH_RETENTION_MS
from infrastructure.accessstore.store import SqlAccessStore
from infrastructure.database import (
    audit_log,
    grants,
    machines,
    memberships,
    projects,
    rotations,
    secret_versions,
    secrets_table,
)
from infrastructure.readmodels.secretlisting import SecretListing


def _with_trash(out: dict[str, Any], row: RowMapping) -> dict[str, Any]:
    """A trashed secret or project says when it was deleted and when it will be purged."""
    if row["deleted_ms"] is not None:
        out["deletedAt"] = row["deleted_ms"]
        out["purgeAt"] = row["deleted_ms"] + TRASH_RETENTION_MS
    return out


def _secret(row: RowMapping) -> dict[str, Any]:
    out = {
        "id": row["secret_id"],
        "projectId": row["project_id"],
        "name": row["name"],
        "type": row["type"],
        "fieldNames": row["field_names"],
        "version": row["version"],
        "note": row["note"],
        "createdAt": row["created_ms"],
        "updatedAt": row["updated_ms"],
    }
    return _with_trash(out, row)


def _project(row: RowMapping) -> dict[str, Any]:
    out = {
        "id": row["project_id"],
        "name": row["name"],
        "description": row["description"],
        "secretCount": row["secret_count"],
        "createdAt": row["created_ms"],
        "updatedAt": row["updated_ms"],
    }
    return _with_trash(out, row)


def _audit(row: RowMapping) -> dict[str, Any]:
    return {"id": row["notification_id"], **audit_fields(row)}


def audit_fields(row: RowMapping) -> dict[str, Any]:
    """An audit entry's fields but its id, from a row of either log (same column names)."""
    return {
        "log": row["log"],
        "action": row["action"],
        "severity": row["severity"],
        "actorKind": row["actor_kind"],
        "userId": row["user_id"],
        "machineId": row["machine_id"],
        "aiAgentId": row["ai_agent_id"],
        "secretId": row["secret_id"],
        "projectId": row["project_id"],
        "sourceIp": row["source_ip"],
        "detail": row["detail"],
        "timestamp": row["timestamp_ms"],
    }


def _access(row: ChainedEntry) -> dict[str, Any]:
    e = row.entry
    return {
        "id": f"{row.lane}:{row.seq}",
        "log": "access",
        "action": e.action,
        "severity": e.severity,
        "actorKind": e.actor_kind,
        "userId": e.user_id,
        "machineId": e.machine_id,
        "aiAgentId": e.ai_agent_id,
        "secretId": e.secret_id,
        "projectId": e.project_id,
        "sourceIp": e.source_ip,
        "detail": e.detail,
        "timestamp": e.timestamp_ms,
    }


class ReadModels(SecretListing):
    def __init__(self, engine: Engine, access: SqlAccessStore | None = None) -> None:
        self.access = access
        self.engine = engine

    def _secret_of(self, row: RowMapping) -> dict[str, Any]:
        return _secret(row)

    def _all(self, query: Any) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def _projects(self, condition: Any) -> list[dict[str, Any]]:
        counts = (
            select(secrets_table.c.project_id, func.count().label("n"))
            .where(secrets_table.c.deleted_ms.is_(None))
            .group_by(secrets_table.c.project_id)
            .subquery()
        )
        query = (
            select(projects, func.coalesce(counts.c.n, 0).label("secret_count"))
            .outerjoin(counts, counts.c.project_id == projects.c.project_id)
            .where(condition)
            .order_by(projects.c.created_ms, projects.c.project_id)
        )
        return [_project(r) for r in self._all(query)]

    def projects(self) -> list[dict[str, Any]]:
        """Projects not in the trash."""
        return self._projects(projects.c.deleted_ms.is_(None))

    def project(self, project_id: str) -> dict[str, Any] | None:
        """One project, in the trash too (then with `deletedAt` and `purgeAt`)."""
        found = self._projects(projects.c.project_id == project_id)
        return found[0] if found else None

    def project_secret_ids(self, project_id: str) -> list[str]:
        query = select(secrets_table.c.secret_id).where(secrets_table.c.project_id == project_id)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def trashed_projects(self) -> list[dict[str, Any]]:
        return self._projects(projects.c.deleted_ms.is_not(None))

    def expired_project_trash(self, now_ms: int) -> list[str]:
        query = select(projects.c.project_id).where(
            projects.c.deleted_ms < now_ms - TRASH_RETENTION_MS
        )
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def secrets(self, project_id: str) -> list[dict[str, Any]]:
        query = (
            select(secrets_table)
            .where(secrets_table.c.project_id == project_id, secrets_table.c.deleted_ms.is_(None))
            .order_by(secrets_table.c.name)
        )
        return [_secret(r) for r in self._all(query)]

    def secret(self, secret_id: str) -> dict[str, Any] | None:
        rows = self._all(select(secrets_table).where(secrets_table.c.secret_id == secret_id))
        return _secret(rows[0]) if rows else None

    def trash(self) -> list[dict[str, Any]]:
        query = (
            select(secrets_table)
            .where(secrets_table.c.deleted_ms.is_not(None))
            .order_by(secrets_table.c.deleted_ms)
        )
        return [_secret(r) for r in self._all(query)]

    def expired_trash(self, now_ms: int) -> list[str]:
        query = select(secrets_table.c.secret_id).where(
            secrets_table.c.deleted_ms < now_ms - TRASH_RETENTION_MS
        )
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def versions(self, secret_id: str) -> list[dict[str, Any]]:
        query = (
            select(secret_versions)
            .where(secret_versions.c.secret_id == secret_id)
            .order_by(secret_versions.c.number)
        )
        return [
            {
                "version": r["number"],
                "createdAt": r["created_ms"],
                "rolledBackFrom": r["rolled_back_from"],
            }
            for r in self._all(query)
        ]

    def audit_tail(self, limit: int = 50, since: int = 0) -> list[dict[str, Any]]:
        """The newest `limit` entries after time `since` (ms), newest last.

        Vault changes ("ledger", projected) and machine access ("access", its own
        append-only table) are merged here by time."""
        query = (
            select(audit_log)
            .where(audit_log.c.timestamp_ms > since)
            .order_by(
                audit_log.c.timestamp_ms.desc(),
                audit_log.c.log.desc(),
                audit_log.c.notification_id.desc(),
            )
            .limit(limit)
        )
        entries = [_audit(r) for r in self._all(query)]
        if self.access is not None:
            entries += [_access(r) for r in self.access.newest(limit, since)]
            entries.sort(key=lambda e: (e["timestamp"], e["log"] == "ledger"), reverse=True)
        return list(reversed(entries[:limit]))

    # -- machines --------------------------------------------------------------

    def machine_grants(self, machine_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(grants.c.secret_id).where(grants.c.machine_id == machine_id)
                )
            ]

    def canary_ids(self, project_id: str | None = None) -> list[str]:
        t = secrets_table.c
        query = select(t.secret_id).where(t.type == "canary").order_by(t.project_id, t.name)
        if project_id is not None:
            query = query.where(t.project_id == project_id)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def machine_projects(self, machine_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(memberships.c.project_id).where(memberships.c.machine_id == machine_id)
                )
            ]

    def machine_agencies(self, machine_id: str) -> list[str]:
        query = select(rotations.c.secret_id).where(rotations.c.agent_machine_id == machine_id)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def machines(self, status: str | None = None) -> list[dict[str, Any]]:
        grant_counts = (
            select(grants.c.machine_id, func.count().label("n"))
            .group_by(grants.c.machine_id)
            .subquery()
        )
        query = select(machines, func.coalesce(grant_counts.c.n, 0).label("grant_count")).outerjoin(
            grant_counts, grant_counts.c.machine_id == machines.c.machine_id
        )
        if status is not None:
            query = query.where(machines.c.status == status)
        rows = self._all(query.order_by(machines.c.created_ms))
        project_rows = self._all(select(memberships))
        projects_of: dict[str, list[str]] = {}
        for row in project_rows:
            projects_of.setdefault(row["machine_id"], []).append(row["project_id"])
        return [
            {
                "id": r["machine_id"],
                "name": r["name"],
                "hostname": r["hostname"],
                "status": r["status"],
                "enabled": bool(r["enabled"]),
                "projects": sorted(projects_of.get(r["machine_id"], [])),
                "grantCount": r["grant_count"],
                "createdAt": r["created_ms"],
                "updatedAt": r["updated_ms"],
                "kind": r["kind"],
                "expiresAt": r["expires_ms"],
            }
            for r in rows
        ]

    def expired_machines(self, now_ms: int) -> list[str]:
        """Approved, enabled machines at or past their expiry: the sweep's worklist."""
        query = select(machines.c.machine_id).where(
            machines.c.expires_ms <= now_ms,
            machines.c.enabled == 1,
            machines.c.status == "approved",
        )
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]
