"""SQL adapters for the rotation ports: agent heartbeats and the scheduler's queries."""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.engine import Engine

from domain.rotation import ERROR, HEALTHY
from infrastructure.database import heartbeats, projects, rotations


class SqlHeartbeatStore:
    """Last heartbeat per managed secret: one row rewritten every 30 s, not an event."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def beat(self, secret_id: str, machine_id: str, now_ms: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(heartbeats).where(heartbeats.c.secret_id == secret_id))
            conn.execute(
                insert(heartbeats).values(
                    secret_id=secret_id, machine_id=machine_id, beat_ms=now_ms
                )
            )

    def last(self, secret_id: str, machine_id: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(heartbeats.c.beat_ms).where(
                    heartbeats.c.secret_id == secret_id, heartbeats.c.machine_id == machine_id
                )
            ).scalar()
        return int(value) if value is not None else None


class SqlRotationDirectory:
    """The read model's view of schedules: which are due, which agents to watch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def due(self, now_ms: int) -> list[tuple[str, int]]:
        query = select(rotations.c.secret_id, rotations.c.next_due_ms).where(
            rotations.c.enabled == 1,
            rotations.c.cancelled == 0,
            rotations.c.failed == 0,
            rotations.c.pending_rotation_id.is_(None),
            rotations.c.next_due_ms <= now_ms,
            rotations.c.project_id.not_in(  # a project in the trash rotates nothing
                select(projects.c.project_id).where(projects.c.deleted_ms.is_not(None))
            ),
        )
        with self.engine.connect() as conn:
            return [(str(r[0]), int(r[1])) for r in conn.execute(query.limit(500))]

    def watched(self) -> list[str]:
        query = select(rotations.c.secret_id).where(
            rotations.c.managed == 1,
            rotations.c.cancelled == 0,
            or_(
                rotations.c.agent_status.in_((HEALTHY, ERROR)),
                and_(rotations.c.pending_rotation_id.is_not(None), rotations.c.held == 0),
            ),
        )
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]

    def managed(self) -> list[str]:
        query = (
            select(rotations.c.secret_id)
            .where(rotations.c.managed == 1, rotations.c.cancelled == 0)
            .order_by(rotations.c.project_id, rotations.c.secret_id)
        )
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]
