"""The operator's HTTP client and the local session file ($KEYLEDGER_HOME/session.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from interfaces.cli.output import fail

DEFAULT_SERVER = "http://localhost:8420"
TIMEOUT = 30.0


def keyledger_home() -> Path:
    return Path(os.environ.get("KEYLEDGER_HOME") or Path.home() / ".keyledger").expanduser()


def session_path() -> Path:
    return keyledger_home() / "session.json"


def save_session(server: str, data: dict[str, Any]) -> Path:
    path = session_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"server": server, **data}, handle)
    os.replace(tmp, path)
    return path


def load_session() -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(session_path().read_text())
    except (FileNotFoundError, ValueError):
        return None
    return loaded


def forget_session() -> None:
    session_path().unlink(missing_ok=True)


class Api:
    """Calls the admin API; any non-2xx answer ends the command with its error."""

    def __init__(self, server: str | None, *, authenticated: bool = True) -> None:
        session = load_session() if authenticated else None
        self.server = (server or (session or {}).get("server") or DEFAULT_SERVER).rstrip("/")
        self.headers: dict[str, str] = {}
        if authenticated:
            if session is None or "token" not in session:
                fail("Not logged in: run `keyledger login` first")
            self.headers["Authorization"] = f"Bearer {session['token']}"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        try:
            response = httpx.request(
                method,
                self.server + path,
                json=body,
                params={k: v for k, v in params.items() if v is not None} or None,
                headers=self.headers,
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            fail(f"Cannot reach the keyledger server at {self.server}: {type(exc).__name__}")
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text[:200]}
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            fail(f"{message or 'request failed'} (HTTP {response.status_code})")
        return data

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})
