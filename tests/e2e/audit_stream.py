"""A live audit stream read the way a client reads it: one HTTP connection, events parsed
as they arrive (in a thread, so a test can write records meanwhile)."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from interfaces.cli.audittail import events
from tests.e2e.conftest import ROOT, LiveServer

PATH = "/v1/admin/audit/stream"


@dataclass
class Event:
    id: str
    entry: dict[str, Any]


@dataclass
class StreamReader:
    url: str
    token: str
    last_event_id: str | None = None
    after: str | None = None  # the cursor as `?after=` instead of the header
    start_at: dict[str, int] = field(default_factory=dict)  # `since` / `tail`
    status: int = 0
    ended: threading.Event = field(default_factory=threading.Event)
    raw: list[str] = field(default_factory=list)
    _events: queue.Queue[Event] = field(default_factory=queue.Queue)
    _open: threading.Event = field(default_factory=threading.Event)
    _response: httpx.Response | None = None

    def start(self) -> StreamReader:
        threading.Thread(target=self._read, daemon=True).start()
        assert self._open.wait(15), "the stream did not open"
        assert self.status == 200, self.status
        return self

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        try:
            params: dict[str, str | int] = dict(self.start_at)
            if self.after:
                params["after"] = self.after
            with httpx.stream(
                "GET", self.url + PATH, params=params, headers=headers, timeout=None
            ) as response:
                self._response = response
                self.status = response.status_code
                self._open.set()
                for event_id, kind, data in events(self._lines(response)):
                    if kind == "audit" and event_id:
                        self._events.put(Event(event_id, json.loads(data)))
        except Exception:  # closed by the test; a missing event fails take()
            pass
        finally:
            self._open.set()
            self.ended.set()

    def _lines(self, response: httpx.Response) -> Any:
        for line in response.iter_lines():
            self.raw.append(line)
            yield line

    def take(self, count: int, timeout: float = 15) -> list[Event]:
        """The next `count` events; fails if they do not arrive in time."""
        got: list[Event] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(got)} of {count} events arrived: {got}"
            try:
                got.append(self._events.get(timeout=left))
            except queue.Empty:
                continue
        return got

    def until(self, wanted: Any, timeout: float = 15) -> list[Event]:
        """Events up to and including the first for which `wanted(entry)` holds."""
        got: list[Event] = []
        while not got or not wanted(got[-1].entry):
            got += self.take(1, timeout)
        return got

    def quiet(self, seconds: float = 1.5) -> list[Event]:
        """Whatever else arrives within `seconds` (expected: nothing)."""
        time.sleep(seconds)
        extra = []
        while not self._events.empty():
            extra.append(self._events.get_nowait())
        return extra

    def close(self) -> None:
        """Hang up: shut the socket down (closing the response from this thread would not
        wake the reader blocked in recv)."""
        if self._response is not None:
            stream = self._response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        assert self.ended.wait(5), "the reader did not stop"


def open_stream(
    url: str,
    token: str,
    last_event_id: str | None = None,
    after: str | None = None,
    **start_at: int,
) -> StreamReader:
    return StreamReader(url, token, last_event_id, after, start_at).start()


@dataclass
class Follower:
    """`keyledger audit tail --follow --json` as a process: what it printed, parsed."""

    cli: subprocess.Popen[str]
    printed: queue.Queue[dict[str, Any]]
    connects: queue.Queue[str]  # a line per (re)connection, from its stderr

    def connected(self, timeout: float = 30) -> None:
        while "following" not in self.connects.get(timeout=timeout):
            pass

    def until(self, secret_id: str) -> list[dict[str, Any]]:
        """What it printed up to the record that created `secret_id`."""
        got: list[dict[str, Any]] = []
        while not got or got[-1]["secretId"] != secret_id:
            got.append(self.printed.get(timeout=20))
        return got


TAIL_FOLLOW = ("audit", "tail", "--follow", "--json")


def follow_cli(live: LiveServer, *extra: str) -> Follower:
    """Started and connected to the stream of `live`."""
    cli = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", *TAIL_FOLLOW, *extra],
        cwd=ROOT,
        env=live.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    follower = Follower(cli, queue.Queue(), queue.Queue())

    def read() -> None:
        assert cli.stdout is not None
        for line in cli.stdout:
            follower.printed.put(json.loads(line))

    def notes() -> None:
        assert cli.stderr is not None
        for line in cli.stderr:
            follower.connects.put(line)

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=notes, daemon=True).start()
    follower.connected()
    return follower
