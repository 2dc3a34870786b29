"""The data directory holds the ledger, the keys' wrapping and the setup code: owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class OpenDataDir(Exception):
    """The data directory lets other users in; the message says how to close it."""


def restrict_new_files() -> None:
    """From here on every file this process creates (SQLite and its -wal/-shm files,
    keys, locks) is 0600 and every directory 0700, whatever the directory allowed."""
    os.umask(0o077)


def open_data_dir(path: Path, allow_open: bool = False) -> None:
    """Create the directory 0700, or refuse one that group or others can enter.

    `mkdir(mode=0o700)` applies only when we create it; an existing directory keeps
    the mode it had, so it is checked instead (unless the operator says otherwise).
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and not allow_open:
        raise OpenDataDir(
            f"The data directory {path} is open to other users (mode {mode:04o}). "
            f"Close it with `chmod 700 {path}`, or start with --allow-open-data-dir "
            "(KEYLEDGER_ALLOW_OPEN_DATA_DIR=1) if something else keeps others out."
        )
