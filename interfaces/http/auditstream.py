"""`GET /v1/admin/audit/stream`: every new audit record of both logs, as server-sent events.

Each event is one record in the shape of `GET /v1/admin/audit`; its id is the cursor
after it (application/auditstream.py), so `Last-Event-ID` (or `?after=`) resumes with
no gap and no duplicate. The store is polled (reads in a worker thread, never on the
event loop), so a record written through any API process on the same database reaches
every stream. Streams are capped per process, and all of them end when the server
stops: `StreamHub.close` runs from the app's shutdown and from the stop signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any

import anyio
from litestar import Controller, Request, get
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.auditstream import StreamSource, decode_cursor, encode_cursor
from application.ports import SessionRecord
from application.siemexport import Position, pending
from domain.errors import InvalidInput, TooManyAttempts
from domain.siem.record import AuditRecord
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator

PAGE = 200  # records read per log per poll
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
MAX_TAIL = 1000  # a tail is a glance back, not an export


class StreamHub:
    """This process's open streams: how many (capped) and the signal that ends them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.lock = threading.Lock()  # a slot may be released from a worker thread
        self.closing = asyncio.Event()

    def claim(self) -> Slot:
        with self.lock:
            if self.open >= self.limit:
                raise TooManyAttempts(5, f"Too many open audit streams (at most {self.limit})")
            self.open += 1
        return Slot(self)

    def close(self) -> None:
        self.closing.set()

    def listen_for_stop(self, loop: asyncio.AbstractEventLoop) -> None:
        """End every stream on SIGTERM/SIGINT, before the HTTP server drains: granian
        waits for open responses before it runs the app's shutdown, and a stream never
        finishes by itself. Chained in front of the handler already there (granian's
        wakes its loop through the signal wakeup fd, which this leaves alone)."""
        if threading.current_thread() is not threading.main_thread():
            return  # an in-process test client: no signals to hear
        for number in (signal.SIGTERM, signal.SIGINT):
            before = signal.getsignal(number)

            def heard(signum: int, frame: FrameType | None, before: Any = before) -> None:
                loop.call_soon_threadsafe(self.close)
                if callable(before):
                    before(signum, frame)

            signal.signal(number, heard)


class Slot:
    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        self.held = True

    def release(self) -> None:
        with self.hub.lock:
            if self.held:
                self.held = False
                self.hub.open -= 1


def entry(record: AuditRecord) -> dict[str, Any]:
    """As `GET /v1/admin/audit` has it: a ledger record's id is its notification number."""
    fields = record.fields()
    if record.log == "ledger":
        fields["id"] = int(record.id)
    return fields


async def _pause(hub: StreamHub, seconds: float) -> None:
    """Sleep, but wake at once when the server stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hub.closing.wait(), seconds)


async def follow(
    source: StreamSource, position: Position, hub: StreamHub, slot: Slot
) -> AsyncIterator[ServerSentEventMessage]:
    """Records after `position` as they arrive, a keep-alive comment when idle."""
    try:
        yield ServerSentEventMessage(data=None, comment="keyledger audit stream", retry=1000)
        idle = 0.0
        while not hub.closing.is_set():
            records = await anyio.to_thread.run_sync(pending, source, position, PAGE)
            for record in records:
                position = position.after(record)
                body = json.dumps(entry(record), separators=(",", ":"))
                yield ServerSentEventMessage(data=body, event="audit", id=encode_cursor(position))
            if records:
                idle = 0.0
                continue
            await _pause(hub, POLL_SECONDS)
            idle += POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ServerSentEventMessage(data=None, comment="keep-alive")
    finally:
        slot.release()


def start(
    source: StreamSource, cursor: str | None, since: int | None, tail: int | None
) -> Position:
    """The client's cursor if it sent one (a reconnect wins over where it first asked
    to start); else `since` (epoch ms) or the last `tail` records; else the head."""
    if cursor is not None:
        return decode_cursor(cursor)
    if since is not None:
        return source.since(since)
    if tail is not None:
        return source.back(tail)
    return source.head()


class AuditStreamController(Controller):
    path = "/v1/admin/audit"
    tags = ["operator"]
    dependencies = {"operator": Provide(provide_operator, sync_to_thread=True)}

    @get("/stream")
    async def stream(
        self,
        operator: SessionRecord,
        services: Services,
        request: Request,  # type: ignore[type-arg]
        after: str | None = None,
        since: int | None = Parameter(default=None, ge=0),
        tail: int | None = Parameter(default=None, ge=0, le=MAX_TAIL),
    ) -> ServerSentEvent:
        """Server-sent events, one per audit record (`event: audit`, `data:` the entry,
        `id:` a resumable cursor). Resume with `Last-Event-ID` or `?after=`; start at a
        time with `?since=<epoch ms>` or with the last N records with `?tail=N`
        (N ≤ 1000); with none of them, only records written from now on. A
        `: keep-alive` comment every 15 s."""
        hub: StreamHub = request.app.state["audit_streams"]
        cursor = request.headers.get("last-event-id") or after
        source = services.audit_source
        if since is not None and tail is not None:
            raise InvalidInput("give since or tail, not both")
        position = await anyio.to_thread.run_sync(start, source, cursor, since, tail)
        slot = hub.claim()
        return ServerSentEvent(
            follow(source, position, hub, slot),
            background=BackgroundTask(slot.release),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
