"""One place where the CLI prints: JSON for scripts, tables for people, errors to stderr.

Secret values reach stdout only through `emit_value`, and only when a command was
asked for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interfaces.cli.plain import (
    EXIT_AUTH,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    emit_json,
    emit_value,
    one_line,
)

__all__ = [
    "EXIT_AUTH",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "emit_json",
    "emit_value",
    "one_line",
]

# `audit verify`: 1 means "tampered"; not being able to check at all (no server, no
# answer, a refusal) is not a verification result and exits with 2 (usage) or 3.
EXIT_UNCHECKED = EXIT_USAGE

stdout = Console()
stderr = Console(stderr=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    stderr.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def usage(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any) -> str:
    """Printable and inert: names come from machines and users, not from us."""
    if value is None:
        return "-"
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return escape(text)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(_cell(cell) for cell in row))
    stdout.print(out)


def say(message: str) -> None:
    stderr.print(message, highlight=False)
