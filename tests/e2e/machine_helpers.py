"""Helpers for machine-plane end-to-end tests: an operator, enrolled machines, signed requests.

`Operator` sets the vault up through the CLI, run in-process (init, login), and
then drives the admin API with the session token the CLI saved. `register_machine` enrolls a machine
the way the bootstrap script does and leaves an SDK-compatible `identity.json`
behind. `signed` builds a request signed exactly like the official SDK and lets a
test alter any part of it after signing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from tests.e2e.conftest import LiveServer

PASSWORD = "correct horse 1!"
OWNER = "owner@example.com"


class Operator:
    """The vault owner: initialised and logged in via the CLI (in-process), then plain HTTP."""

    def __init__(self, live: LiveServer, email: str = OWNER, password: str = PASSWORD) -> None:
        self.live = live
        live.ok_here("init", "--email", email, "--password-stdin", stdin=password)
        live.ok_here("login", "--email", email, "--password-stdin", stdin=password)
        session = json.loads((live.home / "session.json").read_text())
        self.http = httpx.Client(
            base_url=live.url,
            headers={"Authorization": f"Bearer {session['token']}"},
            timeout=30,
        )

    # -- raw calls ------------------------------------------------------------

    def post(self, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = self.http.post(path, json=body if body is not None else {})
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code, response.text)
        elif response.status_code >= 300:
            raise AssertionError(f"POST {path} -> {response.status_code}: {response.text}")
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    # -- projects and secrets ---------------------------------------------------

    def project(self, name: str) -> str:
        return str(self.post("/v1/admin/projects", {"name": name}, expect=201)["id"])

    def secret(self, project_id: str, name: str, value: str | None = None, **fields: str) -> str:
        body: dict[str, Any] = {"name": name}
        if fields:
            body["fields"] = fields
        else:
            body["value"] = value if value is not None else "v"
        created = self.post(f"/v1/admin/projects/{project_id}/secrets", body, expect=201)
        return str(created["id"])

    def replace(self, secret_id: str, value: str) -> Any:
        return self.post(f"/v1/admin/secrets/{secret_id}/replace", {"value": value})

    def delete(self, secret_id: str) -> Any:
        return self.post(f"/v1/admin/secrets/{secret_id}/delete")

    # -- machines ---------------------------------------------------------------

    def token(self) -> str:
        return str(self.post("/v1/admin/machines/token", {})["token"])

    def machine_action(self, machine_id: str, verb: str, body: Any = None) -> Any:
        return self.post(f"/v1/admin/machines/{machine_id}/{verb}", body)

    def approve(self, machine_id: str) -> Any:
        return self.machine_action(machine_id, "approve")

    def deny(self, machine_id: str) -> Any:
        return self.machine_action(machine_id, "deny")

    def disable(self, machine_id: str) -> Any:
        return self.machine_action(machine_id, "disable")

    def enable(self, machine_id: str) -> Any:
        return self.machine_action(machine_id, "enable")

    def revoke(self, machine_id: str, preview: bool = False) -> Any:
        return self.machine_action(machine_id, "revoke", {"preview": True} if preview else {})

    def add_to_project(self, machine_id: str, project_id: str) -> Any:
        return self.post(f"/v1/admin/machines/{machine_id}/projects", {"projectId": project_id})

    def remove_from_project(self, machine_id: str, project_id: str) -> Any:
        return self.post(f"/v1/admin/machines/{machine_id}/projects/{project_id}/remove")

    def grant(self, machine_id: str, secret_id: str) -> Any:
        return self.post(f"/v1/admin/machines/{machine_id}/grants", {"secretId": secret_id})

    def revoke_grant(self, machine_id: str, secret_id: str) -> Any:
        return self.post(f"/v1/admin/machines/{machine_id}/grants/{secret_id}/revoke")

    def set_agent(self, secret_id: str, machine_id: str, expect: int | None = None) -> Any:
        """Name a managed secret's sync agent (the only machine that gets sync-config)."""
        body = {"machineId": machine_id}
        return self.post(f"/v1/admin/secrets/{secret_id}/set-agent", body, expect=expect)

    def unset_agent(self, secret_id: str, expect: int | None = None) -> Any:
        return self.post(f"/v1/admin/secrets/{secret_id}/unset-agent", expect=expect)

    # -- allowlist, seal, audit -------------------------------------------------

    def allow(self, cidr: str, label: str = "") -> Any:
        return self.post("/v1/admin/ipallowlist", {"cidr": cidr, "label": label}, expect=201)

    def allowlist(self, enabled: bool) -> Any:
        return self.post(f"/v1/admin/ipallowlist/{'enable' if enabled else 'disable'}")

    def seal(self) -> Any:
        return self.post("/v1/admin/seal")

    def unseal(self) -> Any:
        key = (self.live.settings.data_dir / "server.key").read_text()
        return self.post("/v1/admin/unseal", {"key": key})

    def audit(self, limit: int = 500) -> list[dict[str, Any]]:
        return list(self.get("/v1/admin/audit", limit=limit)["entries"])

    def close(self) -> None:
        self.http.close()


