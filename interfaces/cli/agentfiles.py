"""The agent's local files under $KEYLEDGER_HOME/agents (0700 dir, 0600 files).

`{id}.json` is `agent configure`'s connection (it holds the admin password, hence
0600 and atomic writes); `{id}.pid` marks a running agent; `{id}.journal.json` is
the rotation in flight, so a crash mid-apply is resumed on the next start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from application.agentports import AgentOptions
from domain.errors import InvalidInput
from domain.managed import Connection, parse_provider
from interfaces.cli.identity import private_dir, write_private
from interfaces.cli.plain import keyledger_home


def agents_dir() -> Path:
    return keyledger_home() / "agents"


def config_path(secret_id: str) -> Path:
    return agents_dir() / f"{secret_id}.json"


def pid_path(secret_id: str) -> Path:
    return agents_dir() / f"{secret_id}.pid"


def journal_path(secret_id: str) -> Path:
    return agents_dir() / f"{secret_id}.journal.json"


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    private_dir(path.parent)
    write_private(path, (json.dumps(data, indent=2) + "\n").encode())


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def configured_ids() -> list[str]:
    """Secrets with a local config or a pid file here (journals are not agents)."""
    try:
        names = [p.name for p in agents_dir().iterdir()]
    except OSError:
        return []
    ids = {n.removesuffix(".json") for n in names if n.endswith(".json") and ".journal." not in n}
    ids |= {n.removesuffix(".pid") for n in names if n.endswith(".pid")}
    return sorted(i for i in ids if not i.startswith("."))


def agent_rows() -> list[dict[str, Any]]:
    """What `agent list` shows: each configured or running agent on this host."""
    rows = []
    for secret_id in configured_ids():
        local = read_json(config_path(secret_id)) or {}
        connection = local.get("connection") or {}
        pid = running_pid(secret_id)
        rows.append(
            {
                "secretId": secret_id,
                "configured": config_path(secret_id).exists(),
                "providerType": local.get("providerType"),
                "host": connection.get("host"),
                "port": connection.get("port"),
                "running": pid is not None,
                "pid": pid,
                "rotationInFlight": journal_path(secret_id).exists(),
            }
        )
    return rows


@dataclass(frozen=True)
class LocalConfig:
    options: AgentOptions
    summary: dict[str, Any]


def load_local(secret_id: str) -> LocalConfig | None:
    """The configured connection as agent options; None when there is no local config.

    Raises InvalidInput when the file exists but cannot be used.
    """
    path = config_path(secret_id)
    if not path.exists():
        return None
    data = read_json(path)
    if data is None:
        raise InvalidInput(f"{path} is not a JSON object")
    provider = parse_provider(str(data.get("providerType") or ""))
    connection = Connection.from_wire(provider, dict(data.get("connection") or {}))
    interval = data.get("pollIntervalSeconds")
    options = AgentOptions(
        connection=connection,
        poll_interval=float(interval) if interval else None,
        username_field=str(data.get("usernameField") or "username"),
        password_field=str(data.get("passwordField") or "password"),
    )
    summary = {
        "providerType": provider.value,
        "host": connection.host,
        "port": connection.port,
        "database": connection.database,
        "adminUser": connection.admin_user,
    }
    return LocalConfig(options, summary)


class FileJournal:
    """The Journal port over one small JSON file, replaced atomically at each phase."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[str, str] | None:
        data = read_json(self.path)
        if not data or not data.get("rotationId"):
            return None
        return str(data["rotationId"]), str(data.get("phase") or "applying")

    def save(self, rotation_id: str, phase: str) -> None:
        record = {"rotationId": rotation_id, "phase": phase, "at": int(time.time() * 1000)}
        write_private_json(self.path, record)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


# -- processes ---------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(secret_id: str) -> int | None:
    """The pid of this secret's agent if its pid file names a live process."""
    try:
        pid = int(pid_path(secret_id).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and pid_alive(pid) else None


def write_pid(secret_id: str) -> None:
    path = pid_path(secret_id)
    private_dir(path.parent)
    write_private(path, f"{os.getpid()}\n".encode())


def remove_pid(secret_id: str) -> None:
    """Remove the pid file if it is still ours (a newer agent may have replaced it)."""
    path = pid_path(secret_id)
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text().strip()) == os.getpid():
            path.unlink()


def terminate(pid: int, wait_seconds: float = 10.0) -> bool:
    """SIGTERM `pid` and wait for it to end; True when it did."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child (tests)
        time.sleep(0.1)
    return not pid_alive(pid)
