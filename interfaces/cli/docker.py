"""`keyledger docker provision`: a container's machine identity, made by the server.

The machine is approved, in the project and granted before the command returns; its
identity (identity.json, private.pem, cli.json) waits behind a link that works once
within 15 minutes. The link is shown this once."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, say, when

app = typer.Typer(help="Docker: pre-provisioned machine identities.", no_args_is_help=True)


@app.command("provision")
def provision(
    project: Annotated[str, typer.Option("--project", help="proj_… the container reads from.")],
    secret: Annotated[list[str], typer.Option("--secret", help="sk_… to grant (repeat for each).")],
    name: Annotated[
        str, typer.Option("--name", help="Machine name (default: docker-<random>).")
    ] = "",
    mount_path: Annotated[
        str, typer.Option("--mount-path", help="Where the container mounts the bundle.")
    ] = "/etc/keyledger",
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Make an approved, granted machine and a single-use 15-minute link to its ZIP."""
    body: dict[str, Any] = {
        "projectId": project,
        "secretIds": secret,
        "name": name,
        "mountPath": mount_path,
    }
    made = Api(server).post("/v1/admin/docker/provision", body)
    if json_out:
        emit_json(made)
        return
    say(f"Machine {made['machineId']} ({made['machineName']}): approved, granted")
    say(f"Bundle link (once, until {when(made['expiresAt'])}): {made['url']}")
    say(f"  curl -o keyledger.zip '{made['url']}' && unzip keyledger.zip -d ./keyledger")
    say(
        f'  docker run -v "$PWD/keyledger:{mount_path}:ro" '
        f"-e KEYLEDGER_IDENTITY={mount_path}/identity.json "
        f"-e SIKKERKEY_IDENTITY={mount_path}/identity.json …"
    )
