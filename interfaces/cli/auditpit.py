"""`keyledger audit as-of | who-could-read | who-read`: point-in-time answers.

The server folds its own events (no local store is read); times are passed as typed,
ISO-8601 or epoch ms, and a malformed one comes back as the server's 400.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, say, table, when

At = Annotated[str, typer.Argument(help="ISO-8601 (2026-11-01T02:14Z) or epoch ms.")]
SecretId = Annotated[str, typer.Argument(help="sk_…")]


def as_of(at: At, server: Server = None, json_out: Json = False) -> None:
    """The vault as it was at a time: projects, secrets, machines, access, allowlist."""
    state = Api(server).get("/v1/admin/audit/as-of", at=at)
    if json_out:
        emit_json(state)
        return
    say(f"Vault as of {when(state['at'])} UTC ({state['events']} events)")
    table(
        "Projects",
        ["id", "name", "frozen"],
        [(p["id"], p["name"], p["frozen"]) for p in state["projects"]],
    )
    table(
        "Secrets",
        ["id", "project", "name", "version", "state"],
        [(s["id"], s["projectId"], s["name"], s["version"], s["state"]) for s in state["secrets"]],
    )
    table(
        "Machines",
        ["id", "name", "status"],
        [(m["id"], m["name"], m["status"]) for m in state["machines"]],
    )
    table(
        "Access",
        ["machine", "project or secret"],
        [(m["machineId"], m["projectId"]) for m in state["memberships"]]
        + [(g["machineId"], g["secretId"]) for g in state["grants"]],
    )
    allowlist = state["ipAllowlist"]
    cidrs = ", ".join(e["cidr"] for e in allowlist["entries"]) or "no entries"
    say(f"IP allowlist {'enabled' if allowlist['enabled'] else 'disabled'}: {cidrs}")


def who_could_read(
    secret_id: SecretId,
    at: Annotated[str, typer.Option("--at", help="ISO-8601 or epoch ms.")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Each machine known at a time: could it read the secret, else the first gate
    condition it failed."""
    answer = Api(server).get("/v1/admin/audit/who-could-read", secret=secret_id, at=at)
    if json_out:
        emit_json(answer)
        return
    rows: list[tuple[Any, ...]] = [
        (
            m["machineId"],
            m["name"],
            "yes" if m["couldRead"] else "no",
            m["failedCondition"] or "; ".join(m["conditions"]) or "-",
        )
        for m in answer["machines"]
    ]
    title = f"Who could read {answer['secretId']} at {when(answer['at'])} UTC"
    table(title, ["machine", "name", "could read", "why not / provided"], rows)


def who_read(
    secret_id: SecretId,
    start: Annotated[str | None, typer.Option("--from", help="ISO-8601 or epoch ms.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO-8601 or epoch ms.")] = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Answered reads of a secret in a window, by machine, with first and last."""
    params = {"secret": secret_id, "from": start, "to": end}
    answer = Api(server).get("/v1/admin/audit/who-read", **params)
    if json_out:
        emit_json(answer)
        return
    table(
        f"Reads of {answer['secretId']}: {answer['reads']}",
        ["machine", "reads", "first (UTC)", "last (UTC)"],
        [
            (m["machineId"], m["reads"], when(m["firstRead"]), when(m["lastRead"]))
            for m in answer["machines"]
        ],
    )


def register(audit: typer.Typer) -> None:
    audit.command("as-of")(as_of)
    audit.command("who-could-read")(who_could_read)
    audit.command("who-read")(who_read)
