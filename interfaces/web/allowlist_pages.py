"""The vault IP allowlist from the machines page: enable, disable, add and remove
entries with the same MachineService calls as /v1/admin/ipallowlist, so a bad CIDR or
a duplicate is refused with the service's own message and nothing saved."""

from __future__ import annotations

from typing import Any

from litestar import Controller, post
from litestar.di import Provide

from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, Form, done, form_field, refused, user_stamp

BACK = "/machines"


class AllowlistActions(Controller):
    path = "/allowlist"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @post("/", sync_to_thread=True)
    def add(self, data: Form, request: AnyRequest, viewer: Viewer, services: Services) -> Any:
        check_csrf(viewer.csrf, data)
        try:
            services.machines.add_allowlist_entry(
                form_field(data, "cidr")[:64],
                form_field(data, "label"),
                user_stamp(request, viewer),
            )
        except REFUSED as error:
            return refused(viewer, str(error), BACK, "machines")
        services.projector.catch_up()
        return done(BACK, "allowlist-added")

    @post("/{entry_id:str}/delete", sync_to_thread=True)
    def remove(
        self, entry_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        try:
            services.machines.remove_allowlist_entry(entry_id[:64], user_stamp(request, viewer))
        except REFUSED as error:
            return refused(viewer, str(error), BACK, "machines")
        services.projector.catch_up()
        return done(BACK, "allowlist-removed")

    @post("/{switch:str}", sync_to_thread=True)
    def turn(
        self, switch: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        """`enable` or `disable`: enforcement of the list for machine requests."""
        check_csrf(viewer.csrf, data)
        if switch not in ("enable", "disable"):
            return refused(viewer, f"No allowlist action {switch[:20]}", BACK, "machines")
        try:
            services.machines.set_allowlist(switch == "enable", user_stamp(request, viewer))
        except REFUSED as error:
            return refused(viewer, str(error), BACK, "machines")
        services.projector.catch_up()
        return done(BACK, f"allowlist-{switch}d")
