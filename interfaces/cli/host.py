"""Commands run on a machine: connect, get, list, export, run.

Every request after `connect` is signed with the machine's Ed25519 key (see
`signing`). Secret values reach stdout only through `emit_value`, and only from
`get`, `export` and `run --dry-run --show-values`.
"""

from __future__ import annotations

import base64
import socket
from enum import Enum
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rich.markup import escape

from interfaces.cli import hostcmds
from interfaces.cli.enrolling import EnrollmentTokenOpt, EnrollVaultOpt, enroll_host
from interfaces.cli.identity import (
    IdentityError,
    machine_client,
    prepare_home,
    replacement_proof,
    write_identity,
)
from interfaces.cli.options import IdentityOpt, Json, VaultOpt
from interfaces.cli.output import emit_json, fail, table, usage
from interfaces.cli.plain import tell
from interfaces.cli.wire import ask

ProjectOpt = Annotated[
    str | None, typer.Option("--project", help="Only this project (proj_…).", show_default=False)
]


class Output(str, Enum):
    plain = "plain"
    json = "json"


class Kind(str, Enum):
    secrets = "secrets"
    projects = "projects"


class Format(str, Enum):
    env = "env"
    dotenv = "dotenv"
    json = "json"


def _register(server: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = httpx.post(server + "/v1/bootstrap/register", json=body, timeout=30.0)
    except httpx.HTTPError as exc:
        fail(f"Cannot reach the keyledger server at {escape(server)}: {type(exc).__name__}")
    try:
        data = response.json()
    except ValueError:
        data = {"error": response.text[:200]}
    if response.status_code >= 300 or not isinstance(data, dict):
        message = data.get("error") if isinstance(data, dict) else None
        fail(f"{escape(str(message or 'registration refused'))} (HTTP {response.status_code})")
    if not data.get("machineId") or not data.get("vaultId"):
        fail("The server's answer to the registration is malformed")
    return data


def _plain_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme != "https" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


def register(app: typer.Typer) -> None:
    """Add the host-side commands to the root app."""

    @app.command()
    def connect(
        server: Annotated[
            str,
            typer.Option(
                "--server", envvar="KEYLEDGER_SERVER", help="Server URL.", show_default=False
            ),
        ],
        token: Annotated[
            str | None, typer.Option("--token", help="The bootstrap token.", show_default=False)
        ] = None,
        name: Annotated[
            str | None, typer.Option("--name", help="A name for this machine.", show_default=False)
        ] = None,
        json_out: Json = False,
        enrollment_token: EnrollmentTokenOpt = None,
        vault: EnrollVaultOpt = None,
    ) -> None:
        """Register this machine with a bootstrap token; it then awaits the owner's approval.

        With --enrollment-token (and --vault) it enrolls instead: approved at once, with
        the token's projects and grants, for the token's machine lifetime."""
        server = server.rstrip("/")
        if enrollment_token:
            enroll_host(server, enrollment_token, vault, name, json_out)
            return
        if not token:
            usage("Give --token (bootstrap) or --enrollment-token with --vault")
        try:
            vaults = prepare_home()
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
        body.update(replacement_proof(vaults, server, token, body["publicKey"]))
        data = _register(server, body)
        vault_id, api_url = str(data["vaultId"]), str(data.get("apiUrl") or server)
        replaced = (vaults / vault_id / "identity.json").exists()
        try:
            path = write_identity(
                key, str(data["machineId"]), str(data.get("machineName") or ""), vault_id, api_url
            )
        except (IdentityError, OSError) as exc:
            fail(f"Registered, but the identity could not be stored: {escape(str(exc))}")
        if json_out:
            emit_json({**data, "apiUrl": api_url, "identity": str(path), "replaced": replaced})
        else:
            if data.get("replaced"):
                tell(f"Note: replaced machine {data['replaced']}; the server revoked it.")
            elif replaced:
                tell(f"Note: replaced the earlier identity for {vault_id}; revoke that machine.")
            tell(
                f"Registered machine {data['machineId']} ({data.get('machineName')}) in "
                f"{vault_id}: pending approval by the vault owner."
            )
            tell(f"Identity: {path}")
        if _plain_http(api_url):
            tell(
                f"Warning: {api_url} is not HTTPS; secret values would cross the network in clear."
            )

    @app.command("get")
    def get(
        secret_id: Annotated[str, typer.Argument(help="sk_…", show_default=False)],
        field: Annotated[
            str | None,
            typer.Argument(help="One field of a structured secret.", show_default=False),
        ] = None,
        output: Annotated[
            Output, typer.Option("--output", "-o", help="plain: the raw value; json: an object.")
        ] = Output.plain,
        offline: Annotated[
            bool, typer.Option("--offline", help="Read only the offline cache.")
        ] = False,
        identity: IdentityOpt = None,
        vault: VaultOpt = None,
    ) -> None:
        """Print a secret's value (or one field of a structured secret)."""
        hostcmds.get(secret_id, field, output is Output.json, identity, vault, offline)

    @app.command("list")
    def list_(
        kind: Annotated[Kind, typer.Argument(help="secrets or projects.")],
        identity: IdentityOpt = None,
        vault: VaultOpt = None,
        json_out: Json = False,
    ) -> None:
        """List what this machine may read (names and ids only, never values)."""
        client = machine_client(identity, vault)
        if kind is Kind.projects:
            projects = ask(client, "GET", "/v1/cli/projects")["projects"]
            if json_out:
                emit_json(projects)
                return
            rows = [(p["projectId"], escape(str(p["projectName"]))) for p in projects]
            table("Projects", ["id", "name"], rows)
            return
        secrets = ask(client, "GET", "/v1/cli/secrets")["secrets"]
        if json_out:
            emit_json(secrets)
            return
        table(
            "Secrets",
            ["id", "name", "project", "type"],
            [
                (
                    s["id"],
                    escape(str(s["name"])) + (r" \[structured]" if s.get("fieldNames") else ""),
                    escape(str(s.get("projectName") or s.get("projectId"))),
                    s.get("type"),
                )
                for s in secrets
            ],
        )

    @app.command("export")
    def export(
        fmt: Annotated[Format, typer.Option("--format", "-f", help="env, dotenv or json.")] = (
            Format.env
        ),
        project: ProjectOpt = None,
        identity: IdentityOpt = None,
        vault: VaultOpt = None,
    ) -> None:
        """Print every readable secret as environment variables (NAME, NAME_FIELD)."""
        hostcmds.export(fmt.value, project, identity, vault)

    @app.command(
        "run",
        context_settings={"allow_interspersed_args": False},
    )
    def run(
        command: Annotated[
            list[str] | None, typer.Argument(help="The command (after --).", show_default=False)
        ] = None,
        secret: Annotated[
            list[str] | None,
            typer.Option(
                "--secret", help="sk_… to inject as SK_<ID> (repeatable).", show_default=False
            ),
        ] = None,
        all_: Annotated[
            bool, typer.Option("--all", help="Inject every readable secret, named after it.")
        ] = False,
        project: ProjectOpt = None,
        prefix: Annotated[str, typer.Option("--prefix", help="Put before every name.")] = "",
        watch: Annotated[
            bool, typer.Option("--watch", help="Restart the command when a secret changes.")
        ] = False,
        watch_interval: Annotated[
            float, typer.Option("--watch-interval", help="Seconds between polls (at least 10).")
        ] = 15.0,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only list the variables; run nothing.")
        ] = False,
        show_values: Annotated[
            bool, typer.Option("--show-values", help="With --dry-run: print the values too.")
        ] = False,
        identity: IdentityOpt = None,
        vault: VaultOpt = None,
    ) -> None:
        """Run a command with secrets in its environment: keyledger run --all -- cmd args…"""
        code = hostcmds.run(
            list(command or []),
            list(secret or []),
            all_,
            project,
            prefix,
            (watch, watch_interval),
            (dry_run, show_values),
            identity,
            vault,
        )
        raise typer.Exit(code)
