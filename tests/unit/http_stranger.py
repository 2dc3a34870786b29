"""A real HTTP server in a thread that stands in for "whatever server is named".

It records every request's headers and answers what the test tells it to.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Stranger:
    """Answers every request with `status`, `content_type` and `body`; keeps the headers."""

    url: str = ""
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"
    hang_up: bool = False
    seen: list[dict[str, str]] = field(default_factory=list)

    def answer(self, status: int, body: bytes | str | Any, content_type: str = "") -> None:
        self.status = status
        if isinstance(body, str):
            self.body, self.content_type = body.encode(), content_type or "text/html"
        elif isinstance(body, bytes):
            self.body, self.content_type = body, content_type or "application/octet-stream"
        else:
            self.body, self.content_type = json.dumps(body).encode(), "application/json"

    @property
    def tokens_seen(self) -> list[str]:
        return [h["authorization"] for h in self.seen if "authorization" in h]


@contextmanager
def serving() -> Iterator[Stranger]:
    state = Stranger()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            state.seen.append({k.lower(): v for k, v in self.headers.items()})
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            if state.hang_up:
                self.close_connection = True
                return
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        do_GET = do_POST = _any

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
