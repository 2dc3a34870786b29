"""Operator endpoints for email alerts: the alertable actions, the enabled set (replaced
whole), the SMTP server (password write-only), a sample mail, and delivery status."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from application.alerts import catalogue_json, validate_smtp
from domain.audit import AuditStamp
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator, provide_stamp
from interfaces.http.schemas import AlertActionsBody, SmtpBody


class AlertAdminController(Controller):
    path = "/v1/admin/alerts"
    tags = ["alerts"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @get("/", sync_to_thread=True)
    def status(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """Enabled actions, SMTP settings (no password) and the recent alert mails."""
        return services.alerts.status()

    @get("/actions", sync_to_thread=False)
    def actions(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return {"actions": catalogue_json()}

    @post("/", sync_to_thread=True, status_code=200)
    def set_actions(
        self, data: AlertActionsBody, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """`enabledActions` replaces the whole set ([] disables all); or by severity."""
        if data.enabled_actions is not None:
            services.alerts.set_actions(data.enabled_actions, stamp)
        else:
            services.alerts.set_severities(data.all_critical, data.all_high, stamp)
        return services.alerts.status()

    @post("/smtp", sync_to_thread=True, status_code=200)
    def smtp(self, data: SmtpBody, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        smtp = validate_smtp(data.host, data.port, data.sender, data.to, data.security, data.user)
        services.alerts.set_smtp(smtp, data.password, stamp)
        return services.alerts.status()

    @post("/test", sync_to_thread=True, status_code=200)
    def test(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        outcome = services.outreach.send_sample_mail()
        services.alerts.record_test(stamp, "sent" if outcome["sent"] else outcome["error"])
        return outcome
