"""Operator commands for machines, grants and (via `allowlist`) the IP allowlist.

Names and hostnames come from the machines themselves: they are cleaned of
control characters and Rich markup before they reach the operator's terminal.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape

from interfaces.cli import allowlist
from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import EXIT_ERROR, emit_json, stderr, table, usage, when

machine = typer.Typer(
    help="Bootstrap, approve and manage machines (workload identities).", no_args_is_help=True
)

MachineId = Annotated[str, typer.Argument(help="The machine's id (a UUID).", show_default=False)]
SecretId = Annotated[str, typer.Argument(help="sk_…", show_default=False)]
ProjectOpt = Annotated[
    str, typer.Option("--project", help="proj_… of the project.", show_default=False)
]


class Status(str, Enum):
    pending = "pending"
    approved = "approved"
    denied = "denied"
    revoked = "revoked"


def seg(value: str) -> str:
    """One URL path segment: an id can never reach another route."""
    return quote(value, safe="")


def clean(value: Any) -> str:
    """Printable text only: machine-supplied names and hostnames are untrusted."""
    text = "-" if value is None else str(value)
    return "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)


def cell(value: Any) -> str:
    """A table cell: `table` renders Rich markup, so escape it."""
    return escape(clean(value))


def tell(message: str) -> None:
    """A human message on stderr: no markup, never wrapped (commands stay copy-pastable)."""
    stderr.print(message, highlight=False, markup=False, soft_wrap=True)


def done(result: Any, json_out: bool, message: str) -> None:
    if json_out:
        emit_json(result)
    else:
        tell(message)


def _state(m: dict[str, Any]) -> str:
    if m["status"] == "approved" and not m["enabled"]:
        return "approved (disabled)"
    return str(m["status"])


@machine.command("token")
def token(
    name: Annotated[
        str, typer.Option("--name", help="Name for the machine that redeems it (optional).")
    ] = "",
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Create a single-use bootstrap token (valid 10 minutes) and show how to use it."""
    result = Api(server).post("/v1/admin/machines/token", {"name": name})
    if json_out:
        emit_json(result)
        return
    tell(f"Bootstrap token: {clean(result['token'])}")
    tell(f"Expires at:      {when(result['expiresAt'])} UTC (single use)")
    tell("\nOn the machine, run either:\n")
    tell(f"  {clean(result['commands']['sh'])}\n")
    tell(f"  {clean(result['commands']['python'])}\n")
    tell("Then approve it: keyledger machine list --status pending")


