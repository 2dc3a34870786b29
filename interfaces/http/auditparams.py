"""The audit query's parameters, declared so the OpenAPI document (and the dashboard)
sees them. They are declared as plain text and parsed from the raw query string by
domain.auditquery, which also refuses names nobody declared and bracket spellings."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from application.ports import SessionRecord
from domain.auditquery import AuditQuery, parse_query
from interfaces.http.deps import AnyRequest

Names = Annotated[
    list[str] | None,
    Parameter(description="Repeat or comma-separate; `actions[]` etc. also accepted."),
]


def _text(query: str, description: str) -> object:
    return Parameter(query=query, required=False, description=description)


def raw_params(request: AnyRequest) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


def provide_audit_query(
    operator: SessionRecord,  # resolved first: an anonymous caller gets 401, not 400
    request: AnyRequest,
    actions: Names = None,
    severities: Names = None,
    actor_kind: Annotated[
        list[str] | None, _text("actorKind", "user, machine, ai_agent, …")
    ] = None,
    actor_id: Annotated[str | None, _text("actorId", "A user, machine or AI agent id")] = None,
    machine_id: Annotated[str | None, _text("machineId", "Machine id")] = None,
    secret_id: Annotated[str | None, _text("secretId", "Secret id")] = None,
    project_id: Annotated[str | None, _text("projectId", "Project id")] = None,
    source_ip: Annotated[str | None, _text("sourceIp", "An address, sentinel or CIDR")] = None,
    search: Annotated[str | None, _text("search", "Text in the detail, any case")] = None,
    from_: Annotated[str | None, _text("from", "Inclusive; epoch ms or ISO-8601")] = None,
    to: Annotated[str | None, _text("to", "Exclusive; epoch ms or ISO-8601")] = None,
    sort_by: Annotated[str | None, _text("sortBy", "timestamp, action, severity, sourceIp")] = None,
    sort_dir: Annotated[str | None, _text("sortDir", "desc (default) or asc")] = None,
    page: Annotated[str | None, _text("page", "From 1")] = None,
    page_size: Annotated[str | None, _text("pageSize", "1-200, default 50")] = None,
    format_: Annotated[str | None, _text("format", "json (default) or csv")] = None,
) -> tuple[AuditQuery, str]:
    return parse_query(raw_params(request))
