"""Request-scoped dependencies: the operator session and the audit stamp."""

from __future__ import annotations

from typing import Any

from litestar import Request

from application.ports import SessionRecord
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed
from interfaces.bootstrap import Services

AnyRequest = Request[Any, Any, Any]


def client_ip(request: AnyRequest) -> str:
    return request.client.host if request.client else "unknown"


def provide_operator(request: AnyRequest, services: Services) -> SessionRecord:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Log in first: this endpoint needs an operator session")
    return services.accounts.session(token.strip())


def provide_stamp(request: AnyRequest, operator: SessionRecord) -> AuditStamp:
    return AuditStamp(ActorKind.USER, client_ip(request), user_id=operator.user_id)
