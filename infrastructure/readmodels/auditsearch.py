"""The audit query over both logs: vault events (rm_audit_log) and machine access
(kl_access_records), filtered, sorted and paged as one list.

Each log is filtered and sorted on its own and cut at offset + page size, then the
two are merged, sorted again and paged: a page and its total are the same as if the
logs were one table, and each side reads at most what the page needs. PostgreSQL
keeps both tables in one database; embedded mode ATTACHes access.sqlite as `acc` to
a query-only state.sqlite connection, so one SQL statement sees both.
"""

from __future__ import annotations

import functools
import ipaddress
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import (
    MetaData,
    Select,
    Table,
    and_,
    case,
    cast,
    create_engine,
    false,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.elements import ColumnElement

from domain.auditcatalogue import Severity
from domain.auditquery import AuditQuery
from infrastructure.accessstore.tables import access_records
from infrastructure.database import audit_log
from infrastructure.readmodels.queries import audit_fields

# Higher = more severe, so "severity desc" lists critical first.
SEVERITY_WEIGHT = {s.value: len(Severity) - rank for rank, s in enumerate(Severity)}
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"^{_OCTET}(\.{_OCTET}){{3}}$"

# PostgreSQL: a text that may not be an address becomes NULL instead of an error.
PG_INET = """
CREATE OR REPLACE FUNCTION kl_inet(value text) RETURNS inet
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN value::inet;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$
"""


@functools.lru_cache(maxsize=64)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def sqlite_ip_in(source_ip: str | None, cidr: str) -> int:
    """SQLite's `kl_ip_in(source_ip, cidr)`: 1 if the address is in the network."""
    if not source_ip:
        return 0
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return 0  # a sentinel such as "system"
    return int(address in _network(cidr))


def ipv4_text_prefix(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """The text every address of an IPv4 network starts with ("10.1." for 10.1.0.0/16),
    or None when no octet is fixed (or for IPv6, whose text forms vary)."""
    fixed = min(network.prefixlen // 8, 3)  # the last octet has no "." after it
    if network.version != 4 or fixed == 0:
        return None
    octets = str(network.network_address).split(".")[:fixed]
    return ".".join(octets) + "."


def embedded_engine(state: Path, access: Path) -> Engine:
    """Connections on state.sqlite with access.sqlite attached as `acc`, both read-only.

    `query_only` refuses every write on the connection (both files). Not `mode=ro`:
    a read-only open of a WAL database fails when its -shm file is missing, which a
    checkpoint by another process can leave so; `mode=rw` still never creates a file."""

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(
            state.resolve().as_uri() + "?mode=rw", uri=True, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("ATTACH DATABASE ? AS acc", (access.resolve().as_uri() + "?mode=rw",))
        conn.execute("PRAGMA query_only=1")
        conn.create_function("kl_ip_in", 2, sqlite_ip_in, deterministic=True)
        return conn

    return create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=4)


def _columns(table: Table, log: Any, lane: Any, seq: Any) -> list[Any]:
    c = table.c
    return [
        log.label("log"),
        lane.label("lane"),
        seq.label("seq"),
        c.action,
        c.severity,
        c.actor_kind,
        c.user_id,
        c.machine_id,
        c.ai_agent_id,
        c.secret_id,
        c.project_id,
        c.source_ip,
        c.detail,
        c.timestamp_ms,
    ]


def _order(cols: Any, query: AuditQuery) -> list[Any]:
    first: Any = {
        "timestamp": cols.timestamp_ms,
        "action": cols.action,
        "severity": case(SEVERITY_WEIGHT, value=cols.severity, else_=0),
        "sourceIp": cols.source_ip,
    }[query.sort_by]
    keys = [first, cols.timestamp_ms, cols.log, cols.lane, cols.seq]
    return [k.desc() if query.descending else k.asc() for k in keys]


class AuditSearch:
    """Runs `AuditQuery`s. `engine` sees both tables (see the module docstring)."""

    def __init__(self, engine: Engine, *, owns_engine: bool) -> None:
        self.engine = engine
        self.owns_engine = owns_engine
        self.postgres = engine.dialect.name == "postgresql"
        self.access = (
            access_records
            if self.postgres
            else access_records.to_metadata(MetaData(), schema="acc")
        )
        if self.postgres:
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(7210420010)"))
                conn.execute(text(PG_INET))

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()

    def _ip_in(self, column: Any, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Any:
        """Containment in SQL. SQLite: a Python function (the ipaddress module).
        PostgreSQL: inet `<<=`; IPv4 text is cast only once it is known to be a dotted
        quad, anything else through kl_inet, which yields NULL rather than an error."""
        if not self.postgres:
            inside = func.kl_ip_in(column, str(network)) == 1
            prefix = ipv4_text_prefix(network)
            if prefix is None:
                return inside
            # Binary collation: every dotted quad in the network sorts within
            # [prefix, prefix with its final "." as "/"), so the (source_ip, time)
            # index narrows the rows the Python function sees.
            return and_(column >= prefix, column < prefix[:-1] + "/", inside)
        net = cast(literal(str(network)), INET)
        if network.version == 4:
            return case(
                (column.regexp_match(IPV4), cast(column, INET).op("<<=")(net)), else_=false()
            )
        return and_(func.strpos(column, ":") > 0, func.kl_inet(column, type_=INET).op("<<=")(net))

    def _where(self, table: Table, query: AuditQuery) -> list[ColumnElement[bool]]:
        c = table.c
        where: list[ColumnElement[bool]] = []
        if query.actions:
            where.append(c.action.in_(query.actions))
        if query.severities:
            where.append(c.severity.in_(query.severities))
        if query.actor_kinds:
            where.append(c.actor_kind.in_(query.actor_kinds))
        if query.actor_id is not None:
            who = query.actor_id
            where.append(or_(c.user_id == who, c.machine_id == who, c.ai_agent_id == who))
        for column, value in (
            (c.machine_id, query.machine_id),
            (c.secret_id, query.secret_id),
            (c.project_id, query.project_id),
        ):
            if value is not None:
                where.append(column == value)
        if query.source_ips:
            where.append(c.source_ip.in_(query.source_ips))
        if query.network is not None:
            where.append(self._ip_in(c.source_ip, query.network))
        if query.search is not None:
            where.append(c.detail.icontains(query.search, autoescape=True))
        if query.from_ms is not None:
            where.append(c.timestamp_ms >= query.from_ms)
        if query.to_ms is not None:
            where.append(c.timestamp_ms < query.to_ms)
        return where

    def _arms(self, query: AuditQuery) -> list[Any]:
        ledger = select(
            *_columns(audit_log, audit_log.c.log, literal(""), audit_log.c.notification_id)
        ).where(*self._where(audit_log, query))
        acc = self.access
        access = select(*_columns(acc, literal("access"), acc.c.lane, acc.c.seq)).where(
            *self._where(acc, query)
        )
        return [ledger, access]

    def _total(self, query: AuditQuery) -> Select[Any]:
        counts = [
            select(func.count()).select_from(arm.subquery()).scalar_subquery()
            for arm in self._arms(query)
        ]
        return select(counts[0] + counts[1])

    def total(self, query: AuditQuery) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(self._total(query)).scalar_one())

    def _rows(self, query: AuditQuery, offset: int, limit: int) -> Select[Any]:
        cut = offset + limit
        arms = []
        for arm in self._arms(query):
            inner = arm.subquery()
            arms.append(select(inner).order_by(*_order(inner.c, query)).limit(cut).subquery())
        merged = union_all(*(select(arm) for arm in arms)).subquery()
        return select(merged).order_by(*_order(merged.c, query)).offset(offset).limit(limit)

    def rows(self, query: AuditQuery, offset: int, limit: int) -> list[RowMapping]:
        """`limit` entries from `offset` in the query's order, over both logs."""
        with self.engine.connect() as conn:
            return list(conn.execute(self._rows(query, offset, limit)).mappings())

    def page(self, query: AuditQuery) -> dict[str, Any]:
        # One connection for both statements: a checkout (and its liveness ping on
        # PostgreSQL) per statement was a fifth of a page's time, the SQL itself ~1 ms.
        with self.engine.connect() as conn:
            rows = conn.execute(self._rows(query, query.offset, query.page_size)).mappings()
            entries = [entry(r) for r in rows]
            total = int(conn.execute(self._total(query)).scalar_one())
        return {
            "entries": entries,
            "total": total,
            "page": query.page,
            "pageSize": query.page_size,
        }


def entry(row: RowMapping) -> dict[str, Any]:
    """The same shape as GET /v1/admin/audit's entries."""
    access = row["log"] == "access"
    return {"id": f"{row['lane']}:{row['seq']}" if access else row["seq"], **audit_fields(row)}
