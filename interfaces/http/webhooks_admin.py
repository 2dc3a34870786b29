"""Operator endpoints for webhooks: add (the signing secret, once), list, show, test,
enable, disable, remove. Mutations are POSTs to verb-suffixed paths."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from domain import ids
from domain.audit import AuditStamp
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator, provide_stamp
from interfaces.http.schemas import WebhookBody


class WebhookAdminController(Controller):
    path = "/v1/admin/webhooks"
    tags = ["webhooks"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/", sync_to_thread=True, status_code=201)
    def add(self, data: WebhookBody, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """The new webhook with `signingSecret`: shown in this answer only."""
        webhook, secret = services.webhooks.add(data.url, data.actions, stamp)
        return {**webhook.as_json(), "signingSecret": secret}

    @get("/", sync_to_thread=True)
    def list_all(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return {"webhooks": [w.as_json() for w in services.webhooks.all()]}

    @get("/{webhook_id:str}", sync_to_thread=True)
    def show(self, webhook_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return services.webhooks.get(webhook_id).as_json()

    @post("/{webhook_id:str}/test", sync_to_thread=True, status_code=200)
    def test(self, webhook_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """One signed sample delivery now; the answer says whether the receiver took it."""
        ids.require(ids.WEBHOOK, webhook_id)
        outcome = services.outreach.send_sample(webhook_id)
        services.webhooks.record_test(webhook_id, stamp)
        return outcome

    @post("/{webhook_id:str}/enable", sync_to_thread=True, status_code=200)
    def enable(self, webhook_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """On again: the failure count and last error are reset."""
        return services.webhooks.enable(webhook_id, stamp).as_json()

    @post("/{webhook_id:str}/disable", sync_to_thread=True, status_code=200)
    def disable(self, webhook_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return services.webhooks.disable(webhook_id, stamp).as_json()

    @post("/{webhook_id:str}/delete", sync_to_thread=True, status_code=200)
    def remove(self, webhook_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        services.webhooks.remove(webhook_id, stamp)
        return {"id": webhook_id, "removed": True}
