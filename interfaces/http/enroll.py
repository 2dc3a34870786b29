"""Registration: the bootstrap script and the call it makes (the token is the credential)."""

from __future__ import annotations

import re
import shlex
from importlib import resources
from typing import Any

import msgspec
from litestar import Controller, Response, get, post

from domain.allowlist import ip_allowed
from domain.errors import Forbidden, InvalidInput, NotFound
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, behind_trusted_proxy, client_ip


class RegisterBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    token: str
    public_key: str
    hostname: str = ""
    name: str | None = None
    replaces: str | None = None  # the machine id this host held before
    replaces_signature: str | None = None  # old key over "keyledger-replace:{token}:{publicKey}"


class EnrollBody(msgspec.Struct, rename="camel"):
    """What the official SDK's `bootstrap_in_memory` posts (unknown fields ignored)."""

    token: str
    public_key: str
    hostname: str = ""
    name: str | None = None


# A Host header is a host name or IP literal and an optional port, nothing else.
HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?")
TOKEN = re.compile(r"[0-9a-f]{48}")


def api_url(request: AnyRequest, services: Services) -> str:
    """KEYLEDGER_PUBLIC_URL when set; else the URL this request came to, checked."""
    if services.settings.public_url:
        return services.settings.public_url.rstrip("/")
    scheme = request.url.scheme
    if behind_trusted_proxy(request):
        # Behind a trusted proxy: believe the scheme it saw (TLS ends there).
        forwarded = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        scheme = forwarded if forwarded in {"http", "https"} else scheme
    host = request.headers.get("host", request.url.netloc)
    if scheme not in {"http", "https"} or not HOST.fullmatch(host):
        raise InvalidInput("Invalid Host header: set KEYLEDGER_PUBLIC_URL on the server")
    return f"{scheme}://{host}"


def bootstrap_script(url: str, token: str, name: str = "bootstrap_script.sh") -> str:
    """The POSIX sh script `name` with every interpolated value shell-quoted."""
    template = resources.files("interfaces.http").joinpath(name).read_text()
    return template.replace("@API_URL@", shlex.quote(url)).replace("@TOKEN@", shlex.quote(token))


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
        if not TOKEN.fullmatch(token):
            raise NotFound("Unknown bootstrap token")
        script = bootstrap_script(api_url(request, services), token)
        return Response(script, media_type="text/x-shellscript")

    @post("/v1/bootstrap/register", sync_to_thread=True, status_code=201)
    def register(
        self, data: RegisterBody, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        """Redeem a bootstrap token with a raw 32-byte public key (standard base64)."""
        url = api_url(request, services)  # a bad Host is refused before the token is spent
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
            "apiUrl": url,
            "status": machine.status.value,
            "replaced": data.replaces if data.replaces else None,
        }

    @post("/v1/{vault_id:str}/enroll/register", sync_to_thread=True, status_code=201)
    def enroll(
        self, vault_id: str, data: EnrollBody, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        """Redeem an enrollment token: an approved machine with the token's scope."""
        url = api_url(request, services)
        ip = _check_allowlist(request, services)
        machine = services.enrollments.register(
            vault_id, data.token, data.public_key, data.hostname, data.name, ip
        )
        services.projector.catch_up()
        return {
            "machineId": machine.machine_id,
            "machineName": machine.name,
            "vaultId": vault_id,
            "expiresAt": machine.expires_ms,
            "apiUrl": url,
        }

    @get("/v1/{vault_id:str}/temp-bootstrap/{token:str}", sync_to_thread=True)
    def temp_script(
        self, vault_id: str, token: str, request: AnyRequest, services: Services
    ) -> Response[str]:
        """`curl -sSL …/v1/<vaultId>/temp-bootstrap/<token> | sh` — a temporary machine."""
        vault = services.ledger.vault()
        if vault is None or vault.vault_id != vault_id or not TOKEN.fullmatch(token):
            raise NotFound("Unknown temporary bootstrap token")
        script = bootstrap_script(api_url(request, services), token)
        return Response(script, media_type="text/x-shellscript")