@dataclass
class Machine:
    machine_id: str
    key: Ed25519PrivateKey
    identity_path: Path
    vault_id: str
    name: str


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def raw_public_key(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def write_identity(
    directory: Path, machine_id: str, key: Ed25519PrivateKey, vault_id: str, api_url: str, name: str
) -> Path:
    """An SDK identity.json plus its PKCS#8 PEM key, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "private.pem"
    key_path.write_bytes(_pem(key))
    key_path.chmod(0o600)
    identity = directory / "identity.json"
    identity.write_text(
        json.dumps(
            {
                "machineId": machine_id,
                "machineName": name,
                "vaultId": vault_id,
                "apiUrl": api_url,
                "privateKeyPath": str(key_path),
            }
        )
    )
    return identity


def register_machine(
    live: LiveServer,
    op: Operator,
    name: str,
    *,
    approve: bool = True,
    project_id: str | None = None,
    grants: tuple[str, ...] = (),
) -> Machine:
    """Enroll a machine with a fresh bootstrap token; optionally approve, attach, grant."""
    key = Ed25519PrivateKey.generate()
    response = httpx.post(
        f"{live.url}/v1/bootstrap/register",
        json={
            "token": op.token(),
            "publicKey": raw_public_key(key),
            "hostname": f"{name}.internal",
            "name": name,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["apiUrl"] == live.url, data
    identity = write_identity(
        live.home.parent / "machines" / name,
        data["machineId"],
        key,
        data["vaultId"],
        data["apiUrl"],
        name,
    )
    machine = Machine(data["machineId"], key, identity, data["vaultId"], name)
    if approve:
        op.approve(machine.machine_id)
    if project_id is not None:
        op.add_to_project(machine.machine_id, project_id)
    for secret_id in grants:
        op.grant(machine.machine_id, secret_id)
    return machine


def stranger_identity(live: LiveServer, directory: Path) -> Path:
    """An identity.json for a machine the server never saw (random id, fresh key)."""
    key = Ed25519PrivateKey.generate()
    return write_identity(directory, str(uuid.uuid4()), key, "vault_x", live.url, "stranger")


# -- signed requests ------------------------------------------------------------


@dataclass
class Signed:
    """A signed request, not yet sent: alter anything, then `send()` (any number of times)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def send(self) -> httpx.Response:
        return httpx.request(
            self.method, self.url, headers=self.headers, content=self.body, timeout=30
        )


def sign(key: Ed25519PrivateKey, method: str, path: str, ts: str, nonce: str, body: bytes) -> str:
    payload = f"{method}:{path}:{ts}:{nonce}:{hashlib.sha256(body).hexdigest()}"
    return base64.b64encode(key.sign(payload.encode())).decode()


def signed(
    live: LiveServer,
    machine: Machine,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] = b"",
    *,
    timestamp: int | str | None = None,
    nonce: str | None = None,
    key: Ed25519PrivateKey | None = None,
    machine_id: str | None = None,
    tamper: Callable[[Signed], None] | None = None,
) -> Signed:
    """A request signed like the SDK: `METHOD:path:ts:nonce:sha256hex(body)`, Ed25519.

    `key`/`machine_id` override the signer and the claimed identity; `tamper` gets the
    finished request to alter after signing (method, url, headers, body).
    """
    if isinstance(body, dict):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or base64.b64encode(secrets.token_bytes(16)).decode()
    signature = sign(key or machine.key, method, path, ts, nonce, raw)
    headers = {
        "User-Agent": "sikkerkey-python/1.2.1",
        "X-Machine-Id": machine_id or machine.machine_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": signature,
    }
    if raw:
        headers["Content-Type"] = "application/json"
    request = Signed(method, live.url + path, headers, raw)
    if tamper is not None:
        tamper(request)
    return request


def send_signed(
    live: LiveServer, machine: Machine, method: str, path: str, **kw: Any
) -> httpx.Response:
    return signed(live, machine, method, path, **kw).send()
