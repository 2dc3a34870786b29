"""The operator's HTTP client and the local session file ($KEYLEDGER_HOME/session.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from rich.markup import escape

from interfaces.cli.output import EXIT_AUTH, EXIT_ERROR, fail, one_line, usage
from interfaces.cli.plain import keyledger_home

DEFAULT_SERVER = "http://localhost:8420"
TIMEOUT = 30.0


def session_path() -> Path:
    return keyledger_home() / "session.json"


def server_origin(url: str) -> str:
    """The server a URL names, spelled one way: scheme://host:port[/path], lower-cased,
    default port explicit. A session is bound to it and its token goes nowhere else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        usage(f"Not a server URL: {escape(one_line(url, 80))!r}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        usage(f"Not an http(s) server URL: {escape(one_line(url, 80))!r}")
    if parts.username is not None or parts.query or parts.fragment:
        usage("The server URL takes no user, query or fragment")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = port or (443 if scheme == "https" else 80)
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def save_session(server: str, data: dict[str, Any]) -> Path:
    """Stores the token with the server that issued it (see `server_origin`)."""
    path = session_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({**data, "server": server_origin(server)}, handle)
    os.replace(tmp, path)
    return path


def load_session() -> dict[str, Any] | None:
    try:
        loaded = json.loads(session_path().read_text())
    except (FileNotFoundError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def forget_session() -> None:
    session_path().unlink(missing_ok=True)


def session_token(session: dict[str, Any] | None, server: str) -> str:
    """The bearer token for `server`; the command ends (EXIT_AUTH) when there is none.

    A session that names no server (written before sessions were bound to one) is
    valid for none: the operator logs in again.
    """
    target = server_origin(server)
    if session is None or not isinstance(session.get("token"), str):
        fail(f"Not logged in to {target}: run `keyledger login` first", EXIT_AUTH)
    issuer = session.get("server")
    if not isinstance(issuer, str) or not issuer:
        fail(
            "The stored session does not say which server issued it: run `keyledger login` again",
            EXIT_AUTH,
        )
    if server_origin(issuer) != target:
        fail(
            f"Not logged in to {target} (the session is for {escape(one_line(issuer))}): "
            f"run `keyledger login --server {target}`",
            EXIT_AUTH,
        )
    return str(session["token"])


def refused(status: int, data: Any, code: int = EXIT_ERROR) -> NoReturn:
    """An error answer ends the command: the server's `{"error"}` reason, one line."""
    message = data.get("error") if isinstance(data, dict) else None
    text = one_line(str(message)) if message else "request failed"
    fail(f"{escape(text)} (HTTP {status})", code)


class Reply(dict[str, Any]):
    """A JSON object from the server; a key it lacks ends the command in one line."""

    def __missing__(self, key: str) -> Any:
        fail(f"The server's answer has no {escape(repr(key))}: is it a keyledger server?")


class Api:
    """Calls the admin API; any non-2xx or unexpected answer ends the command in one line."""

    def __init__(
        self, server: str | None, *, authenticated: bool = True, failure_code: int = EXIT_ERROR
    ) -> None:
        """`failure_code`: the exit code when the server cannot be reached or refuses;
        `audit verify` keeps 1 for "tampered" and so asks for another one."""
        session = load_session()
        self.failure_code = failure_code
        self.timeout: float | None = TIMEOUT
        self.server = (server or (session or {}).get("server") or DEFAULT_SERVER).rstrip("/")
        server_origin(self.server)
        self.headers: dict[str, str] = {}
        if authenticated:
            self.headers["Authorization"] = f"Bearer {session_token(session, self.server)}"

    def _send(self, method: str, path: str, body: Any, params: dict[str, Any]) -> httpx.Response:
        try:
            return httpx.request(
                method,
                self.server + path,
                json=body,
                params={k: v for k, v in params.items() if v is not None} or None,
                headers=self.headers,
                timeout=self.timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            where = escape(self.server)
            fail(
                f"Cannot reach the keyledger server at {where}: {type(exc).__name__}",
                self.failure_code,
            )

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._send(method, path, body, params)
        try:
            data = response.json(object_hook=Reply) if response.content else Reply()
        except ValueError:
            data = None
        if response.status_code >= 400:
            refused(response.status_code, data, self.failure_code)
        if not isinstance(data, dict):
            kind = one_line(response.headers.get("content-type", "no content type"), 60)
            fail(
                f"{escape(self.server)} sent an answer that is not keyledger's "
                f"(HTTP {response.status_code}, {escape(kind)})",
                self.failure_code,
            )
        return data

    def get_text(self, path: str, **params: Any) -> httpx.Response:
        """A non-JSON answer (CSV); an error answer still ends the command in one line."""
        response = self._send("GET", path, None, params)
        if response.status_code >= 400:
            try:
                data = response.json()
            except ValueError:
                data = None
            refused(response.status_code, data, self.failure_code)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})
