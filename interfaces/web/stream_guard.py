"""The live audit view's stream ends with its session.

An SSE response outlives the request that authenticated it, so the dashboard asks
again every few seconds (without counting it as activity) and, once the session is
revoked, idle or past its absolute lifetime, sends `session-ended` and closes: the
page's script then goes to /login instead of streaming on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import anyio
from litestar.response import ServerSentEventMessage

ENDED = "session-ended"


def check_every(idle_seconds: int) -> float:
    """Often enough for a short test timeout, at most every 5 s in production."""
    return max(0.5, min(5.0, idle_seconds / 4))


async def while_open(
    inner: AsyncIterator[ServerSentEventMessage],
    still_open: Callable[[], bool],
    every: float,
) -> AsyncIterator[ServerSentEventMessage]:
    """`inner`'s messages while `still_open()`; checked every `every` seconds even when
    `inner` is quiet, then one `session-ended` event and the end of the stream."""
    pending: asyncio.Task[ServerSentEventMessage] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(inner))
            done, _ = await asyncio.wait({pending}, timeout=every)
            if done:
                try:
                    message = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield message
            if not await anyio.to_thread.run_sync(still_open):
                yield ServerSentEventMessage(data="/login", event=ENDED)
                return
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
