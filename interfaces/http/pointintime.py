"""Operator endpoints for point-in-time audit: the vault at T, who could read, who read."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import Parameter

from application.ports import SessionRecord
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator

Instant = Annotated[str, Parameter(max_length=64)]
SecretParam = Annotated[str, Parameter(max_length=64)]


class PointInTimeController(Controller):
    path = "/v1/admin/audit"
    tags = ["audit"]
    dependencies = {"operator": Provide(provide_operator, sync_to_thread=True)}

    @get("/as-of", sync_to_thread=True)
    def as_of(self, operator: SessionRecord, services: Services, at: Instant) -> dict[str, Any]:
        """Projects, secrets (version, never a value), machines, memberships, grants,
        allowlist and frozen projects as they were at `at`, folded from the events."""
        return services.point_in_time.as_of(at)

    @get("/who-could-read", sync_to_thread=True)
    def who_could_read(
        self, operator: SessionRecord, services: Services, secret: SecretParam, at: Instant
    ) -> dict[str, Any]:
        """Each machine known at `at`: could it read `secret`, else the first gate
        condition it failed. The IP allowlist is a condition: the caller's IP is unknown."""
        return services.point_in_time.who_could_read(secret, at)

    @get("/who-read", sync_to_thread=True)
    def who_read(
        self,
        operator: SessionRecord,
        services: Services,
        secret: SecretParam,
        from_: Annotated[str | None, Parameter(query="from", max_length=64)] = None,
        to: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> dict[str, Any]:
        """Answered reads of `secret` in [from, to] by machine: count, first and last."""
        return services.point_in_time.who_read(secret, from_, to)
