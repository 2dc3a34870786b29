"""The dashboard's evidence pages beside Vault history (as-of, who could read): the
signed audit checkpoints and who read a secret in a window. Same services as
GET /v1/admin/audit/checkpoint… and /who-read; ids, times and hashes only, never a value.
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Template

from domain.checkpoint import SignedCheckpoint, b64
from domain.errors import InvalidInput, NotFound, Sealed
from interfaces.bootstrap import Services
from interfaces.web.pages import page
from interfaces.web.session import Viewer, provide_viewer

SHOWN = 200  # newest checkpoints on the page; the API and CLI reach every one


def _row(signed: SignedCheckpoint, trusted: set[bytes] | None) -> dict[str, Any]:
    data = signed.as_json()
    data["trusted"] = None if trusted is None else signed.public_key in trusted
    return data


class EvidencePagesController(Controller):
    path = "/audit"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/checkpoints", sync_to_thread=True)
    def checkpoints(self, viewer: Viewer, services: Services) -> Template:
        """Every recorded checkpoint, newest first, with whether its key is one this
        server trusts (unknown while sealed: the key derives from the server key)."""
        signer = services.checkpoints.signer
        try:
            trusted: set[bytes] | None = set(signer.trusted_keys())
            public_key = b64(signer.public_key())
        except Sealed:
            trusted, public_key = None, ""
        every = list(services.checkpoints.log.all())
        newest = [_row(s, trusted) for s in islice(reversed(every), SHOWN)]
        return page(
            "audit_checkpoints.html",
            viewer,
            "checkpoints",
            checkpoints=newest,
            total=len(every),
            public_key=public_key,
        )

    @get("/checkpoints/{number:int}/download", sync_to_thread=True)
    def checkpoint_file(self, number: int, viewer: Viewer, services: Services) -> Response[str]:
        """One checkpoint as the API gives it, to keep off-box and check later with
        `keyledger audit verify --checkpoint FILE`."""
        found = next((s for s in services.checkpoints.log.all() if s.number == number), None)
        if found is None:
            raise NotFoundException(f"Checkpoint {number} not found")
        return Response(
            json.dumps(found.as_json(), indent=2),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="checkpoint-{number}.json"'},
        )

    @get("/who-read", sync_to_thread=True)
    def who_read(
        self,
        viewer: Viewer,
        services: Services,
        secret: str = "",
        start: str = "",
        end: str = "",
    ) -> Template:
        """Answered reads of a secret in [from, to] per machine (GET /v1/admin/audit/who-read)."""
        context: dict[str, Any] = {"secret": secret[:64], "start": start[:64], "end": end[:64]}
        status = 200
        if secret:
            try:
                context["result"] = services.point_in_time.who_read(
                    secret[:64], start[:64] or None, end[:64] or None
                )
            except (InvalidInput, NotFound) as bad:
                context["error"] = str(bad)
                status = 404 if isinstance(bad, NotFound) else 400
        shown = page("audit_who_read.html", viewer, "who-read", **context)
        shown.status_code = status
        return shown
