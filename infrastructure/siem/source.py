"""Where the exporter reads: the projected ledger audit rows and the access lanes.

Ledger entries come from the `rm_audit_log` read model (metadata only, ordered by
notification id); access records from `kl_access_records` in (lane, seq) order. Both
are read straight from the store, like `audit verify`: no server round trip per page.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, RowMapping

from application.siemexport import Position
from domain.siem.record import AuditRecord
from infrastructure.accessstore.tables import access_lanes, access_records
from infrastructure.database import audit_log


def _record(row: RowMapping, record_id: str, log: str) -> AuditRecord:
    return AuditRecord(
        id=record_id,
        log=log,
        timestamp_ms=row["timestamp_ms"],
        action=row["action"],
        severity=row["severity"],
        actor_kind=row["actor_kind"],
        source_ip=row["source_ip"],
        detail=row["detail"],
        user_id=row["user_id"],
        machine_id=row["machine_id"],
        ai_agent_id=row["ai_agent_id"],
        secret_id=row["secret_id"],
        project_id=row["project_id"],
    )


class SqlAuditSource:
    def __init__(self, ledger_engine: Engine, access_engine: Engine) -> None:
        self.ledger_engine = ledger_engine
        self.access_engine = access_engine

    def ledger_after(self, notification_id: int, limit: int) -> list[AuditRecord]:
        query = (
            select(audit_log)
            .where(audit_log.c.log == "ledger", audit_log.c.notification_id > notification_id)
            .order_by(audit_log.c.notification_id)
            .limit(limit)
        )
        with self.ledger_engine.connect() as conn:
            rows = conn.execute(query).mappings()
            return [_record(r, str(r["notification_id"]), "ledger") for r in rows]

    def lanes(self) -> list[str]:
        query = select(access_lanes.c.lane).order_by(access_lanes.c.started_ms, access_lanes.c.lane)
        with self.access_engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def lane_after(self, lane: str, seq: int, limit: int) -> list[AuditRecord]:
        query = (
            select(access_records)
            .where(access_records.c.lane == lane, access_records.c.seq > seq)
            .order_by(access_records.c.seq)
            .limit(limit)
        )
        with self.access_engine.connect() as conn:
            rows = conn.execute(query).mappings()
            return [_record(r, f"{lane}:{r['seq']}", "access") for r in rows]

    def head(self) -> Position:
        """After the newest record of each log: where a stream of "only new" starts."""
        newest = select(func.max(audit_log.c.notification_id)).where(audit_log.c.log == "ledger")
        with self.ledger_engine.connect() as conn:
            ledger = int(conn.execute(newest).scalar() or 0)
        lanes = {}
        with self.access_engine.connect() as conn:
            for lane in self.lanes():  # one index probe per lane, not a scan of the log
                top = select(func.max(access_records.c.seq)).where(access_records.c.lane == lane)
                lanes[lane] = int(conn.execute(top).scalar() or 0)
        return Position(ledger, lanes)

    def close(self) -> None:
        self.ledger_engine.dispose()
        self.access_engine.dispose()

    def count_after(self, position: Position) -> int:
        """How many records lie after `position` (the progress bar's total)."""
        ledger = select(func.count()).where(
            audit_log.c.log == "ledger", audit_log.c.notification_id > position.ledger
        )
        with self.ledger_engine.connect() as conn:
            total = int(conn.execute(ledger).scalar_one())
        with self.access_engine.connect() as conn:
            for lane in self.lanes():  # one index probe per lane, not a scan of the log
                newest = select(func.max(access_records.c.seq)).where(access_records.c.lane == lane)
                total += max(0, (conn.execute(newest).scalar() or 0) - position.lanes.get(lane, 0))
        return total
