"""Share links over HTTP: the operator's `/v1/admin/shares` and the recipient's
`POST /v1/share/{id}` (no account; the passphrase is the credential, rate-limited per
source; a wrong one destroys the share). Machines can never read a share."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from application.shares import NewShare, ShareDesk, share_view
from domain.audit import AuditStamp
from domain.errors import Forbidden, InvalidInput
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, client_ip, provide_operator, provide_stamp
from interfaces.http.enroll import api_url
from interfaces.http.schemas import ShareBody, ShareOpenBody

MACHINE_HEADERS = ("x-machine-id", "x-agent-id", "x-signature")
NO_STORE = {"Cache-Control": "no-store"}


def share_url(request: AnyRequest, services: Services, share_id: str) -> str:
    return f"{api_url(request, services)}/share/{share_id}"


def created_view(new: NewShare, url: str) -> dict[str, Any]:
    """Shown once: the only time the passphrase leaves the server."""
    return {**share_view(new.share), "url": url, "passphrase": new.passphrase}


def refuse_machines(request: AnyRequest) -> None:
    """A signed machine (or agent) request never reaches a share, whatever it carries."""
    if any(request.headers.get(name) for name in MACHINE_HEADERS):
        raise Forbidden("Machines can never read shares: a share is for a person")


def open_share(request: AnyRequest, shares: ShareDesk, share_id: str, passphrase: str) -> str:
    refuse_machines(request)
    return shares.open(share_id, passphrase, client_ip(request))


class ShareAdminController(Controller):
    path = "/v1/admin/shares"
    tags = ["shares"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/", sync_to_thread=True, status_code=201, response_headers=NO_STORE)
    def create(
        self, data: ShareBody, request: AnyRequest, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        if data.generate_random and data.value is not None:
            raise InvalidInput("Give either value or generateRandom, not both")
        new = services.shares.create(
            data.name,
            None if data.generate_random else data.value,
            data.length if data.generate_random else None,
            data.expires_in_seconds,
            stamp,
        )
        return created_view(new, share_url(request, services, new.share.share_id))

    @get("/", sync_to_thread=True)
    def list_shares(self, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        """Status and times only: never a value or a passphrase."""
        return {"shares": services.shares.listing()}

    @post("/{share_id:str}/destroy", sync_to_thread=True, status_code=200)
    def destroy(self, share_id: str, services: Services, stamp: AuditStamp) -> dict[str, Any]:
        return share_view(services.shares.destroy(share_id, stamp))


class ShareController(Controller):
    """The recipient's JSON endpoint: `{"passphrase"}` -> `{"value"}`, once."""

    path = "/v1/share"
    tags = ["shares"]

    @post("/{share_id:str}", sync_to_thread=True, status_code=200, response_headers=NO_STORE)
    def open(
        self, share_id: str, data: ShareOpenBody, request: AnyRequest, services: Services
    ) -> dict[str, str]:
        return {"value": open_share(request, services.shares, share_id, data.passphrase)}
