"""The dashboard's Alerts page and its forms: which actions mail the operator, the SMTP
server (password write-only), a sample mail, and webhooks (add, test, enable, disable,
delete).

Each form calls the service behind the operator API (/v1/admin/alerts, /webhooks), so
validation is the same: a refused form re-renders the page with the error (400) and
nothing is saved. A webhook's signing secret is shown on the page that answers its
creation and never again, like POST /v1/admin/webhooks.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from application.alerts import SECURITIES, catalogue_json, validate_smtp
from domain import ids
from domain.errors import InvalidInput
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.web.auth import Form
from interfaces.web.pages import page
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, done, form_field, user_stamp

BACK = "/alerts"
WEBHOOK_VERBS = ("enable", "disable", "delete", "test")
SAFE_FIELDS = ("host", "port", "from", "to", "security", "user", "url")  # echoed on refusal


def many(form: dict[str, Any], name: str) -> list[str]:
    """A repeated form field (checkboxes) as a list, whether sent zero, one or n times."""
    given = form.get(name, [])
    return [str(v) for v in (given if isinstance(given, list) else [given])]


def alerts_page(
    viewer: Viewer,
    services: Services,
    error: str = "",
    form: dict[str, Any] | None = None,
    ticked: list[str] | None = None,
) -> Template:
    """The page itself; after a refusal, with the error and what was typed (never a
    password), and the webhook form's ticked actions."""
    typed = {k: str(v) for k, v in (form or {}).items() if k in SAFE_FIELDS}
    shown = page(
        "alerts.html",
        viewer,
        "alerts",
        alerts=services.alerts.status(),
        hooks=[w.as_json() for w in services.webhooks.all()],
        catalogue=catalogue_json(),
        securities=SECURITIES,
        error=error,
        typed=typed,
        ticked=set(ticked or ()),
    )
    if error:
        shown.status_code = 400
    return shown


class OutreachPages(Controller):
    path = "/alerts"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def alerts(self, viewer: Viewer, services: Services) -> Template:
        """Alert mail settings (never the SMTP password) and webhook health."""
        return alerts_page(viewer, services)

    @post("/actions", sync_to_thread=True)
    def set_actions(
        self, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """The ticked actions replace the whole set (none ticked: no mail at all); the
        severity buttons choose every critical (and high) action instead."""
        check_csrf(viewer.csrf, data)
        stamp = user_stamp(request, viewer)
        preset = form_field(data, "preset")
        try:
            if preset in ("critical", "critical-high"):
                services.alerts.set_severities(True, preset == "critical-high", stamp)
            elif preset:
                raise InvalidInput(f"Unknown choice {preset[:40]}")
            else:
                services.alerts.set_actions(many(data, "actions"), stamp)
        except REFUSED as error:
            return alerts_page(viewer, services, str(error), data)
        return done(BACK, "alerts-saved")

    @post("/smtp", sync_to_thread=True)
    def smtp(self, data: Form, request: AnyRequest, viewer: Viewer, services: Services) -> Any:
        """The SMTP server; a blank password keeps the one set unless "Remove" is ticked."""
        check_csrf(viewer.csrf, data)
        try:
            port = form_field(data, "port")
            if not port.isdigit() or len(port) > 5:
                raise InvalidInput("SMTP port must be between 1 and 65535")
            smtp = validate_smtp(
                form_field(data, "host"),
                int(port),
                form_field(data, "from"),
                form_field(data, "to").split(","),
                form_field(data, "security") or "none",
                form_field(data, "user") or None,
            )
            password = str(data.get("password", "")) or None  # never stripped or echoed
            keep = not data.get("clear_password")
            services.alerts.set_smtp(
                smtp, password, user_stamp(request, viewer), keep_password=keep
            )
        except REFUSED as error:
            return alerts_page(viewer, services, str(error), data)
        return done(BACK, "smtp-saved")

    @post("/test", sync_to_thread=True)
    def test_mail(self, data: Form, request: AnyRequest, viewer: Viewer, services: Services) -> Any:
        """One sample alert mail now, as `keyledger alerts test`."""
        check_csrf(viewer.csrf, data)
        outcome = services.outreach.send_sample_mail()
        sent = "sent" if outcome["sent"] else str(outcome["error"])
        services.alerts.record_test(user_stamp(request, viewer), sent)
        if not outcome["sent"]:
            return alerts_page(viewer, services, f"The sample mail was not sent: {sent}")
        return done(BACK, "mail-sent")

    @post("/webhooks", sync_to_thread=True)
    def add_webhook(
        self, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """Shown once in this response (no redirect: a signing secret never goes in a URL)."""
        check_csrf(viewer.csrf, data)
        try:
            webhook, secret = services.webhooks.add(
                form_field(data, "url"), many(data, "actions"), user_stamp(request, viewer)
            )
        except REFUSED as error:
            return alerts_page(viewer, services, str(error), data, many(data, "actions"))
        return Template(
            template_name="webhook_created.html",
            context={
                "csrf": viewer.csrf,
                "section": "alerts",
                "hook": webhook.as_json(),
                "secret": secret,
            },
            media_type=MediaType.HTML,
        )

    @post("/webhooks/{webhook_id:str}/{verb:str}", sync_to_thread=True)
    def webhook_action(
        self,
        webhook_id: str,
        verb: str,
        data: Form,
        request: AnyRequest,
        viewer: Viewer,
        services: Services,
    ) -> Redirect | Template:
        """enable, disable, delete (the Webhooks method `remove`) or a signed sample."""
        check_csrf(viewer.csrf, data)
        if verb not in WEBHOOK_VERBS:
            raise NotFoundException(f"No action {verb}")
        stamp = user_stamp(request, viewer)
        try:
            services.webhooks.get(ids.require(ids.WEBHOOK, webhook_id))
            if verb == "test":
                outcome = services.outreach.send_sample(webhook_id)
                services.webhooks.record_test(webhook_id, stamp)
                if not outcome.get("delivered"):
                    why = outcome.get("error") or f"HTTP {outcome.get('status')}"
                    raise InvalidInput(f"The sample was not taken: {why}")
            else:
                getattr(services.webhooks, "remove" if verb == "delete" else verb)(
                    webhook_id, stamp
                )
        except REFUSED as error:
            return alerts_page(viewer, services, str(error))
        return done(BACK, f"webhook-{verb}")
