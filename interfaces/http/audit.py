"""Operator audit endpoints: the action catalogue and the query over both logs (JSON, CSV)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.params import SkipValidation

from application.ports import SessionRecord
from domain.auditcatalogue import CATALOGUE
from domain.auditquery import CSV_MAX_ROWS, AuditQuery
from infrastructure.readmodels.auditsearch import entry
from interfaces.bootstrap import Services
from interfaces.http.auditparams import provide_audit_query
from interfaces.http.deps import provide_operator

CSV_COLUMNS = (
    ("id", "id"),
    ("log", "log"),
    ("timestamp", "timestamp"),
    ("time", "timestamp"),
    ("action", "action"),
    ("severity", "severity"),
    ("actorKind", "actorKind"),
    ("userId", "userId"),
    ("machineId", "machineId"),
    ("aiAgentId", "aiAgentId"),
    ("secretId", "secretId"),
    ("projectId", "projectId"),
    ("sourceIp", "sourceIp"),
    ("detail", "detail"),
)
# Not re-validated by Litestar: parse_query built it, and an ip_network has no schema.
Parsed = SkipValidation[tuple[AuditQuery, str]]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: no formula from a name or a detail."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def csv_response(services: Services, query: AuditQuery) -> Response[str]:
    total = services.audit_search.total(query)
    rows = services.audit_search.rows(query, 0, CSV_MAX_ROWS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for row in rows:
        e = entry(row)
        writer.writerow(
            [iso(e[key]) if name == "time" else cell(e[key]) for name, key in CSV_COLUMNS]
        )
    truncated = total > len(rows)
    headers = {
        "X-Keyledger-Total": str(total),
        "X-Keyledger-Truncated": "true" if truncated else "false",
        "Content-Disposition": 'attachment; filename="keyledger-audit.csv"',
    }
    # Litestar appends "; charset=utf-8" to a text/* media type itself (given here too,
    # the header carried it twice).
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


class AuditController(Controller):
    path = "/v1/admin/audit"
    tags = ["operator"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "parsed": Provide(provide_audit_query, sync_to_thread=False),
    }

    @get("/actions", sync_to_thread=True)
    def actions(self, operator: SessionRecord) -> dict[str, Any]:
        """Every audit action keyledger records, with its severity and category."""
        return {
            "actions": [
                {
                    "action": e.action,
                    "severity": e.severity.value,
                    "category": e.category,
                    "actorKinds": [k.value for k in e.actor_kinds],
                }
                for e in CATALOGUE
            ]
        }

    @get("/query", sync_to_thread=True)
    def query(self, parsed: Parsed, services: Services) -> Response[Any]:
        """Both logs, filtered, sorted and paged (`format=csv`: see /query.csv)."""
        query, fmt = parsed
        services.catch_up()
        if fmt == "csv":
            return csv_response(services, query)
        return Response(services.audit_search.page(query))

    @get("/query.csv", sync_to_thread=True)
    def query_csv(self, parsed: Parsed, services: Services) -> Response[str]:
        """The same filters as /query, as CSV: the first 10,000 rows in the query's order
        (page and pageSize are ignored); `X-Keyledger-Truncated: true` when cut."""
        services.catch_up()
        return csv_response(services, parsed[0])
