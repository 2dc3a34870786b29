"""`keyledger project …`"""

from __future__ import annotations

from typing import Annotated

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, say, table, when

app = typer.Typer(
    help="Create and list projects (each has its own master key).", no_args_is_help=True
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
