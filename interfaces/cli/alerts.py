"""`keyledger alerts actions|set|smtp|test|status`: email alerts for audit actions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server, read_stdin_value
from interfaces.cli.output import emit_json, fail, say, table, usage, when

app = typer.Typer(help="Email alerts for audit actions.", no_args_is_help=True)


def _status(status: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(status)
        return
    smtp = status["smtp"]
    typer.echo(f"enabled actions: {', '.join(status['enabledActions']) or 'none'}")
    if smtp:
        typer.echo(
            f"smtp: {smtp['host']}:{smtp['port']} ({smtp['security']}) from {smtp['from']} "
            f"to {', '.join(smtp['to'])}"
        )
    else:
        typer.echo("smtp: not configured")
    for mail in status["recent"]:
        error = f" — {mail['lastError']}" if mail["lastError"] else ""
        typer.echo(f"  {when(mail['createdAt'])} {mail['action']}: {mail['state']}{error}")


@app.command("actions")
def actions(server: Server = None, json_out: Json = False) -> None:
    """Every alertable action with its severity and category."""
    found = Api(server).get("/v1/admin/alerts/actions")["actions"]
    if json_out:
        emit_json(found)
        return
    table(
        "Alertable actions",
        ["action", "name", "severity", "category"],
        [(a["action"], a["name"], a["severity"], a["category"]) for a in found],
    )


@app.command("set")
def set_actions(
    actions: Annotated[
        str | None, typer.Option("--actions", help="a,b,c: replaces the whole set ('' = none).")
    ] = None,
    all_critical: Annotated[bool, typer.Option("--all-critical")] = False,
    all_high: Annotated[bool, typer.Option("--all-high")] = False,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Choose the actions that send a mail; the previous set is replaced."""
    if actions is not None and (all_critical or all_high):
        usage("Give --actions or --all-critical/--all-high, not both")
    if actions is not None:
        body: dict[str, Any] = {"enabledActions": [a for a in actions.split(",") if a.strip()]}
    elif all_critical or all_high:
        body = {"allCritical": all_critical, "allHigh": all_high}
    else:
        usage("Give --actions a,b,c or --all-critical / --all-high")
    status = Api(server).post("/v1/admin/alerts", body)
    if json_out:
        emit_json(status)
    else:
        say(f"Alerts for {len(status['enabledActions'])} action(s).")


@app.command("smtp")
def smtp(
    host: Annotated[str, typer.Option("--host")],
    port: Annotated[int, typer.Option("--port")],
    sender: Annotated[str, typer.Option("--from", help="The From: address.")],
    to: Annotated[list[str], typer.Option("--to", help="A recipient (repeat for more).")],
    starttls: Annotated[bool, typer.Option("--starttls")] = False,
    tls: Annotated[bool, typer.Option("--tls", help="Implicit TLS (port 465).")] = False,
    user: Annotated[str | None, typer.Option("--user")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """The SMTP server alerts go through; the password is read from stdin, kept sealed."""
    if starttls and tls:
        usage("Choose --starttls or --tls, not both")
    password = read_stdin_value() if password_stdin else None
    if password_stdin and not password:
        usage("--password-stdin read nothing")
    body = {
        "host": host,
        "port": port,
        "from": sender,
        "to": [t for item in to for t in item.split(",") if t.strip()],
        "security": "tls" if tls else "starttls" if starttls else "none",
        "user": user,
        "password": password,
    }
    status = Api(server).post("/v1/admin/alerts/smtp", body)
    if json_out:
        _status(status, json_out)
    else:
        say("SMTP settings saved.")


@app.command("test")
def test(server: Server = None, json_out: Json = False) -> None:
    """Send one sample alert mail now; exit 1 if the SMTP server did not take it."""
    outcome = Api(server).post("/v1/admin/alerts/test")
    if json_out:
        emit_json(outcome)
    elif outcome["sent"]:
        say(f"Sample alert sent to {', '.join(outcome['to'])}.")
    if not outcome["sent"]:
        fail(f"Sample alert not sent: {outcome['error']}")


@app.command("status")
def status(server: Server = None, json_out: Json = False) -> None:
    """The enabled actions, the SMTP server, and recent alert mails with their errors."""
    _status(Api(server).get("/v1/admin/alerts"), json_out)
