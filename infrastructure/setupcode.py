"""The one-time setup code: written 0600 to the data dir on first start, consumed by init."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class FileSetupCode:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "setup-code"

    def ensure(self) -> bool:
        """Write a fresh code if there is none; True if one was written."""
        if self.path.exists():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        code = "-".join(secrets.token_hex(3) for _ in range(4))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(code + "\n")
        return True

    def read(self) -> str | None:
        try:
            return self.path.read_text().strip() or None
        except FileNotFoundError:
            return None

    def consume(self) -> None:
        self.path.unlink(missing_ok=True)
