"""Options shared by many commands (typer Annotated aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="KEYLEDGER_SERVER",
        help="Server URL (default: the one you logged in to, else http://localhost:8420).",
    ),
]
IdentityOpt = Annotated[
    Path | None,
    typer.Option(
        "--identity",
        help="Path to identity.json (env KEYLEDGER_IDENTITY; default: the only vault "
        "under $KEYLEDGER_HOME/vaults).",
        show_default=False,
    ),
]
VaultOpt = Annotated[
    str | None,
    typer.Option("--vault", help="vault_… whose identity to use.", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="KEYLEDGER_DATA_DIR",
        help="Data directory (default ~/.local/share/keyledger).",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="KEYLEDGER_DATABASE_URL",
        help="postgresql://… for the distributed mode (default: SQLite in the data dir).",
    ),
]


def read_stdin_value() -> str:
    """The whole of stdin, without the single trailing newline `echo` adds."""
    import sys

    data = sys.stdin.read()
    return data[:-1] if data.endswith("\n") else data
