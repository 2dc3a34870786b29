"""`keyledger machine temp-token | extend | extend-revert`: temporary machines."""

from __future__ import annotations

from typing import Annotated

import typer

from interfaces.cli.client import Api
from interfaces.cli.machines import MachineId, clean, done, machine, seg, tell
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, when


@machine.command("temp-token")
def temp_token(
    name: Annotated[str, typer.Option("--name", help="The temporary machine's name.")],
    lifetime: Annotated[str, typer.Option("--lifetime", help="1h to 12 months, e.g. 7d.")],
    ip: Annotated[
        list[str] | None, typer.Option("--ip", help="Allowed source CIDR (repeatable).")
    ] = None,
    hours: Annotated[
        str | None, typer.Option("--hours", help="Time-of-day window, e.g. 08:00-18:00.")
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of --hours.")] = "UTC",
    server: Server = None,
    json_out: Json = False,
) -> None:
    """A single-use token for one temporary machine (it still needs approval)."""
    body = {"name": name, "lifetime": lifetime, "ips": ip or [], "hours": hours, "tz": tz}
    result = Api(server).post("/v1/admin/machines/temp-token", body)
    if json_out:
        emit_json(result)
        return
    tell(f"Temporary bootstrap token (single use, until {when(result['expiresAt'])} UTC).")
    tell(f"\nOn the machine, run:\n\n  {clean(result['command'])}\n")
    tell("Then approve it: keyledger machine list --status pending")


@machine.command("extend")
def extend(
    machine_id: MachineId,
    until: Annotated[str, typer.Option("--until", help="New expiry (ISO date, ≤ 12 months).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Move a temporary or enrolled machine's expiry (history kept)."""
    body = {"until": until, "reason": reason}
    result = Api(server).post(f"/v1/admin/machines/{seg(machine_id)}/extend", body)
    done(
        result,
        json_out,
        f"Machine {clean(result['name'])} now expires {when(result['expiresAt'])} UTC.",
    )


@machine.command("extend-revert")
def extend_revert(machine_id: MachineId, server: Server = None, json_out: Json = False) -> None:
    """Undo the latest extension still in force."""
    result = Api(server).post(f"/v1/admin/machines/{seg(machine_id)}/extend-revert")
    done(
        result,
        json_out,
        f"Machine {clean(result['name'])} expires {when(result['expiresAt'])} UTC again.",
    )
