"""`keyledger cache enable|disable|status|clear`: the host's opt-in offline cache."""

from __future__ import annotations

import typer

from interfaces.cli import cache
from interfaces.cli.options import Json
from interfaces.cli.output import emit_json, say

app = typer.Typer(
    help="The offline cache: `get` answers from it when the server cannot be reached.",
    no_args_is_help=True,
)


@app.command("enable")
def enable() -> None:
    """Keep every value `get` reads, encrypted under this machine's key."""
    cache.set_enabled(True)
    say("Offline cache enabled: `keyledger get` keeps what it reads, encrypted.")


@app.command("disable")
def disable() -> None:
    """Stop caching and delete every cached entry."""
    cache.set_enabled(False)
    say("Offline cache disabled; cached entries deleted.")


@app.command("status")
def status(json_out: Json = False) -> None:
    """Whether the cache is on and how many entries it holds."""
    report = {"enabled": cache.enabled(), "entries": len(cache.entries())}
    if json_out:
        emit_json(report)
        return
    state = "enabled" if report["enabled"] else "disabled"
    say(f"Offline cache {state}, {report['entries']} entr(y/ies).")


@app.command("clear")
def clear() -> None:
    """Delete every cached entry (the cache stays on if it was)."""
    say(f"Deleted {cache.clear()} cached entr(y/ies).")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cache")
