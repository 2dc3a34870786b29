"""The `keyledger` Typer app: every command, grouped (`main` starts it, or the fast path)."""

from __future__ import annotations

import typer

from interfaces.cli import (
    agent,
    alerts,
    auditexport,
    auditpit,
    auditquery,
    audittail,
    cachecli,
    canaries,
    docker,
    enrollment,
    host,
    local,
    machines,
    operator,
    policies,
    projects,
    rotation,
    secrets,
    shares,
    tempmachines,
    webhooks,
)
from interfaces.cli import (
    audit as audit_cli,
)
from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, table, when

app = typer.Typer(
    name="keyledger",
    help="keyledger: a self-hosted secrets manager whose event store is its audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
audit = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)

app.add_typer(projects.app, name="project")
app.add_typer(secrets.app, name="secret")
app.add_typer(canaries.app, name="canary")
app.add_typer(policies.app, name="policy")
app.add_typer(audit, name="audit")
app.add_typer(local.projections, name="projections")
app.add_typer(agent.app, name="agent")
app.add_typer(webhooks.app, name="webhook")
app.add_typer(alerts.app, name="alerts")
app.add_typer(shares.app, name="share")
app.add_typer(docker.app, name="docker")
app.add_typer(enrollment.app, name="enrollment")
_ = tempmachines  # its commands join `keyledger machine`
operator.register(app)
cachecli.register(app)
local.register(app)
audit_cli.register(audit)
auditquery.register(audit)
auditexport.register(audit)
machines.register(app)
host.register(app)
rotation.register(secrets.app)
auditpit.register(audit)


@audit.command("tail")
def tail(
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        max=1000,
        help="How many entries (default 50); with --follow, print the last N first.",
    ),
    since: int = typer.Option(
        0, "--since", min=0, help="Only entries after this time (epoch ms); with --follow too."
    ),
    server: Server = None,
    json_out: Json = False,
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Print records live as they arrive, until Ctrl-C."
    ),
    after: str | None = typer.Option(
        None, "--after", help="With --follow: resume after this stream event id."
    ),
) -> None:
    """The newest audit entries, newest last; `--follow`: live, one line (or JSON) each."""
    if follow:
        start = {"since": since} if since else {"tail": limit} if limit else {}
        audittail.follow(server, json_out, after, start)
        return
    entries = Api(server).get("/v1/admin/audit", limit=limit or 50, since=since)["entries"]
    if json_out:
        emit_json(entries)
        return
    table(
        "Audit log",
        ["id", "time (UTC)", "action", "severity", "actor", "secret", "ip", "detail"],
        [
            (
                e["id"],
                when(e["timestamp"]),
                e["action"],
                e["severity"],
                e["actorKind"],
                e["secretId"],
                e["sourceIp"],
                e["detail"],
            )
            for e in entries
        ],
    )
