"""Commands run on a machine: connect, get, list, export, run (to be filled in)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the host-side commands to the root app."""
