"""Operator audit endpoints: verify the whole trail where it lives (the server's store)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import Provide

from application.ports import SessionRecord
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator


class AuditAdminController(Controller):
    path = "/v1/admin/audit"
    tags = ["operator"]
    dependencies = {"operator": Provide(provide_operator, sync_to_thread=True)}

    @get("/verify", sync_to_thread=True)
    def verify(self, operator: SessionRecord, services: Services) -> dict[str, Any]:
        """Re-walk the ledger's hash chain and every access-log lane; an answer with
        `intact: false` names the first bad event or record."""
        return services.audit.verify().as_json()
