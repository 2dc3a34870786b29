"""The sync agent's signed endpoints (product facts §8.3) and a long-poll for push.

`/agent/wait` is keyledger's push channel: it answers as soon as a pending rotation
the agent has not seen exists, so a rotation reaches the agent in ~10 ms instead
of at its next 10 s poll (which stays as the fallback). One `HeadSignal` per
process probes the ledger head for all waiting agents, so the cost of waiting does
not grow with the number of agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
from litestar import Controller, get, post

from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.http.machine import _decode, authenticate

HEAD_STEP_S = 0.01
RECHECK_S = 1.0  # a waiter re-checks at least this often, whatever the signal says
MAX_WAIT_S = 30


class HeadSignal:
    """Wakes every waiting long-poll when the ledger head moves (any process's commit)."""

    def __init__(self, probe: Callable[[], object]) -> None:
        self.probe = probe
        self.waiters = 0
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, timeout: float) -> None:
        moved = self._moved
        self.waiters += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(moved.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.waiters -= 1

    async def close(self) -> None:
        """On shutdown: stop the probe loop. granian stops its event loop without
        cancelling what is left (asyncio.run would), and a probe loop left pending
        keeps its anyio worker thread, and so the worker process, from ending."""
        task, self._task = self._task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        last = await anyio.to_thread.run_sync(self.probe)
        while self.waiters > 0:
            await asyncio.sleep(HEAD_STEP_S)
            token = await anyio.to_thread.run_sync(self.probe)
            if token != last:
                last = token
                moved, self._moved = self._moved, asyncio.Event()
                moved.set()


_SIGNALS: dict[int, HeadSignal] = {}


async def close_head_signal(services: Services) -> None:
    """On the app's shutdown: its probe loop ends before the event loop does."""
    signal = _SIGNALS.pop(id(services), None)
    if signal is not None:
        await signal.close()


def head_signal(services: Services) -> HeadSignal:
    """The process's signal for these services (created on the event loop, on first use)."""
    signal = _SIGNALS.get(id(services))
    if signal is None:
        signal = _SIGNALS[id(services)] = HeadSignal(services.gate.cache.head.token)
    return signal


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
        signal = head_signal(services)
        # The body is read, so the next ASGI message is the client going away: a killed
        # agent must not leave its wait running (it would also hold up a graceful stop).
        gone = asyncio.ensure_future(request.receive())
        woken: asyncio.Future[None] | None = None
        try:
            while True:
                current = await anyio.to_thread.run_sync(
                    services.sync.pending_id, caller, secret_id
                )
                left = deadline - loop.time()
                if (current is not None and current != data.after) or left <= 0 or gone.done():
                    return {"pendingRotationId": current}
                woken = asyncio.ensure_future(signal.wait(min(left, RECHECK_S)))
                await asyncio.wait({woken, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if woken is not None:
                woken.cancel()  # no longer a waiter: the probe loop may end now
