"""The dashboard's audit pages: the query over both logs (and its CSV), the live view
fed by the same server-sent event stream as /v1/admin/audit/stream, and verification.

Each route calls what the operator API calls (domain.auditquery.parse_query, the audit
search, the audit CSV, the stream hub, the verifier); only the authentication differs:
the dashboard's session cookie instead of a bearer token.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, ServerSentEvent, Template

from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.auditcatalogue import CATALOGUE, Severity
from domain.auditquery import parse_query
from domain.errors import InvalidInput, NotFound
from interfaces.bootstrap import Services
from interfaces.http.audit import csv_response
from interfaces.http.auditparams import raw_params
from interfaces.http.auditstream import StreamHub, follow, start
from interfaces.http.deps import AnyRequest, client_ip
from interfaces.web.auth import Form
from interfaces.web.pages import frozen_projects, page
from interfaces.web.session import (
    SESSION_COOKIE,
    Viewer,
    check_csrf,
    provide_viewer,
    still_open,
)
from interfaces.web.stream_guard import check_every, while_open
from interfaces.web.vault_pages import REFUSED, done, refused, user_stamp

SORTS = ("timestamp", "action", "severity", "sourceIp")


def filters(request: AnyRequest) -> dict[str, list[str]]:
    """The form's fields as the API's query parameters; a field left empty is no filter."""
    given = raw_params(request)
    return {k: kept for k, v in given.items() if (kept := [x for x in v if x])}


def link(params: dict[str, list[str]], **extra: str) -> str:
    """A query string of the filters (plus `extra`), for paging and the CSV link."""
    pairs = [(k, v) for k, values in params.items() if k != "page" for v in values]
    return urlencode(pairs + list(extra.items()))


def shown(detail: Any) -> str:
    return detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)


class AuditPagesController(Controller):
    path = "/audit"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def query(self, viewer: Viewer, services: Services, request: AnyRequest) -> Template:
        """The filter form and one page of results; a bad filter is a 400 on the page."""
        params = filters(request)
        context: dict[str, Any] = {
            "params": params,
            "actions": [e.action for e in CATALOGUE],
            "severities": [s.value for s in Severity],
            "sorts": SORTS,
            "shown": shown,
        }
        try:
            query, _ = parse_query(params)
        except InvalidInput as bad:
            refused = page("audit.html", viewer, "audit", error=str(bad), **context)
            refused.status_code = 400
            return refused
        services.catch_up()
        result = services.audit_search.page(query)
        last = max(1, -(-result["total"] // query.page_size))
        return page(
            "audit.html",
            viewer,
            "audit",
            result=result,
            last=last,
            previous=link(params, page=str(query.page - 1)) if query.page > 1 else "",
            next=link(params, page=str(query.page + 1)) if query.page < last else "",
            csv=link(params),
            **context,
        )

    @get("/query.csv", sync_to_thread=True)
    def query_csv(self, viewer: Viewer, services: Services, request: AnyRequest) -> Response[str]:
        """The operator API's CSV for the same filters (400 `{"error"}` when bad)."""
        query, _ = parse_query(filters(request))
        services.catch_up()
        return csv_response(services, query)

    @get("/live", sync_to_thread=False)
    def live(self, viewer: Viewer) -> Template:
        return page("audit_live.html", viewer, "live")

    @get("/stream")
    async def stream(
        self,
        viewer: Viewer,
        services: Services,
        request: Request,  # type: ignore[type-arg]
    ) -> ServerSentEvent:
        """The events of GET /v1/admin/audit/stream, on the session cookie, until the
        session ends (logout, idle, absolute timeout)."""
        hub: StreamHub = request.app.state["audit_streams"]
        cursor = request.headers.get("last-event-id")
        source = services.audit_source
        position = await anyio.to_thread.run_sync(start, source, cursor, None, None)
        slot = hub.claim()
        token = request.cookies.get(SESSION_COOKIE, "")
        guarded = while_open(
            follow(source, position, hub, slot),
            lambda: still_open(token, services),
            check_every(services.settings.session_idle_seconds),
        )
        return ServerSentEvent(
            guarded,
            background=BackgroundTask(slot.release),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @get("/verify", sync_to_thread=True)
    def verify(self, viewer: Viewer, services: Services) -> Template:
        """The same verification as GET /v1/admin/audit/verify, run on page load."""
        return page("audit_verify.html", viewer, "verify", report=services.audit.verify().as_json())

    @get("/history", sync_to_thread=True)
    def history(
        self, viewer: Viewer, services: Services, at: str = "", secret: str = ""
    ) -> Template:
        """The vault as of a time, or who could read a secret then (application/pointintime),
        from the same service as GET /v1/admin/audit/as-of and /who-could-read."""
        context: dict[str, Any] = {"at": at[:64], "secret": secret[:64]}
        status = 200
        try:
            if at and secret:
                context["could"] = services.point_in_time.who_could_read(secret[:64], at[:64])
            elif at:
                context["state"] = services.point_in_time.as_of(at[:64])
        except (InvalidInput, NotFound) as bad:
            context["error"] = str(bad)
            status = 404 if isinstance(bad, NotFound) else 400
        shown = page("audit_history.html", viewer, "history", **context)
        shown.status_code = status
        return shown


class CanaryPagesController(Controller):
    """Canaries and freezes: the tripwire's side of the dashboard (alerts and webhooks
    are in outreach_pages.py)."""

    path = "/"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/canaries", sync_to_thread=True)
    def canaries(self, viewer: Viewer, services: Services) -> Template:
        """Every canary with its fire count and last trip, and the frozen projects."""
        services.catch_up()
        projects = services.read_models.projects()
        return page(
            "canaries.html",
            viewer,
            "canaries",
            canaries=services.canaries.list(),
            projects=[p for p in projects if "deletedAt" not in p],
            names={p["id"]: p["name"] for p in projects},
            frozen=frozen_projects(services, projects),
        )

    @post("/canaries/unfreeze/{project_id:str}", sync_to_thread=True)
    def unfreeze(
        self, project_id: str, data: Form, viewer: Viewer, services: Services, request: AnyRequest
    ) -> Redirect:
        """POST /v1/admin/projects/{id}/unfreeze's service, behind the form's CSRF token."""
        check_csrf(viewer.csrf, data)
        stamp = AuditStamp(ActorKind.USER, client_ip(request), user_id=viewer.session.user_id)
        services.freezes.unfreeze(ids.require(ids.PROJECT, project_id), stamp)
        services.catch_up()
        return Redirect("/canaries", status_code=303)

    @post("/canaries", sync_to_thread=True)
    def create_canary(
        self, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """POST /v1/admin/canaries's service: the value is server-generated, never shown.
        An unticked box is off (HTML sends nothing for it)."""
        check_csrf(viewer.csrf, data)
        try:
            services.canaries.create(
                ids.require(ids.PROJECT, str(data.get("project_id", ""))),
                str(data.get("name", "")).strip(),
                user_stamp(request, viewer),
                freeze_project=bool(data.get("freeze_project")),
                freeze_related=bool(data.get("freeze_related")),
                armed=bool(data.get("armed")),
            )
        except REFUSED as error:
            return refused(viewer, str(error), "/canaries", "canaries")
        services.catch_up()
        return done("/canaries", "canary-created")

    @post("/canaries/{secret_id:str}/{verb:str}", sync_to_thread=True)
    def arm(
        self,
        secret_id: str,
        verb: str,
        data: Form,
        request: AnyRequest,
        viewer: Viewer,
        services: Services,
    ) -> Any:
        """Arm or disarm: /v1/admin/canaries/{id}/arm|disarm's service."""
        check_csrf(viewer.csrf, data)
        if verb not in ("arm", "disarm"):
            raise NotFoundException(f"No action {verb}")
        try:
            secret_id = ids.require(ids.SECRET, secret_id)
            services.canaries.set_armed(secret_id, verb == "arm", user_stamp(request, viewer))
        except REFUSED as error:
            return refused(viewer, str(error), "/canaries", "canaries")
        services.catch_up()
        return done("/canaries", f"canary-{verb}")
