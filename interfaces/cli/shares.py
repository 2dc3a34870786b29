"""`keyledger share …`: one-shot share links for people outside the vault.

The value goes in through stdin (or is generated); the link and passphrase come out
once, at creation. `list` shows states and times, never a value or passphrase."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server, read_stdin_value
from interfaces.cli.output import emit_json, say, table, usage, when

app = typer.Typer(
    help="Share links: one value, one person, seen once, then destroyed.",
    no_args_is_help=True,
)
DURATION = re.compile(r"^(\d+)([smh]?)$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> int:
    """`90s`, `5m`, `24h` or plain seconds -> seconds (the server checks 1 min–24 h)."""
    found = DURATION.fullmatch(text.strip().lower())
    if found is None:
        usage(f"--expires-in {text!r}: use e.g. 90s, 5m or 24h")
    return int(found.group(1)) * UNIT_SECONDS[found.group(2)]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the recipient is getting.")],
    value_stdin: Annotated[
        bool, typer.Option("--value-stdin", help="Read the value from standard input.")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Share a random value instead.")
    ] = False,
    length: Annotated[int, typer.Option("--length", help="Generated value length.")] = 32,
    expires_in: Annotated[
        str, typer.Option("--expires-in", help="Lifetime, 1m–24h (e.g. 5m).")
    ] = "5m",
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Create a share; its link and passphrase are shown this once."""
    if value_stdin == generate:
        usage("Give exactly one of --value-stdin or --generate")
    body: dict[str, Any] = {"name": name, "expiresInSeconds": parse_duration(expires_in)}
    if generate:
        body.update(generateRandom=True, length=length)
    else:
        body["value"] = read_stdin_value()
    created = Api(server).post("/v1/admin/shares", body)
    shown = {k: created[k] for k in ("id", "url", "passphrase", "expiresAt")}
    if json_out:
        emit_json(shown)
        return
    say(f"Share {shown['id']} ({name}), self-destructs at {when(shown['expiresAt'])}")
    say(f"Link:       {shown['url']}")
    say(f"Passphrase: {shown['passphrase']}")
    say("Shown only now: send the link and the passphrase through different channels.")


@app.command("list")
def list_shares(server: Server = None, json_out: Json = False) -> None:
    """Shares with their status (pending, viewed, destroyed, expired); never values."""
    shares = Api(server).get("/v1/admin/shares")["shares"]
    if json_out:
        emit_json(shares)
        return
    table(
        "Shares",
        ["id", "name", "status", "created", "expires"],
        [
            (s["id"], s["name"], s["status"], when(s["createdAt"]), when(s["expiresAt"]))
            for s in shares
        ],
    )


@app.command("destroy")
def destroy(
    share_id: Annotated[str, typer.Argument(help="shr_… of a pending share")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Destroy a pending share now: its link stops working and its key is shredded."""
    share = Api(server).post(f"/v1/admin/shares/{share_id}/destroy")
    if json_out:
        emit_json(share)
        return
    say(f"Share {share['id']} destroyed")
