"""The sync agent's ports: the server it talks to, its journal, its options.

Kept apart from the loop (application/agent.py) so adapters import only these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from domain.errors import InvalidInput
from domain.managed import Connection, validate_username

EXIT_OK = 0
EXIT_FAILURE = 1
GONE = {403, 404}  # access revoked / secret deleted: the agent must not linger
RETRYABLE = {0, 408, 423, 429, 500, 502, 503, 504}  # unreachable or transient


class SyncError(Exception):
    """A server call failed; `status` is the HTTP status (0: server not reached)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SyncServer(Protocol):
    def sync_config(self) -> dict[str, Any]: ...

    def wait(self, after: str | None, timeout: float) -> str | None:
        """Long-poll: a pending rotation id other than `after`, or None at the timeout."""
        ...

    def heartbeat(self, status: str, error: str) -> None: ...

    def confirm(self, rotation_id: str) -> int: ...

    def reject(self, rotation_id: str, error: str) -> None: ...

    def live_credentials(self) -> tuple[str, str]: ...


class Journal(Protocol):
    """The rotation in flight, durable across a crash (one at a time)."""

    def load(self) -> tuple[str, str] | None: ...

    def save(self, rotation_id: str, phase: str) -> None: ...

    def clear(self) -> None: ...


@dataclass(frozen=True)
class AgentOptions:
    """Timings and local overrides (`agent configure` wins over the server's config)."""

    connection: Connection | None = None
    poll_interval: float | None = None
    username_field: str = "username"
    password_field: str = "password"  # noqa: S105 (a field name)
    wait_timeout: float = 25.0
    heartbeat_every: float = 30.0
    poll_floor: float = 5.0
    max_backoff: float = 30.0
    # Drill knob (env KEYLEDGER_AGENT_APPLY_DELAY_MS): pause between apply and verify.
    apply_delay_ms: int = 0


def parse_credentials(
    value: str | None, default_user: str, fields: tuple[str, str] = ("username", "password")
) -> tuple[str, str]:
    """(username, password) from a structured value; a missing username is `default_user`."""
    try:
        data = json.loads(value or "")
    except ValueError:
        raise InvalidInput("the value is not a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidInput("the value is not a JSON object")
    user = data.get(fields[0]) or data.get("username") or default_user
    password = data.get(fields[1], data.get("password"))
    if not isinstance(password, str) or not password:
        raise InvalidInput(f"the value has no {fields[1]!r} field")
    return validate_username(str(user)), password
