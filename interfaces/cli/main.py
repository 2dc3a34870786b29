"""The `keyledger` console script.

`get`, `run`, `export`, `--version` and `--help` go through `fast` (standard library
only, no Typer or Rich); everything else builds the Typer app in `app`. `main.app` is
that app, built when first asked for.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from interfaces.cli.plain import EXIT_ERROR


def run() -> None:
    """The console script. An answer or state the CLI did not foresee ends in one line
    on stderr, not a traceback (KEYLEDGER_DEBUG=1 shows it)."""
    try:
        from interfaces.cli import fast

        code = fast.dispatch(sys.argv[1:])
        if code is not None:
            sys.exit(code)
        from interfaces.cli.app import app

        app()
    except Exception as exc:
        if os.environ.get("KEYLEDGER_DEBUG"):
            raise
        sys.stderr.write(
            f"error: unexpected failure ({type(exc).__name__}); KEYLEDGER_DEBUG=1 shows where\n"
        )
        sys.exit(EXIT_ERROR)


def __getattr__(name: str) -> Any:
    if name == "app":
        from interfaces.cli.app import app

        return app
    raise AttributeError(name)


if __name__ == "__main__":
    run()
