"""ASGI factory: what each `keyledger server` worker builds (granian), and what another
ASGI server runs: `granian --interface asgi --factory interfaces.http.asgi:app`, or
`uvicorn --factory interfaces.http.asgi:app --no-proxy-headers`.

Run it with the server's proxy-header handling off (granian has none; uvicorn needs
`--no-proxy-headers`): keyledger reads X-Forwarded-For itself, and only from
KEYLEDGER_TRUSTED_PROXIES. A request whose address the server already rewrote is
refused, since its real peer is lost.
"""

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
