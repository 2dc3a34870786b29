"""`keyledger secret …`: metadata in and out; values go in through stdin, never argv."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server, read_stdin_value
from interfaces.cli.output import emit_json, say, table, usage, when

app = typer.Typer(help="Store and manage secrets (values are never shown).", no_args_is_help=True)

SecretId = Annotated[str, typer.Argument(help="sk_…")]
ValueStdin = Annotated[
    bool, typer.Option("--value-stdin", help="Read the value from standard input.")
]
Fields = Annotated[
    list[str] | None,
    typer.Option(
        "--field",
        help="A structured field NAME=VALUE (repeatable); an empty VALUE is generated.",
    ),
]


def _value_body(value_stdin: bool, fields: list[str] | None) -> dict[str, Any]:
    if value_stdin == bool(fields):
        usage("Give exactly one of --value-stdin or --field NAME=VALUE")
    if value_stdin:
        return {"value": read_stdin_value()}
    parsed: dict[str, str] = {}
    for item in fields or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            usage(f"--field expects NAME=VALUE, got {name!r}")
        if name in parsed:
            usage(f"Field {name!r} given twice")
        parsed[name] = value
    return {"fields": parsed}


def _done(result: dict[str, Any], json_out: bool, message: str) -> None:
    if json_out:
        emit_json(result)
    else:
        say(message)


@app.command("create")
def create(
    project: Annotated[str, typer.Option("--project", help="proj_…")],
    name: Annotated[str, typer.Option("--name", help="Unique in the project, 1–255 characters.")],
    value_stdin: ValueStdin = False,
    field: Fields = None,
    note: Annotated[str, typer.Option("--note")] = "",
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Create a standard secret (--value-stdin) or a structured one (--field …)."""
    body = {"name": name, "note": note, **_value_body(value_stdin, field)}
    result = Api(server).post(f"/v1/admin/projects/{project}/secrets", body)
    _done(result, json_out, f"Created {result['type']} secret {result['name']} ({result['id']}).")


@app.command("list")
def list_secrets(
    project: Annotated[str, typer.Option("--project", help="proj_…")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """List a project's secrets: metadata only, never values."""
    secrets = Api(server).get(f"/v1/admin/projects/{project}/secrets")["secrets"]
    if json_out:
        emit_json(secrets)
        return
    table(
        "Secrets",
        ["id", "name", "type", "fields", "version", "updated"],
        [
            (s["id"], s["name"], s["type"], s["fieldNames"], s["version"], when(s["updatedAt"]))
            for s in secrets
        ],
    )


@app.command("show")
def show(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
    """Show one secret's metadata."""
    result = Api(server).get(f"/v1/admin/secrets/{secret_id}")
    if json_out:
        emit_json(result)
        return
    for key, value in result.items():
        say(f"{key:>10}: {value}")


@app.command("replace")
def replace(
    secret_id: SecretId,
    value_stdin: ValueStdin = False,
    field: Fields = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Write a new version with a fresh data key."""
    result = Api(server).post(
        f"/v1/admin/secrets/{secret_id}/replace", _value_body(value_stdin, field)
    )
    _done(result, json_out, f"{secret_id} is now at version {result['version']}.")


@app.command("versions")
def versions(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
    """List version numbers and timestamps (never values)."""
    result = Api(server).get(f"/v1/admin/secrets/{secret_id}/versions")
    if json_out:
        emit_json(result)
        return
    table(
        f"Versions of {secret_id} (current {result['current']})",
        ["version", "created", "rolled back from"],
        [(v["version"], when(v["createdAt"]), v["rolledBackFrom"]) for v in result["versions"]],
    )


@app.command("rollback")
def rollback(
    secret_id: SecretId,
    version: Annotated[int, typer.Option("--version", min=1, help="The version to return to.")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Write a NEW version holding an old version's value."""
    result = Api(server).post(f"/v1/admin/secrets/{secret_id}/rollback", {"version": version})
    _done(result, json_out, f"{secret_id} rolled back: version {result['version']} = v{version}.")


@app.command("rename")
def rename(
    secret_id: SecretId,
    name: Annotated[str, typer.Argument(help="The new name.")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Rename a secret (grants follow the id, not the name)."""
    result = Api(server).post(f"/v1/admin/secrets/{secret_id}/name", {"name": name})
    _done(result, json_out, f"{secret_id} renamed to {result['name']}.")


@app.command("note")
def note(
    secret_id: SecretId,
    text: Annotated[str, typer.Argument(help="The note (empty clears it).")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Set a secret's note."""
    result = Api(server).post(f"/v1/admin/secrets/{secret_id}/note", {"note": text})
    _done(result, json_out, f"Note of {secret_id} updated.")


def _lifecycle(verb: str, past: str) -> Any:
    def command(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
        result = Api(server).post(f"/v1/admin/secrets/{secret_id}/{verb}")
        _done(result, json_out, f"{secret_id} {past}.")

    return command


app.command("delete", help="Move a secret to the trash (restorable for 30 days).")(
    _lifecycle("delete", "moved to the trash")
)
app.command("restore", help="Bring a secret back from the trash.")(
    _lifecycle("restore", "restored")
)
app.command("purge", help="Destroy a trashed secret and its history now (keys shredded).")(
    _lifecycle("purge", "purged")
)


@app.command("trash")
def trash(server: Server = None, json_out: Json = False) -> None:
    """List secrets in the trash and when each is purged."""
    secrets = Api(server).get("/v1/admin/trash")["secrets"]
    if json_out:
        emit_json(secrets)
        return
    table(
        "Trash",
        ["id", "name", "project", "deleted", "purged at"],
        [
            (s["id"], s["name"], s["projectId"], when(s["deletedAt"]), when(s["purgeAt"]))
            for s in secrets
        ],
    )
