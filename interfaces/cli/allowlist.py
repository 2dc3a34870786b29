"""`keyledger ipallowlist …`: which source IPs machines may connect from."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, stderr, table

app = typer.Typer(
    help="The vault IP allowlist: when enabled, machines may connect only from listed ranges.",
    no_args_is_help=True,
)

PATH = "/v1/admin/ipallowlist"


def _tell(message: str) -> None:
    stderr.print(message, highlight=False, markup=False, soft_wrap=True)


def _state(result: dict[str, Any]) -> str:
    n = len(result["entries"])
    state = "enabled" if result["enabled"] else "disabled"
    return f"IP allowlist {state}, {n} {'entry' if n == 1 else 'entries'}."


@app.command("list")
def list_entries(server: Server = None, json_out: Json = False) -> None:
    """Show whether the allowlist is enforced and its entries."""
    result = Api(server).get(PATH)
    if json_out:
        emit_json(result)
        return
    table(
        f"IP allowlist ({'enabled' if result['enabled'] else 'disabled: every IP allowed'})",
        ["id", "cidr", "label"],
        [(e["id"], e["cidr"], escape(e["label"]) or "-") for e in result["entries"]],
    )


@app.command("enable")
def enable(server: Server = None, json_out: Json = False) -> None:
    """Enforce the allowlist: machine requests from unlisted IPs are refused."""
    result = Api(server).post(f"{PATH}/enable")
    if not result["entries"]:
        stderr.print(
            "[yellow]warning:[/yellow] the allowlist is empty: every machine request "
            "(and every registration) will now be denied. Add a range with "
            "`keyledger ipallowlist add CIDR`.",
            highlight=False,
        )
    if json_out:
        emit_json(result)
    else:
        _tell(_state(result))


@app.command("disable")
def disable(server: Server = None, json_out: Json = False) -> None:
    """Stop enforcing the allowlist: machines may connect from any IP (entries are kept)."""
    result = Api(server).post(f"{PATH}/disable")
    if json_out:
        emit_json(result)
    else:
        _tell(_state(result))


@app.command("add")
def add(
    cidr: Annotated[
        str, typer.Argument(help="An IPv4/IPv6 address or CIDR range, e.g. 10.0.0.0/8.")
    ],
    label: Annotated[str, typer.Option("--label", help="What the range is (optional).")] = "",
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Add an address or CIDR range to the allowlist."""
    result = Api(server).post(PATH, {"cidr": cidr, "label": label})
    if json_out:
        emit_json(result)
        return
    entry = result["entries"][-1]
    _tell(f"Added {entry['cidr']} ({entry['id']}). {_state(result)}")


@app.command("remove")
def remove(
    entry_id: Annotated[str, typer.Argument(help="ip_… (see `keyledger ipallowlist list`).")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Remove an entry from the allowlist."""
    result = Api(server).post(f"{PATH}/{quote(entry_id, safe='')}/delete")
    if json_out:
        emit_json(result)
        return
    _tell(f"Removed {entry_id}. {_state(result)}")
    if result["enabled"] and not result["entries"]:
        _tell("warning: the allowlist is enabled and now empty: every machine request is denied.")
