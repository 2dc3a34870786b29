"""The dashboard's pages: read models only, never a secret's value.

Every page reads through the services the operator API uses (read models, audit
search, the ledger's aggregates), so the dashboard cannot show what the API would not.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.response import Template

from domain.auditcatalogue import Severity
from domain.auditquery import AuditQuery
from domain.rotation import ERROR, UNHEALTHY
from domain.vault import Vault
from interfaces.bootstrap import Services
from interfaces.http.machines_admin import allowlist_json
from interfaces.web.session import Viewer, provide_viewer

NEWEST_ALERTS = 10


def page(name: str, viewer: Viewer, section: str, **context: Any) -> Template:
    return Template(
        template_name=name,
        context={"csrf": viewer.csrf, "section": section, **context},
        media_type=MediaType.HTML,
    )


def attention(statuses: list[dict[str, Any]]) -> dict[str, int]:
    """Managed secrets that need an operator: failed or held rotations, sick agents."""
    return {
        "failed": sum(1 for s in statuses if s["rotation"] == "failed"),
        "held": sum(1 for s in statuses if s.get("held")),
        "unhealthy": sum(1 for s in statuses if s["agent"] in (UNHEALTHY, ERROR)),
    }


def allowlist_of(vault: Vault | None) -> dict[str, Any]:
    """As GET /v1/admin/ipallowlist shows it."""
    return allowlist_json(vault) if vault else {"enabled": False, "entries": []}


def frozen_projects(services: Services, projects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Freezes live on the Project aggregate (the gate's own source of truth)."""
    return [p for p in projects if services.ledger.project(p["id"]).frozen]


class DashboardController(Controller):
    path = "/"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def overview(self, viewer: Viewer, services: Services) -> Template:
        services.catch_up()
        projects = services.read_models.projects()
        machines = services.read_models.machines()
        query = AuditQuery(
            severities=(Severity.CRITICAL.value, Severity.HIGH.value), page_size=NEWEST_ALERTS
        )
        return page(
            "overview.html",
            viewer,
            "overview",
            project_count=len(projects),
            secret_count=sum(p["secretCount"] for p in projects),
            machine_count=len(machines),
            pending=[m for m in machines if m["status"] == "pending"],
            frozen=frozen_projects(services, projects),
            managed=attention(services.rotations.managed_statuses()),
            alerts=services.audit_search.page(query)["entries"],
        )

    @get("/projects", sync_to_thread=True)
    def projects(self, viewer: Viewer, services: Services) -> Template:
        services.catch_up()
        projects = services.read_models.projects()
        frozen = {p["id"] for p in frozen_projects(services, projects)}
        return page("projects.html", viewer, "projects", projects=projects, frozen=frozen)

    @get("/machines", sync_to_thread=True)
    def machines(self, viewer: Viewer, services: Services) -> Template:
        services.catch_up()
        machines = services.read_models.machines()
        return page(
            "machines.html",
            viewer,
            "machines",
            machines=machines,
            pending=[m for m in machines if m["status"] == "pending"],
            allowlist=allowlist_of(services.ledger.vault()),
        )
