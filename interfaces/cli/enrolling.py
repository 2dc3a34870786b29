"""`keyledger connect --enrollment-token … --vault … --server …`: enroll this host.

The same call the official SDK's `bootstrap_in_memory` makes; the identity is then
written like a bootstrapped one, so `get`, `export` and `run` use it unchanged."""

from __future__ import annotations

import base64
import socket
from typing import Annotated, Any

import httpx
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rich.markup import escape

from interfaces.cli.identity import VAULT_ID, IdentityError, prepare_home, write_identity
from interfaces.cli.output import emit_json, fail, usage, when
from interfaces.cli.plain import tell

EnrollmentTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--enrollment-token",
        envvar="KEYLEDGER_ENROLLMENT_TOKEN",
        help="An enrollment token (enr_….…): enroll an ephemeral, auto-approved machine.",
        show_default=False,
    ),
]
EnrollVaultOpt = Annotated[
    str | None,
    typer.Option(
        "--vault",
        envvar="KEYLEDGER_VAULT_ID",
        help="vault_… the enrollment token belongs to.",
        show_default=False,
    ),
]


def enroll_host(
    server: str, token: str, vault: str | None, name: str | None, json_out: bool
) -> None:
    if not vault or not VAULT_ID.fullmatch(vault):
        usage("--enrollment-token needs --vault vault_… (or KEYLEDGER_VAULT_ID)")
    try:
        prepare_home()
    except OSError as exc:
        fail(f"Cannot create {escape(str(exc.filename))}: {exc.strerror}")
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body: dict[str, Any] = {
        "token": token,
        "publicKey": base64.b64encode(public).decode(),
        "hostname": socket.gethostname(),
    }
    if name:
        body["name"] = name
    try:
        response = httpx.post(f"{server}/v1/{vault}/enroll/register", json=body, timeout=15.0)
    except httpx.HTTPError as exc:
        fail(f"Cannot reach the keyledger server at {escape(server)}: {type(exc).__name__}")
    try:
        data = response.json()
    except ValueError:
        data = {"error": response.text[:200]}
    if response.status_code >= 300 or not isinstance(data, dict) or not data.get("machineId"):
        message = data.get("error") if isinstance(data, dict) else None
        fail(f"{escape(str(message or 'enrollment refused'))} (HTTP {response.status_code})")
    api_url = str(data.get("apiUrl") or server)
    try:
        path = write_identity(
            key, str(data["machineId"]), str(data.get("machineName") or ""), vault, api_url
        )
    except (IdentityError, OSError) as exc:
        fail(f"Enrolled, but the identity could not be stored: {escape(str(exc))}")
    if json_out:
        emit_json({**data, "identity": str(path)})
        return
    tell(
        f"Enrolled machine {data['machineId']} ({data.get('machineName')}) in {vault}; "
        f"it expires at {when(data.get('expiresAt'))} UTC."
    )
    tell(f"Identity: {path}")
