"""`keyledger secret create-managed|set-agent|unset-agent|rotate|status|retry-rotation|schedule …`.

The admin password of a managed secret's database comes in on stdin, never argv.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.machines import seg
from interfaces.cli.options import Json, Server, read_stdin_value
from interfaces.cli.output import emit_json, say, usage, when

schedule = typer.Typer(help="Automatic rotation of a secret's value.", no_args_is_help=True)

SecretId = Annotated[str, typer.Argument(help="sk_…")]
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """'300', '300s', '5m', '1h', '30d' → seconds (the server checks 300 s – 30 d)."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not found:
        usage(f"--interval expects a duration like 300s, 5m, 1h or 7d, got {text!r}")
    return int(found.group(1)) * _UNITS[found.group(2)]


Interval = Annotated[str, typer.Option("--interval", help="300s … 30d, e.g. 1h.")]
Length = Annotated[int, typer.Option("--length", help="Generated length, 1–1024.")]
Charset = Annotated[str, typer.Option("--charset", help="symbols|alphanumeric|numbers|uuid")]


def _describe(status: dict[str, Any]) -> str:
    lines = [f"{status['secretId']}: version {status['version']}"]
    plan = status.get("schedule")
    if plan:
        state = "on" if plan["enabled"] else "paused"
        lines.append(
            f"  schedule: every {plan['intervalSeconds']} s ({state}), "
            f"{plan['length']} × {plan['charset']}, next {when(plan['nextDueMs'])}"
        )
    else:
        lines.append("  schedule: none")
    if status.get("agent") is not None:
        agent = status["agent"]
        if status.get("agentMachineId"):
            agent += f", machine {status['agentMachineId']}"
        else:
            agent += f" (name one: keyledger secret set-agent {status['secretId']} <machineId>)"
        if status.get("agentError"):
            agent += f" ({status['agentError']})"
        lines.append(f"  agent: {agent}")
    rotation = status["rotation"]
    if rotation == "pending":
        rotation += f" ({status.get('pendingRotationId')}{', held' if status.get('held') else ''})"
    if status.get("error"):
        rotation += f" — last error: {status['error']}"
    lines.append(f"  rotation: {rotation}")
    return "\n".join(lines)


