"""`keyledger audit query` and `keyledger audit actions`: the server's audit query, from
the command line (a table, --json, or --csv on stdout).

Values are passed to the server as given; it checks them all and a refusal ends the
command with its reason (exit 1), so the CLI and the API never disagree on what is valid.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, say, table, when


def _many(values: list[str] | None) -> list[str] | None:
    """Repeatable and comma-separated options, as one list (None when not given)."""
    items = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return items or None


def register(audit: typer.Typer) -> None:
    @audit.command("actions")
    def actions(server: Server = None, json_out: Json = False) -> None:
        """Every audit action keyledger records, with its severity and category."""
        listed = Api(server).get("/v1/admin/audit/actions")["actions"]
        if json_out:
            emit_json(listed)
            return
        rows = [(a["action"], a["severity"], a["category"]) for a in listed]
        table("Audit actions", ["action", "severity", "category"], rows)

    @audit.command("query")
    def query(
        action: Annotated[
            list[str] | None,
            typer.Option("--action", help="Action name(s); repeat or comma-separate."),
        ] = None,
        severity: Annotated[
            list[str] | None,
            typer.Option("--severity", help="critical, high, medium, low, info; repeatable."),
        ] = None,
        actor_kind: Annotated[
            list[str] | None,
            typer.Option("--actor-kind", help="user, machine, ai_agent, system, external."),
        ] = None,
        actor: Annotated[
            str | None, typer.Option("--actor", help="A user, machine or AI agent id.")
        ] = None,
        machine: Annotated[str | None, typer.Option("--machine", help="Machine id.")] = None,
        secret: Annotated[str | None, typer.Option("--secret", help="Secret id (sk_…).")] = None,
        project: Annotated[str | None, typer.Option("--project", help="Project id.")] = None,
        source_ip: Annotated[
            str | None,
            typer.Option(
                "--source-ip", help="An address, or a CIDR such as 10.0.0.0/8 or ::1/128."
            ),
        ] = None,
        search: Annotated[
            str | None, typer.Option("--search", help="Text in the detail (any case).")
        ] = None,
        since: Annotated[
            str | None,
            typer.Option("--from", help="From this time (inclusive): epoch ms or ISO-8601 (UTC)."),
        ] = None,
        until: Annotated[
            str | None, typer.Option("--to", help="Up to this time (exclusive); as --from.")
        ] = None,
        sort_by: Annotated[
            str | None,
            typer.Option("--sort-by", help="timestamp (default), action, severity or sourceIp."),
        ] = None,
        sort_dir: Annotated[
            str | None, typer.Option("--sort-dir", help="desc (default) or asc.")
        ] = None,
        page: Annotated[str | None, typer.Option("--page", help="Page, from 1.")] = None,
        page_size: Annotated[
            str | None, typer.Option("--page-size", help="Entries a page, 1-200 (default 50).")
        ] = None,
        csv_out: Annotated[
            bool,
            typer.Option("--csv", help="CSV on stdout: up to 10,000 rows, warns when cut."),
        ] = False,
        server: Server = None,
        json_out: Json = False,
    ) -> None:
        """Search the audit log: vault changes and machine access, filtered, sorted, paged.

        Example: keyledger audit query --action secret_read --severity high,critical
        --from 2026-11-01T00:00Z --to 2026-11-02T00:00Z --page 1 --page-size 50
        """
        params = {
            "actions": _many(action),
            "severities": _many(severity),
            "actorKind": _many(actor_kind),
            "actorId": actor,
            "machineId": machine,
            "secretId": secret,
            "projectId": project,
            "sourceIp": source_ip,
            "search": search,
            "from": since,
            "to": until,
            "sortBy": sort_by,
            "sortDir": sort_dir,
            "page": page,
            "pageSize": page_size,
        }
        api = Api(server)
        if csv_out:
            response = api.get_text("/v1/admin/audit/query.csv", **params)
            sys.stdout.write(response.text)
            if response.headers.get("x-keyledger-truncated") == "true":
                total = response.headers.get("x-keyledger-total", "more")
                say(f"warning: the CSV was cut at 10,000 rows of {total}; narrow the filters")
            return
        result = api.get("/v1/admin/audit/query", **params)
        if json_out:
            emit_json(result)
            return
        entries = result["entries"]
        table(
            f"Audit log: page {result['page']}, {len(entries)} of {result['total']} entries",
            [
                "id",
                "time (UTC)",
                "action",
                "severity",
                "actor",
                "machine",
                "secret",
                "ip",
                "detail",
            ],
            [
                (
                    e["id"],
                    when(e["timestamp"]),
                    e["action"],
                    e["severity"],
                    e["actorKind"],
                    e["machineId"],
                    e["secretId"],
                    e["sourceIp"],
                    e["detail"],
                )
                for e in entries
            ],
        )
