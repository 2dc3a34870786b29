"""`keyledger canary …`: tripwire secrets (their value is never shown)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, say, table, when

app = typer.Typer(
    help="Canary secrets: a granted machine's read freezes the project and raises the alarm.",
    no_args_is_help=True,
)
SecretId = Annotated[str, typer.Argument(help="sk_… of a canary")]


def _state(canary: dict[str, Any]) -> str:
    return "armed" if canary["enabled"] else "disarmed"


def _show(canary: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(canary)
        return
    last = when(canary["lastTriggeredAt"]) if canary["lastTriggeredAt"] else "never"
    say(
        f"{canary['id']} {canary['name']} in {canary['projectId']}: {_state(canary)}, "
        f"fired {canary['fireCount']} time(s), last {last}"
    )


@app.command("create")
def create(
    project: Annotated[str, typer.Option("--project", help="proj_…")],
    name: Annotated[str, typer.Option("--name", help="Looks like a real secret's name.")],
    no_freeze: Annotated[
        bool, typer.Option("--no-freeze", help="Do not freeze the project on a trip.")
    ] = False,
    freeze_related: Annotated[
        bool,
        typer.Option("--freeze-related", help="Also freeze projects sharing a machine with it."),
    ] = False,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Create an armed canary with a server-generated 64-character value."""
    body = {
        "projectId": project,
        "name": name,
        "triggerFreezeProject": not no_freeze,
        "triggerFreezeRelatedProjects": freeze_related,
    }
    _show(Api(server).post("/v1/admin/canaries", body), json_out)


@app.command("list")
def list_canaries(
    project: Annotated[str | None, typer.Option("--project", help="proj_…")] = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """List canaries with their state, fire count and last trip."""
    params = {"projectId": project} if project else {}
    canaries = Api(server).get("/v1/admin/canaries", **params)["canaries"]
    if json_out:
        emit_json(canaries)
        return
    table(
        "Canaries",
        ["id", "name", "project", "state", "fired", "last trip"],
        [
            (
                c["id"],
                c["name"],
                c["projectId"],
                _state(c),
                c["fireCount"],
                when(c["lastTriggeredAt"]) if c["lastTriggeredAt"] else "never",
            )
            for c in canaries
        ],
    )


@app.command("show")
def show(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
    """One canary: options, fire count, last trip."""
    _show(Api(server).get(f"/v1/admin/canaries/{secret_id}"), json_out)


@app.command("arm")
def arm(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
    """Arm a canary (idempotent)."""
    _show(Api(server).post(f"/v1/admin/canaries/{secret_id}/arm"), json_out)


@app.command("disarm")
def disarm(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
    """Disarm a canary: a read is then an ordinary read (idempotent)."""
    _show(Api(server).post(f"/v1/admin/canaries/{secret_id}/disarm"), json_out)