def _show(result: dict[str, Any], json_out: bool, message: str | None = None) -> None:
    if json_out:
        emit_json(result)
    elif message is None:
        typer.echo(_describe(result))  # a report: stdout, like any listing
    else:
        say(message)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule, name="schedule")

    @app.command("create-managed")
    def create_managed(
        project: Annotated[str, typer.Option("--project", help="proj_…")],
        name: Annotated[str, typer.Option("--name", help="Unique in the project.")],
        provider: Annotated[str, typer.Option("--provider", help="postgresql|mysql|redis|mongodb")],
        host: Annotated[str, typer.Option("--host", help="As reachable from the agent.")],
        username: Annotated[str, typer.Option("--username", help="The managed role (≤ 63).")],
        admin_user: Annotated[str, typer.Option("--admin-user", help="Can create roles.")] = "",
        admin_pass_stdin: Annotated[
            bool, typer.Option("--admin-pass-stdin", help="Read the admin password from stdin.")
        ] = False,
        port: Annotated[int | None, typer.Option("--port", help="Default: the provider's.")] = None,
        database: Annotated[str, typer.Option("--database")] = "",
        option: Annotated[
            list[str] | None,
            typer.Option(
                "--option",
                help="Provider option KEY=VALUE: userHost (mysql), authDatabase (mongodb), "
                "mode=acl|requirepass and aclRules='+@all -@admin -@dangerous ~* &*' (redis).",
            ),
        ] = None,
        interval: Interval = "24h",
        length: Length = 32,
        charset: Charset = "alphanumeric",
        note: Annotated[str, typer.Option("--note")] = "",
        server: Server = None,
        json_out: Json = False,
    ) -> None:
        """A managed database credential: the agent applies every rotation, then it goes live."""
        if not admin_pass_stdin:
            usage("Give the admin password on stdin with --admin-pass-stdin")
        options: dict[str, str] = {}
        for item in option or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                usage(f"--option expects KEY=VALUE, got {key!r}")
            options[key] = value
        body = {
            "name": name,
            "provider": provider,
            "host": host,
            "port": port,
            "database": database,
            "adminUser": admin_user,
            "adminPass": read_stdin_value(),
            "username": username,
            "options": options,
            "intervalSeconds": parse_interval(interval),
            "length": length,
            "charset": charset,
            "note": note,
        }
        result = Api(server).post(f"/v1/admin/projects/{project}/managed-secrets", body)
        _show(
            result,
            json_out,
            f"Created managed secret {result['name']} ({result['id']}). Grant it to the agent "
            f"machine, name that machine with `keyledger secret set-agent {result['id']} "
            f"<machineId>`, then run `keyledger agent start --secret {result['id']}` there.",
        )

    @app.command("set-agent")
    def set_agent(
        secret_id: SecretId,
        machine_id: Annotated[str, typer.Argument(help="The agent machine's id (a UUID).")],
        server: Server = None,
        json_out: Json = False,
    ) -> None:
        """Name the machine whose sync agent applies this managed secret's rotations.

        Only that machine gets the admin connection and may confirm or reject; it must
        be approved, in the secret's project and granted the secret. Naming another
        machine replaces it (a rotation pending then is withdrawn and issued afresh).
        """
        body = {"machineId": machine_id}
        result = Api(server).post(f"/v1/admin/secrets/{seg(secret_id)}/set-agent", body)
        _show(result, json_out, f"Machine {machine_id} is now the agent of {secret_id}.")

    @app.command("unset-agent")
    def unset_agent(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
        """No machine is the agent any more (its agent exits at its next call)."""
        result = Api(server).post(f"/v1/admin/secrets/{seg(secret_id)}/unset-agent")
        _show(result, json_out, f"{secret_id} has no agent now; rotations wait for the next one.")

    @app.command("rotate")
    def rotate(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
        """Rotate now (a managed secret: its agent applies it before it goes live)."""
        result = Api(server).post(f"/v1/admin/secrets/{secret_id}/rotate")
        if result.get("rotationId"):
            message = f"Rotation {result['rotationId']} is pending until the agent confirms it."
        else:
            message = f"Rotated {secret_id} to version {result['version']}."
        _show(result, json_out, message)

    @app.command("status")
    def status(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
        """Schedule, agent health (no agent|healthy|unhealthy|error) and rotation state."""
        _show(Api(server).get(f"/v1/admin/secrets/{secret_id}/rotation"), json_out)

    @app.command("retry-rotation")
    def retry(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
        """Clear a failed rotation so the next cycle (or `secret rotate`) tries again."""
        _show(Api(server).post(f"/v1/admin/secrets/{secret_id}/retry-rotation"), json_out)


@schedule.command("set")
def set_schedule(
    secret_id: SecretId,
    interval: Interval = "24h",
    length: Length = 32,
    charset: Charset = "symbols",
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="Rotate only this field (repeatable); others stay static."),
    ] = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Attach (or change) an automatic rotation schedule."""
    body = {
        "intervalSeconds": parse_interval(interval),
        "length": length,
        "charset": charset,
        "fields": field or None,
    }
    _show(Api(server).post(f"/v1/admin/secrets/{secret_id}/schedule", body), json_out)


@schedule.command("pause")
def pause(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
    """Stop rotating until resumed."""
    _show(Api(server).post(f"/v1/admin/secrets/{secret_id}/schedule/pause"), json_out)


@schedule.command("resume")
def resume(secret_id: SecretId, server: Server = None, json_out: Json = False) -> None:
    """Rotate on schedule again (an overdue rotation happens at once)."""
    _show(Api(server).post(f"/v1/admin/secrets/{secret_id}/schedule/resume"), json_out)
