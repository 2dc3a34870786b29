"""Registration: the bootstrap script and the call it makes (the token is the credential)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
from litestar import Controller, Response, get, post

from domain.allowlist import ip_allowed
from domain.errors import Forbidden, NotFound
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, client_ip


class RegisterBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    token: str
    public_key: str
    hostname: str = ""
    name: str | None = None
    replaces: str | None = None  # the machine id this host held before
    replaces_signature: str | None = None  # old key over "keyledger-replace:{token}:{publicKey}"


def api_url(request: AnyRequest, services: Services) -> str:
    if services.settings.public_url:
        return services.settings.public_url.rstrip("/")
    scheme = request.url.scheme
    if client_ip(request) != (request.client.host if request.client else None):
        # Behind a trusted proxy: believe the scheme it saw (TLS ends there).
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
    return f"{scheme}://{request.headers.get('host', request.url.netloc)}"


def _check_allowlist(request: AnyRequest, services: Services) -> str:
    ip = client_ip(request)
    vault = services.ledger.vault()
    if vault is not None and not ip_allowed(ip, vault.allowlist_enabled, vault.allowlist):
        services.failures.record(ip, f"IP {ip} not allowed to register")
        raise Forbidden("Access denied")
    return ip


class EnrollController(Controller):
    tags = ["enrollment"]

    @get("/v1/bootstrap/{token:str}", sync_to_thread=True)
    def script(self, token: str, request: AnyRequest, services: Services) -> Response[str]:
        """`curl -sSL …/v1/bootstrap/<token> | sh` — the POSIX sh bootstrap script."""
        if len(token) != 48 or any(c not in "0123456789abcdef" for c in token):
            raise NotFound("Unknown bootstrap token")
        template = resources.files("interfaces.http").joinpath("bootstrap_script.sh").read_text()
        script = template.replace("@API_URL@", api_url(request, services)).replace("@TOKEN@", token)
        return Response(script, media_type="text/x-shellscript")

    @post("/v1/bootstrap/register", sync_to_thread=True, status_code=201)
    def register(
        self, data: RegisterBody, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        """Redeem a bootstrap token with a raw 32-byte public key (standard base64)."""
        ip = _check_allowlist(request, services)
        machine, vault = services.machines.register(
            data.token,
            data.public_key,
            data.hostname,
            data.name or None,
            ip,
            replaces=data.replaces,
            replaces_signature=data.replaces_signature,
        )
        services.projector.catch_up()
        return {
            "machineId": machine.machine_id,
            "machineName": machine.name,
            "vaultId": vault.vault_id,
            "apiUrl": api_url(request, services),
            "status": machine.status.value,
            "replaced": data.replaces if data.replaces else None,
        }
