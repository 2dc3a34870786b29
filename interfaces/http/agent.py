"""The sync agent's signed endpoints (product facts §8.3) and a long-poll for push.

`/agent/wait` is keyledger's push channel: it answers as soon as a pending rotation
the agent has not seen exists, so a rotation reaches the agent in ~50 ms instead
of at its next 10 s poll (which stays as the fallback).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import anyio
import msgspec
from litestar import Controller, get, post

from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.http.machine import _decode, authenticate

WAIT_STEP_S = 0.05
MAX_WAIT_S = 30


class HeartbeatBody(msgspec.Struct):
    status: str
    error: str = ""


class RotationBody(msgspec.Struct, rename="camel"):
    rotation_id: str
    error: str = ""


class WaitBody(msgspec.Struct, rename="camel"):
    after: str | None = None
    timeout_seconds: int = 25


class AgentController(Controller):
    path = "/v1/secret/{secret_id:str}"
    tags = ["agent"]

    @get("/sync-config", sync_to_thread=True)
    def sync_config(
        self, secret_id: str, body: bytes, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        """Provider, connection, managed role and any pending rotation; binds the agent."""
        caller = authenticate(request, body, services)
        return services.sync.sync_config(caller, secret_id)

    @post("/agent/heartbeat", sync_to_thread=True, status_code=200)
    def heartbeat(
        self, secret_id: str, body: bytes, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        data: HeartbeatBody = _decode(body, HeartbeatBody)
        return services.sync.heartbeat(caller, secret_id, data.status, data.error)

    @post("/agent/confirm-rotation", sync_to_thread=True, status_code=200)
    def confirm(
        self, secret_id: str, body: bytes, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        data: RotationBody = _decode(body, RotationBody)
        return services.sync.confirm(caller, secret_id, data.rotation_id)

    @post("/agent/reject-rotation", sync_to_thread=True, status_code=200)
    def reject(
        self, secret_id: str, body: bytes, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        data: RotationBody = _decode(body, RotationBody)
        return services.sync.reject(caller, secret_id, data.rotation_id, data.error)

    @post("/agent/wait", status_code=200)
    async def wait(
        self, secret_id: str, body: bytes, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        """Long-poll: a pending rotation other than `after`, or null at the timeout."""
        caller = await anyio.to_thread.run_sync(
            functools.partial(authenticate, request, body, services)
        )
        data: WaitBody = _decode(body, WaitBody, required=False)
        timeout = max(1, min(MAX_WAIT_S, data.timeout_seconds))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            current = await anyio.to_thread.run_sync(services.sync.pending_id, caller, secret_id)
            if (current is not None and current != data.after) or loop.time() >= deadline:
                return {"pendingRotationId": current}
            await asyncio.sleep(WAIT_STEP_S)
