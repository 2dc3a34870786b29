"""The host CLI's light output and exits: standard library only, no Typer or Rich.

`get`, `run` and `export` run through here on every container and CI job start, so
this module (and what it imports) stays cheap; `output` adds the Rich tables.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

VERSION = "0.1.0"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3  # not logged in to the server the command names


def keyledger_home() -> Path:
    return Path(os.environ.get("KEYLEDGER_HOME") or Path.home() / ".keyledger").expanduser()


def one_line(text: str, limit: int = 500) -> str:
    """Text a server sent, fit for one line of a terminal: no control characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


def tell(message: str) -> None:
    """A note for people on stderr (never a secret value)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def stop(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """End the command with one line on stderr (plain text: nothing in it is markup)."""
    tell(f"error: {message}")
    raise SystemExit(code)


def usage_error(message: str) -> NoReturn:
    stop(message, EXIT_USAGE)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def emit_value(value: str) -> None:
    sys.stdout.write(value)
