"""One place where the CLI prints: JSON for scripts, tables for people, errors to stderr.

Secret values reach stdout only through `emit_value`, and only when a command was
asked for one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3  # not logged in to the server the command names
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


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def emit_value(value: str) -> None:
    sys.stdout.write(value)


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def one_line(text: str, limit: int = 500) -> str:
    """Text a server sent, fit for one line of a terminal: no control characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


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
