"""`keyledger webhook add|list|show|test|enable|disable|remove`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.machines import seg
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, fail, say, table, when

app = typer.Typer(help="Signed webhooks for audit actions.", no_args_is_help=True)
WebhookId = Annotated[str, typer.Argument(help="wh_…")]


def _actions(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def _describe(w: dict[str, Any]) -> str:
    state = "enabled" if w["enabled"] else "DISABLED"
    lines = [
        f"{w['id']}: {w['url']} ({state})",
        f"  actions: {', '.join(w['actions'])}",
        f"  consecutive failures: {w['consecutiveFailures']}",
        f"  last delivered: {when(w['lastDeliveredAt'])}   last failed: {when(w['lastFailedAt'])}",
    ]
    if w.get("lastError"):
        lines.append(f"  last error: {w['lastError']}")
    return "\n".join(lines)


def _show(w: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(w)
    else:
        typer.echo(_describe(w))


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="https://… (≤ 2,048 characters)")],
    actions: Annotated[str, typer.Option("--actions", help="Audit actions, comma-separated.")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Register a webhook; its signing secret is printed this once."""
    created = Api(server).post("/v1/admin/webhooks", {"url": url, "actions": _actions(actions)})
    if json_out:
        emit_json(created)
        return
    typer.echo(_describe(created))
    typer.echo(f"  signing secret (shown once): {created['signingSecret']}")


@app.command("list")
def list_all(server: Server = None, json_out: Json = False) -> None:
    """Every webhook with its health."""
    found = Api(server).get("/v1/admin/webhooks")["webhooks"]
    if json_out:
        emit_json(found)
        return
    table(
        "Webhooks",
        ["id", "url", "enabled", "actions", "failures", "last error"],
        [
            (w["id"], w["url"], w["enabled"], ",".join(w["actions"]), w["consecutiveFailures"],
             w["lastError"])
            for w in found
        ],
    )  # fmt: skip


@app.command("show")
def show(webhook_id: WebhookId, server: Server = None, json_out: Json = False) -> None:
    _show(Api(server).get(f"/v1/admin/webhooks/{seg(webhook_id)}"), json_out)


@app.command("test")
def test(webhook_id: WebhookId, server: Server = None, json_out: Json = False) -> None:
    """Send one signed sample now; exit 1 if the receiver did not take it."""
    outcome = Api(server).post(f"/v1/admin/webhooks/{seg(webhook_id)}/test")
    if json_out:
        emit_json(outcome)
    elif outcome["delivered"]:
        say(f"Sample {outcome['deliveryId']} delivered (HTTP {outcome['status']}).")
    if not outcome["delivered"]:
        fail(f"Sample not delivered: {outcome['error']}")


@app.command("enable")
def enable(webhook_id: WebhookId, server: Server = None, json_out: Json = False) -> None:
    """On again, failure count reset; deliveries held while it was off go out."""
    _show(Api(server).post(f"/v1/admin/webhooks/{seg(webhook_id)}/enable"), json_out)


@app.command("disable")
def disable(webhook_id: WebhookId, server: Server = None, json_out: Json = False) -> None:
    _show(Api(server).post(f"/v1/admin/webhooks/{seg(webhook_id)}/disable"), json_out)


@app.command("remove")
def remove(webhook_id: WebhookId, server: Server = None, json_out: Json = False) -> None:
    done = Api(server).post(f"/v1/admin/webhooks/{seg(webhook_id)}/delete")
    if json_out:
        emit_json(done)
    else:
        say(f"Webhook {webhook_id} removed.")
