"""How the composition root mounts the dashboard: one Router (pages, login, static
files) with the security headers on every response, and the Jinja2 template config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from interfaces.http.deps import AnyRequest
from interfaces.web.allowlist_pages import AllowlistActions
from interfaces.web.audit_pages import AuditPagesController, CanaryPagesController
from interfaces.web.auth import LoginController
from interfaces.web.docker_pages import DockerPages
from interfaces.web.enrollment_pages import EnrollmentPages
from interfaces.web.evidence_pages import EvidencePagesController
from interfaces.web.managed_pages import ManagedPages
from interfaces.web.outreach_pages import OutreachPages
from interfaces.web.pages import DashboardController
from interfaces.web.policy_pages import PolicyPages
from interfaces.web.secret_actions import SecretActions
from interfaces.web.secret_pages import SecretPages
from interfaces.web.session import LoginRequired, add_security_headers
from interfaces.web.share_pages import SharePage, SharesPages
from interfaces.web.vault_pages import VaultActions

HERE = Path(__file__).parent


def when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["when"] = when


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_filters
    )


def to_login(request: AnyRequest, exc: LoginRequired) -> Redirect:
    return Redirect("/login", status_code=303)


def web_router() -> Router:
    static = create_static_files_router(path="/static", directories=[HERE / "static"])
    return Router(
        path="/",
        route_handlers=[
            LoginController,
            DashboardController,
            AuditPagesController,
            CanaryPagesController,
            VaultActions,
            SecretPages,
            SecretActions,
            ManagedPages,
            OutreachPages,
            SharePage,
            SharesPages,
            AllowlistActions,
            EvidencePagesController,
            DockerPages,
            EnrollmentPages,
            PolicyPages,
            static,
        ],
        after_request=add_security_headers,
        exception_handlers={LoginRequired: to_login},
        include_in_schema=False,
    )


__all__: list[Any] = ["template_config", "web_router"]
