"""Docker bundles over HTTP: the operator's `POST /v1/admin/docker/provision` and the
one download, `GET /v1/docker/bundle/{token}` (no account: the link is the credential,
good once within 15 minutes)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import Provide

from application.dockerbundles import Provisioned
from domain.audit import AuditStamp
from domain.bundle import DEFAULT_MOUNT
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, client_ip, provide_operator, provide_stamp
from interfaces.http.enroll import api_url

NO_STORE = {"Cache-Control": "no-store"}


class ProvisionBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    project_id: str
    secret_ids: list[str]
    name: str = ""
    mount_path: str = DEFAULT_MOUNT


def bundle_url(url: str, token: str) -> str:
    return f"{url}/v1/docker/bundle/{token}"


def provisioned_view(done: Provisioned, url: str) -> dict[str, Any]:
    """Shown once: the only time the link leaves the server."""
    return {
        "bundleId": done.bundle.bundle_id,
        "machineId": done.machine.machine_id,
        "machineName": done.machine.name,
        "vaultId": done.vault_id,
        "projectId": done.bundle.project_id,
        "secretIds": list(done.secret_ids),
        "privateKeyPath": f"{done.bundle.mount_path.rstrip('/')}/private.pem",
        "url": bundle_url(url, done.token),
        "expiresAt": done.bundle.expires_ms,
    }


def provision(
    request: AnyRequest, services: Services, body: ProvisionBody, stamp: AuditStamp
) -> dict[str, Any]:
    """The operator API and the dashboard form both come here."""
    url = api_url(request, services)  # a bad Host is refused before anything is made
    done = services.docker.provision(
        body.project_id, body.secret_ids, body.name, body.mount_path, stamp
    )
    services.projector.catch_up()
    return provisioned_view(done, url)


class DockerAdminController(Controller):
    path = "/v1/admin/docker"
    tags = ["docker"]
    dependencies = {
        "operator": Provide(provide_operator, sync_to_thread=True),
        "stamp": Provide(provide_stamp, sync_to_thread=False),
    }

    @post("/provision", sync_to_thread=True, status_code=201, response_headers=NO_STORE)
    def provision(
        self, data: ProvisionBody, request: AnyRequest, services: Services, stamp: AuditStamp
    ) -> dict[str, Any]:
        """A machine made, approved, added and granted; its ZIP behind a one-time link."""
        return provision(request, services, data, stamp)


class DockerBundleController(Controller):
    path = "/v1/docker"
    tags = ["docker"]

    @get("/bundle/{token:str}", sync_to_thread=True)
    def download(self, token: str, request: AnyRequest, services: Services) -> Response[bytes]:
        """`curl -o kl.zip <link>`: identity.json, private.pem, cli.json — once."""
        url = api_url(request, services)
        archive = services.docker.download(token, url, client_ip(request))
        services.projector.catch_up()
        return Response(
            archive,
            media_type="application/zip",
            headers={
                **NO_STORE,
                "Content-Disposition": 'attachment; filename="keyledger-bundle.zip"',
            },
        )
