"""Share links in the browser: the recipient's page (no account, no JavaScript) and
the operator's Shares page. Both call the same `ShareDesk` as the HTTP API.

The recipient's form carries no CSRF token (there is no session to forge against; the
passphrase is the credential) but every attempt counts against its source. Every
answer is `no-store` under the dashboard's strict CSP (the router adds the headers).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.response import Template

from domain.errors import Forbidden, Gone, NotFound, Sealed, TooManyAttempts
from domain.share import MAX_LIFETIME_S, MIN_LIFETIME_S, ShareStatus
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.http.shares import created_view, open_share, share_url
from interfaces.web.session import Viewer, check_csrf, provide_viewer
from interfaces.web.vault_pages import REFUSED, Form, done, form_field, refused, user_stamp

RECIPIENT_REFUSED = (Forbidden, Gone, NotFound, TooManyAttempts, Sealed)
STATUS = {Forbidden: 403, Gone: 410, NotFound: 404, TooManyAttempts: 429, Sealed: 503}


def recipient(share_id: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        template_name="share.html",
        context={"share_id": share_id, **context},
        status_code=status_code,
        media_type=MediaType.HTML,
    )


class SharePage(Controller):
    """`/share/{id}`: what a person outside the vault opens."""

    path = "/share"
    include_in_schema = False

    @get("/{share_id:str}", sync_to_thread=True)
    def show(self, share_id: str, services: Services) -> Template:
        try:
            status = services.shares.status(share_id)
        except NotFound:
            return recipient(share_id, 404, gone="This link does not lead to a share.")
        if status is not ShareStatus.PENDING:
            return recipient(share_id, 410, gone=f"This share is {status.value}.")
        return recipient(share_id, ask=True)

    @post("/{share_id:str}", sync_to_thread=True)
    def reveal(
        self, share_id: str, data: Form, request: AnyRequest, services: Services
    ) -> Template:
        passphrase = str(data.get("passphrase", "")).strip()
        try:
            value = open_share(request, services.shares, share_id, passphrase)
        except RECIPIENT_REFUSED as error:
            code = next(c for kind, c in STATUS.items() if isinstance(error, kind))
            headers = {}
            if isinstance(error, TooManyAttempts):
                headers["Retry-After"] = str(error.retry_after_seconds)
            page = recipient(share_id, code, gone=str(error))
            page.headers.update(headers)
            return page
        return recipient(share_id, value=value)


class SharesPages(Controller):
    """The operator's Shares page: list, create (shown once), destroy."""

    path = "/shares"
    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer, sync_to_thread=True)}

    @get("/", sync_to_thread=True)
    def shares(self, viewer: Viewer, services: Services, done: str | None = None) -> Template:
        return Template(
            template_name="shares.html",
            context={
                "csrf": viewer.csrf,
                "section": "shares",
                "shares": services.shares.listing(),
                "destroyed": done == "share-destroyed",
                "min_minutes": MIN_LIFETIME_S // 60,
                "max_minutes": MAX_LIFETIME_S // 60,
            },
            media_type=MediaType.HTML,
        )

    @post("/", sync_to_thread=True)
    def create(self, data: Form, request: AnyRequest, viewer: Viewer, services: Services) -> Any:
        """Shown once in this response (no redirect: a passphrase never goes into a URL)."""
        check_csrf(viewer.csrf, data)
        value = str(data.get("value", ""))  # never stripped, logged or echoed
        generate = form_field(data, "generate") == "on"
        try:
            minutes = int(form_field(data, "minutes") or "5")
            length = int(form_field(data, "length") or "32")
        except ValueError:
            return refused(viewer, "Lifetime and length must be whole numbers", "/shares", "shares")
        try:
            new = services.shares.create(
                form_field(data, "name"),
                None if generate else value,
                length if generate else None,
                minutes * 60,
                user_stamp(request, viewer),
            )
            url = share_url(request, services, new.share.share_id)
        except REFUSED as error:
            return refused(viewer, str(error), "/shares", "shares")
        return Template(
            template_name="share_created.html",
            context={
                "csrf": viewer.csrf,
                "section": "shares",
                "share": created_view(new, url),
                "generated": new.generated,
            },
            media_type=MediaType.HTML,
        )

    @post("/{share_id:str}/destroy", sync_to_thread=True)
    def destroy(
        self, share_id: str, data: Form, request: AnyRequest, viewer: Viewer, services: Services
    ) -> Any:
        check_csrf(viewer.csrf, data)
        try:
            services.shares.destroy(share_id, user_stamp(request, viewer))
        except (*REFUSED, Gone) as error:
            return refused(viewer, str(error), "/shares", "shares")
        return done("/shares", "share-destroyed")
