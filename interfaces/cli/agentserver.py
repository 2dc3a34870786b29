"""The agent's SyncServer port over signed machine requests (MachineClient)."""

from __future__ import annotations

import json
import math
from typing import Any

from application.agentports import SyncError
from interfaces.cli.signing import MachineClient, MachineError


class MachineSyncServer:
    """One managed secret's agent endpoints; every failure becomes a SyncError(status)."""

    def __init__(
        self,
        client: MachineClient,
        secret_id: str,
        fields: tuple[str, str] = ("username", "password"),
    ) -> None:
        self.client = client
        self.base = f"/v1/secret/{secret_id}"
        self.fields = fields

    def _call(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        try:
            return self.client.call(method, self.base + path, body, timeout=timeout)
        except MachineError as exc:
            raise SyncError(str(exc), exc.status) from None

    def sync_config(self) -> dict[str, Any]:
        data = self._call("GET", "/sync-config")
        if not isinstance(data, dict):
            raise SyncError("The server sent a malformed sync config", 0)
        return data

    def wait(self, after: str | None, timeout: float) -> str | None:
        seconds = max(1, min(30, math.ceil(timeout)))
        body = {"after": after, "timeoutSeconds": seconds}
        data = self._call("POST", "/agent/wait", body, timeout=seconds + 15.0)
        found = data.get("pendingRotationId") if isinstance(data, dict) else None
        return str(found) if found else None

    def heartbeat(self, status: str, error: str) -> None:
        self._call("POST", "/agent/heartbeat", {"status": status, "error": error[:1000]})

    def confirm(self, rotation_id: str) -> int:
        data = self._call("POST", "/agent/confirm-rotation", {"rotationId": rotation_id})
        return int(data.get("version") or 0) if isinstance(data, dict) else 0

    def reject(self, rotation_id: str, error: str) -> None:
        body = {"rotationId": rotation_id, "error": error[:2000]}
        self._call("POST", "/agent/reject-rotation", body)

    def live_credentials(self) -> tuple[str, str]:
        """(username, password) of the live value; the username may be "" (agent's default)."""
        data = self._call("GET", "")
        try:
            fields = json.loads(str(data.get("value") or ""))
            password = fields.get(self.fields[1], fields.get("password"))
            user = fields.get(self.fields[0]) or fields.get("username") or ""
        except (AttributeError, ValueError):
            password = None
        if not isinstance(password, str) or not password:
            # Not retried (422): the agent stops and says the live value is unusable.
            raise SyncError("the live value has no username/password fields", 422)
        return str(user), password
