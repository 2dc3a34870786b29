"""`keyledger audit export`: ship both audit logs to a SIEM, resumable per sink.

A local command, like `audit verify`: it reads the store (--data-dir / --database-url)
rather than paging through the server, so an export of millions of records costs the
server nothing and works while the server is down. It must run where the store is.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from application.siemexport import Exporter, Position, SinkError
from interfaces.cli.options import DatabaseUrl, DataDir, read_stdin_value
from interfaces.cli.output import fail, say

SINK_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
EPILOG = (
    "Sinks: file:PATH · tcp://HOST:PORT (syslog octet-counted, RFC 6587; others one per line)"
    " · udp://HOST:PORT (one datagram a record, at most once) ·"
    " https://HOST/services/collector (Splunk HEC; token on stdin, --ca-file for a private CA;"
    " http:// only to 127.0.0.1). Example: keyledger audit export --format ocsf --sink splunk"
    " --resume --follow --to https://splunk.example:8088/services/collector < token.txt"
)


def parse_time(value: str) -> int:
    """Epoch ms, or an ISO 8601 / RFC 3339 time (UTC when no offset is given)."""
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--from {value!r} is not a time (use 2026-11-01T00:00Z or epoch ms)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _token(url: str) -> str | None:
    if not url.startswith(("https://", "http://")):
        return None
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Splunk HEC token: ")
    return read_stdin_value().strip()


def register(audit: typer.Typer) -> None:
    @audit.command("export", epilog=EPILOG)
    def export(
        fmt: Annotated[
            str, typer.Option("--format", help="ocsf, cef, syslog (RFC 5424) or jsonl.")
        ],
        sink: Annotated[
            str, typer.Option("--sink", help="A name for this destination; its cursor's key.")
        ],
        to: Annotated[str, typer.Option("--to", help="Where to send (see Sinks below).")],
        since: Annotated[
            str | None,
            typer.Option("--from", help="Start over from this time (2026-11-01T00:00Z)."),
        ] = None,
        resume: Annotated[
            bool, typer.Option("--resume", help="Continue after the last record this sink got.")
        ] = False,
        follow: Annotated[
            bool, typer.Option("--follow", help="Keep running and send new records as they come.")
        ] = False,
        ca_file: Annotated[
            Path | None, typer.Option("--ca-file", help="CA bundle to verify the HEC's TLS with.")
        ] = None,
        hostname: Annotated[
            str | None, typer.Option("--hostname", help="Host name in syslog and HEC events.")
        ] = None,
        interval: Annotated[
            float, typer.Option("--interval", min=0.05, help="Seconds between --follow polls.")
        ] = 1.0,
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """Send the audit log (vault changes and machine access) to a SIEM, each record once
        and in order; the cursor per --sink lets --resume continue after a crash or kill."""
        from domain.siem.formats import FORMATS, formatter
        from infrastructure.siem.sinks import open_sink, parse_sink
        from interfaces.bootstrap import build_audit_export
        from interfaces.cli.local import local_settings

        if fmt not in FORMATS:
            fail(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
        if not SINK_NAME.match(sink):
            fail("--sink is 1–100 letters, digits, '.', '_' or '-'")
        if since is not None and resume:
            fail("--from starts over and --resume continues: give one of them")
        since_ms = parse_time(since) if since is not None else 0
        try:
            parse_sink(to)
        except SinkError as exc:
            fail(str(exc))
        host = hostname or socket.gethostname()
        token = _token(to)
        source, cursors = build_audit_export(local_settings(data_dir, database_url))
        try:
            saved = cursors.load(sink)
            if resume and saved is None:
                fail(f"sink {sink!r} has no cursor yet: run once without --resume")
            if not resume and since is None and saved is not None:
                fail(f"sink {sink!r} has a cursor: --resume continues it, --from T starts over")
            try:
                target = open_sink(to, fmt, token=token, ca_file=ca_file, hostname=host)
            except SinkError as exc:
                fail(str(exc))
            if saved is None and since is None:
                # A first cursor before the first delivery: a kill during it leaves one
                # for --resume, with the sink's mark (the file's size) to truncate back to.
                cursors.save(sink, Position().marked(target.mark()))
            render = formatter(fmt, _version(), host, str(os.getpid())).render
            exporter = Exporter(source, cursors, target, render, sink)
            try:
                sent = _stream(
                    exporter, saved if resume and saved else Position(), since_ms, follow, interval
                )
            except SinkError as exc:
                fail(f"{exc} (cursor kept: --resume continues after the last record sent)")
            finally:
                target.close()
        finally:
            source.close()
            cursors.close()
        say(f"Exported {sent} record(s) to {sink}.")


def _stream(
    exporter: Exporter, position: Position, since_ms: int, follow: bool, interval: float
) -> int:
    """Run passes until nothing is left (or, with --follow, until SIGTERM or Ctrl-C)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return _passes(exporter, position, since_ms, follow, interval, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _passes(
    exporter: Exporter,
    position: Position,
    since_ms: int,
    follow: bool,
    interval: float,
    stop: threading.Event,
) -> int:
    sent = 0
    with Progress(
        TextColumn(f"exporting to {exporter.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        try:
            while True:
                total = exporter.source.count_after(position)
                task = progress.add_task("", total=total or None)
                done = 0
                for done in exporter.run(position, since_ms):
                    progress.update(task, completed=done)
                    if stop.is_set():
                        break
                sent += done
                progress.remove_task(task)
                position = exporter.cursors.load(exporter.name) or position
                if not follow or stop.wait(interval):
                    return sent
        except KeyboardInterrupt:
            return sent


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keyledger")
    except PackageNotFoundError:
        return "0"
