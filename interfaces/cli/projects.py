"""`keyledger project …`"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, say, table, when

app = typer.Typer(
    help="Create, list, delete, restore and purge projects (each has its own master key).",
    no_args_is_help=True,
)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Project name (at most 100 characters).")],
    description: Annotated[str, typer.Option("--description", help="Optional description.")] = "",
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Create a project."""
    result = Api(server).post("/v1/admin/projects", {"name": name, "description": description})
    if json_out:
        emit_json(result)
    else:
        say(f"Created project {result['name']} ({result['id']}).")


@app.command("list")
def list_projects(server: Server = None, json_out: Json = False) -> None:
    """List projects with their secret counts."""
    projects = Api(server).get("/v1/admin/projects")["projects"]
    if json_out:
        emit_json(projects)
        return
    table(
        "Projects",
        ["id", "name", "secrets", "created"],
        [(p["id"], p["name"], p["secretCount"], when(p["createdAt"])) for p in projects],
    )


@app.command("update")
def update(
    project_id: Annotated[str, typer.Argument(help="proj_…")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Rename a project or change its description."""
    result = Api(server).post(
        f"/v1/admin/projects/{project_id}/update", {"name": name, "description": description}
    )
    if json_out:
        emit_json(result)
    else:
        say(f"Updated project {result['id']}.")


ProjectId = Annotated[str, typer.Argument(help="proj_…")]


def _trash_life(verb: str, done: Callable[[str, dict[str, Any]], str]) -> Any:
    def command(project_id: ProjectId, server: Server = None, json_out: Json = False) -> None:
        result = Api(server).post(f"/v1/admin/projects/{project_id}/{verb}")
        if json_out:
            emit_json(result)
        else:
            say(done(project_id, result))

    return command


app.command(
    "delete",
    help="Move a project to the trash for 30 days: its secrets stay stored but no machine "
    "can read them (answered as deleted). Restorable until purged; the trash sweep purges "
    "it after 30 days.",
)(
    _trash_life(
        "delete",
        lambda pid, r: (
            f"{pid} moved to the trash; purged automatically after {when(r['purgeAt'])}."
        ),
    )
)
app.command(
    "restore", help="Bring a project back from the trash, secrets, members and grants intact."
)(_trash_life("restore", lambda pid, _r: f"{pid} restored."))
app.command(
    "purge",
    help="Crypto-shred a project in the trash now: its key is destroyed (recorded as an "
    "event), so its secrets can never be decrypted again. Delete it first. Irreversible.",
)(_trash_life("purge", lambda pid, _r: f"{pid} purged: its key is destroyed."))


def _freeze(verb: str, done: str) -> Any:
    def command(project_id: ProjectId, server: Server = None, json_out: Json = False) -> None:
        result = Api(server).post(f"/v1/admin/projects/{project_id}/{verb}")
        if json_out:
            emit_json(result)
        else:
            say(f"{project_id} {done}.")

    return command


app.command(
    "freeze", help="Freeze a project: every machine request touching it answers 423 Locked."
)(_freeze("freeze", "frozen: machines are refused (423) until you unfreeze it"))
app.command("unfreeze", help="Unfreeze a project: machines may read again (canaries stay armed).")(
    _freeze("unfreeze", "unfrozen")
)


@app.command("trash")
def trash(server: Server = None, json_out: Json = False) -> None:
    """List projects in the trash and when each is purged."""
    projects = Api(server).get("/v1/admin/trash")["projects"]
    if json_out:
        emit_json(projects)
        return
    table(
        "Projects in the trash",
        ["id", "name", "secrets", "deleted", "purged at"],
        [
            (p["id"], p["name"], p["secretCount"], when(p["deletedAt"]), when(p["purgeAt"]))
            for p in projects
        ],
    )
