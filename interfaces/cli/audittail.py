"""`keyledger audit tail --follow`: the server's live audit stream, one line per record.

Reads `GET /v1/admin/audit/stream` (server-sent events). Each event's id is a cursor;
when the connection drops (server restart, proxy timeout, no keep-alive for a while)
the command reconnects with the last id it printed, so nothing is skipped or printed
twice. A refusal (no session, a bad cursor) ends it with exit 1; Ctrl-C with exit 0.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import typer
from rich.markup import escape

from interfaces.cli.client import Api, refused
from interfaces.cli.output import EXIT_OK, one_line, say, when

PATH = "/v1/admin/audit/stream"
READ_TIMEOUT = 45.0  # three missed keep-alives: the connection is dead, reconnect
RETRY_STATUSES = {429, 502, 503, 504}  # busy or restarting: worth another try
MAX_WAIT = 5.0


def events(lines: Iterator[str]) -> Iterator[tuple[str | None, str, str]]:
    """(id, event, data) of each complete event; comments and retry lines skipped."""
    event_id: str | None = None
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event_id, kind, "\n".join(data)
            event_id, kind, data = None, "message", []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)


def line(entry: dict[str, Any]) -> str:
    """One record as a terminal line: time, action, severity, actor, secret, ip, detail."""
    actor = entry.get("machineId") or entry.get("aiAgentId") or entry.get("userId") or "-"
    cells = [
        when(entry.get("timestamp")),
        entry.get("action"),
        entry.get("severity"),
        f"{entry.get('actorKind')}:{actor}",
        entry.get("secretId") or "-",
        entry.get("sourceIp") or "-",
        one_line(str(entry.get("detail") or ""), 200),
    ]
    return "  ".join(one_line(str(c), 200) for c in cells)


def show(data: str, json_out: bool) -> None:
    entry = json.loads(data)
    sys.stdout.write((json.dumps(entry) if json_out else line(entry)) + "\n")
    sys.stdout.flush()


def follow(
    server: str | None,
    json_out: bool,
    after: str | None = None,
    start: dict[str, int] | None = None,
) -> None:
    """Print records as they arrive until Ctrl-C; reconnect with the last id on a drop.
    `start` ({"since": ms} or {"tail": n}) says where the first connection begins."""
    api = Api(server)
    last = after
    wait = 0.5
    try:
        while True:
            headers = dict(api.headers)
            if last:
                headers["Last-Event-ID"] = last
            timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
            try:
                params = {} if last else (start or {})  # a reconnect resumes, never restarts
                with httpx.stream(
                    "GET", api.server + PATH, params=params, headers=headers, timeout=timeout
                ) as r:
                    if r.status_code >= 400 and r.status_code not in RETRY_STATUSES:
                        r.read()
                        try:
                            body = r.json()
                        except ValueError:
                            body = None
                        refused(r.status_code, body)
                    if r.status_code < 400:
                        wait = 0.5
                        say(f"[dim]following the audit stream of {escape(api.server)}[/dim]")
                        for event_id, kind, data in events(r.iter_lines()):
                            if kind == "audit":
                                show(data, json_out)
                                last = event_id or last
            except httpx.HTTPError as exc:
                say(f"[dim]audit stream: {escape(type(exc).__name__)}; reconnecting[/dim]")
            time.sleep(wait)
            wait = min(MAX_WAIT, wait * 2)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_OK) from None
