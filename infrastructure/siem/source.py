"""Where the exporter reads: the projected ledger audit rows and the access lanes.

Ledger entries come from the `rm_audit_log` read model (metadata only, ordered by
notification id); access records from `kl_access_records` in (lane, seq) order. Both
are read straight from the store, like `audit verify`: no server round trip per page.
A page is one query per log, its rows read as plain tuples (the export's hot path).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from application.siemexport import Position
from domain.siem.record import AuditRecord
from infrastructure.accessstore.tables import access_lanes, access_records
from infrastructure.database import audit_log

# After id and log, `AuditRecord`'s fields in order: a row is a record as it comes.
FIELDS = ", ".join(
    (
        "timestamp_ms",
        "action",
        "severity",
        "actor_kind",
        "source_ip",
        "detail",
        "user_id",
        "machine_id",
        "ai_agent_id",
        "secret_id",
        "project_id",
    )
)
# Built from constants only (table and column names); values are bound parameters.
# The id is aliased: PostgreSQL names `CAST(notification_id AS TEXT)` after its column,
# and ORDER BY would then sort the text ("10" before "2") instead of the number.
LEDGER_PAGE = (
    f"SELECT CAST(notification_id AS TEXT) AS record_id, 'ledger', {FIELDS}"  # noqa: S608
    f" FROM {audit_log.name}"
    " WHERE log = 'ledger' AND notification_id > {mark}{only}"
    " ORDER BY notification_id LIMIT {mark}"
)
LANE_PAGE = (
    f"SELECT lane || ':' || CAST(seq AS TEXT) AS record_id, 'access', {FIELDS}"  # noqa: S608
    f" FROM {access_records.name}"
    " WHERE lane = {mark} AND seq > {mark}{only} ORDER BY seq LIMIT {mark}"
)

# The newest records up to a mark, newest first (a tail's start).
LEDGER_BACK = (
    f"SELECT CAST(notification_id AS TEXT) AS record_id, 'ledger', {FIELDS}"  # noqa: S608
    f" FROM {audit_log.name}"
    " WHERE log = 'ledger' AND notification_id <= {mark}{only}"
    " ORDER BY notification_id DESC LIMIT {mark}"
)
LANE_BACK = (
    f"SELECT lane || ':' || CAST(seq AS TEXT) AS record_id, 'access', {FIELDS}"  # noqa: S608
    f" FROM {access_records.name}"
    " WHERE lane = {mark} AND seq <= {mark}{only} ORDER BY seq DESC LIMIT {mark}"
)


def _page(
    engine: Engine,
    sql: str,
    after: tuple[object, ...],
    limit: int,
    actions: Collection[str] | None,
) -> list[AuditRecord]:
    """One query on the driver's own cursor: a page is thousands of rows, and the
    rows need no conversion, so SQLAlchemy's row objects would only cost time.
    `actions` filters in SQL (the outreach follower skips reads nobody listens to
    without bringing them into Python); one bound parameter per action."""
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    chosen = tuple(sorted(actions)) if actions is not None else ()
    only = "" if actions is None else f" AND action IN ({', '.join([mark] * len(chosen))})"
    if actions is not None and not chosen:
        return []
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql.format(mark=mark, only=only), (*after, *chosen, limit))
            rows = cursor.fetchall()
        finally:
            cursor.close()
    return [AuditRecord(*row) for row in rows]


class SqlAuditSource:
    def __init__(self, ledger_engine: Engine, access_engine: Engine) -> None:
        self.ledger_engine = ledger_engine
        self.access_engine = access_engine

    def ledger_after(
        self, notification_id: int, limit: int, actions: Collection[str] | None = None
    ) -> list[AuditRecord]:
        return _page(self.ledger_engine, LEDGER_PAGE, (notification_id,), limit, actions)

    def lanes(self) -> list[str]:
        query = select(access_lanes.c.lane).order_by(access_lanes.c.started_ms, access_lanes.c.lane)
        with self.access_engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def lane_after(
        self, lane: str, seq: int, limit: int, actions: Collection[str] | None = None
    ) -> list[AuditRecord]:
        return _page(self.access_engine, LANE_PAGE, (lane, seq), limit, actions)

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

    def since(self, since_ms: int) -> Position:
        """Just before the first record stamped at or after `since_ms`, in every log
        (one index probe per log: each is kept in time order per lane)."""
        first = select(func.min(audit_log.c.notification_id)).where(
            audit_log.c.log == "ledger", audit_log.c.timestamp_ms >= since_ms
        )
        with self.ledger_engine.connect() as conn:
            found = conn.execute(first).scalar()
        head = self.head()
        ledger = head.ledger if found is None else int(found) - 1
        lanes = {}
        with self.access_engine.connect() as conn:
            for lane, top in head.lanes.items():
                probe = select(func.min(access_records.c.seq)).where(
                    access_records.c.lane == lane, access_records.c.timestamp_ms >= since_ms
                )
                seq = conn.execute(probe).scalar()
                lanes[lane] = top if seq is None else int(seq) - 1
        return Position(ledger, lanes)

    def back(self, count: int) -> Position:
        """Just before the newest `count` records of both logs together."""
        head = self.head()
        newest = self.ledger_before(head.ledger, count)
        for lane, top in head.lanes.items():
            newest += self.lane_before(lane, top, count)
        newest.sort(key=lambda r: r.timestamp_ms)
        ledger, lanes = head.ledger, dict(head.lanes)
        for record in newest[max(0, len(newest) - count) :] if count > 0 else []:
            if record.log == "ledger":
                ledger = min(ledger, int(record.id) - 1)
            else:
                lane, seq = record.id.rsplit(":", 1)
                lanes[lane] = min(lanes[lane], int(seq) - 1)
        return Position(ledger, lanes)

    def ledger_before(self, notification_id: int, limit: int) -> list[AuditRecord]:
        return _page(self.ledger_engine, LEDGER_BACK, (notification_id,), limit, None)

    def lane_before(self, lane: str, seq: int, limit: int) -> list[AuditRecord]:
        return _page(self.access_engine, LANE_BACK, (lane, seq), limit, None)

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
