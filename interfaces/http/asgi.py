"""ASGI factory for multi-process servers: `uvicorn --factory interfaces.http.asgi:app`."""

from __future__ import annotations

from litestar import Litestar

from infrastructure.datadir import OpenDataDir, restrict_new_files
from infrastructure.settings import Settings
from interfaces.http.app import create_app


def app() -> Litestar:
    restrict_new_files()
    try:
        return create_app(Settings.from_env())
    except OpenDataDir as exc:
        raise SystemExit(f"keyledger: {exc}") from None