@machine.command("list")
def list_machines(
    status: Annotated[
        Status | None, typer.Option("--status", help="Only machines in this state.")
    ] = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """List machines with their state, projects and grant counts."""
    machines = Api(server).get("/v1/admin/machines", status=status.value if status else None)[
        "machines"
    ]
    if json_out:
        emit_json(machines)
        return
    table(
        "Machines",
        ["id", "name", "hostname", "status", "projects", "grants", "registered"],
        [
            (
                m["id"],
                cell(m["name"]),
                cell(m["hostname"]),
                _state(m),
                ", ".join(m["projects"]) or "-",
                m["grantCount"],
                when(m["createdAt"]),
            )
            for m in machines
        ],
    )


@machine.command("show")
def show(machine_id: MachineId, server: Server = None, json_out: Json = False) -> None:
    """Show one machine: state, name history, projects and granted secrets."""
    m = Api(server).get(f"/v1/admin/machines/{seg(machine_id)}")
    if json_out:
        emit_json(m)
        return
    for label, value in (
        ("id", m["id"]),
        ("name", clean(m["name"])),
        ("hostname", clean(m["hostname"])),
        ("status", _state(m)),
        ("names", " → ".join(clean(n) for n in m["nameHistory"])),
        ("projects", ", ".join(m["projects"]) or "-"),
        ("grants", ", ".join(m["grants"]) or "-"),
        ("kind", m["kind"] + (f", expires {when(m['expiresAt'])} UTC" if m["expiresAt"] else "")),
    ):
        tell(f"{label:>9}: {value}")


def _action(verb: str, past: str) -> Any:
    def command(machine_id: MachineId, server: Server = None, json_out: Json = False) -> None:
        result = Api(server).post(f"/v1/admin/machines/{seg(machine_id)}/{verb}")
        done(result, json_out, f"Machine {clean(result['name'])} ({result['id']}) {past}.")

    return command


machine.command("approve", help="Approve a pending machine: it may then authenticate.")(
    _action("approve", "approved")
)
machine.command("deny", help="Deny a pending machine (final; its token is spent).")(
    _action("deny", "denied")
)
machine.command("disable", help="Temporarily stop an approved machine from authenticating.")(
    _action("disable", "disabled")
)
machine.command("enable", help="Let a disabled machine authenticate again.")(
    _action("enable", "enabled")
)


@machine.command("rename")
def rename(
    machine_id: MachineId,
    name: Annotated[str, typer.Argument(help="The new name (1–255 printable characters).")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Rename a machine (earlier names are kept in its history)."""
    result = Api(server).post(f"/v1/admin/machines/{seg(machine_id)}/rename", {"name": name})
    done(result, json_out, f"Machine {result['id']} renamed to {clean(result['name'])}.")


def _cascade(result: dict[str, Any]) -> str:
    return f"{result['grants']} grant(s) and {result['projects']} project membership(s)"


@machine.command("revoke")
def revoke(
    machine_id: MachineId,
    preview: Annotated[
        bool, typer.Option("--preview", help="Only count what would be dropped; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Revoke a machine for good, dropping all its grants and project memberships."""
    api = Api(server)
    path = f"/v1/admin/machines/{seg(machine_id)}/revoke"
    if preview:
        result = api.post(path, {"preview": True})
        done(result, json_out, f"Revoking {machine_id} would drop {_cascade(result)}.")
        return
    if not yes:
        if not sys.stdin.isatty():
            usage("Revoking a machine is permanent: pass --yes to confirm (stdin is not a tty)")
        counts = api.post(path, {"preview": True})
        tell(f"Revoking {machine_id} drops {_cascade(counts)}. This cannot be undone.")
        if not typer.confirm("Revoke it?", default=False, err=True):
            tell("Nothing revoked.")
            raise typer.Exit(EXIT_ERROR)
    result = api.post(path, {"preview": False})
    done(result, json_out, f"Machine {machine_id} revoked; dropped {_cascade(result)}.")


@machine.command("add-to-project")
def add_to_project(
    machine_id: MachineId, project: ProjectOpt, server: Server = None, json_out: Json = False
) -> None:
    """Make a machine a member of a project (needed before any grant there)."""
    result = Api(server).post(
        f"/v1/admin/machines/{seg(machine_id)}/projects", {"projectId": project}
    )
    done(result, json_out, f"Machine {machine_id} added to project {project}.")


@machine.command("remove-from-project")
def remove_from_project(
    machine_id: MachineId, project: ProjectOpt, server: Server = None, json_out: Json = False
) -> None:
    """Detach a machine from a project; its grants on that project's secrets go too."""
    result = Api(server).post(
        f"/v1/admin/machines/{seg(machine_id)}/projects/{seg(project)}/remove"
    )
    dropped = result["grantsDropped"]
    done(result, json_out, f"Machine {machine_id} removed from {project}; {dropped} grant(s) gone.")


def register(app: typer.Typer) -> None:
    """Add `machine …`, `grant`, `revoke-grant` and `ipallowlist …` to the root app."""
    app.add_typer(machine, name="machine")
    app.add_typer(allowlist.app, name="ipallowlist")

    @app.command("grant")
    def grant(
        machine_id: MachineId, secret_id: SecretId, server: Server = None, json_out: Json = False
    ) -> None:
        """Let a machine read a secret (the machine must be in the secret's project)."""
        result = Api(server).post(
            f"/v1/admin/machines/{seg(machine_id)}/grants", {"secretId": secret_id}
        )
        done(result, json_out, f"Machine {machine_id} may now read {secret_id}.")

    @app.command("revoke-grant")
    def revoke_grant(
        machine_id: MachineId, secret_id: SecretId, server: Server = None, json_out: Json = False
    ) -> None:
        """Take back a machine's permission to read a secret."""
        result = Api(server).post(
            f"/v1/admin/machines/{seg(machine_id)}/grants/{seg(secret_id)}/revoke"
        )
        done(result, json_out, f"Machine {machine_id} may no longer read {secret_id}.")
