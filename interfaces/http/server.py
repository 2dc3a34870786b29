"""`keyledger server`'s HTTP server: granian (HTTP/1.1 parsed in Rust) on uvloop.

Measured against uvicorn in bench/http_servers.py and docs/adr/0015-http-server.md.
granian always serves from worker processes, one or more; each builds the app from
the ASGI factory (`interfaces.http.asgi:app`, settings from the environment) and runs
Litestar's on_startup and on_shutdown through the ASGI lifespan. On SIGTERM or SIGINT
the main process stops every worker; each finishes its requests in flight, then
runs on_shutdown (services.close() writes what is buffered) before it exits.

What granian does not do, and keyledger relies on: it never takes the client's
address from X-Forwarded-For (keyledger reads forwarded headers itself, only from
KEYLEDGER_TRUSTED_PROXIES), and it writes no per-request line unless asked.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from typing import Any

from interfaces.http.serverlog import granian_logging, level_name


class CannotListen(Exception):
    """The address is taken, or not this host's."""


def check_port(host: str, port: int) -> None:
    """Refuse a taken address before anything starts. granian binds with SO_REUSEPORT,
    so a second server run by the same user on a taken port would not fail: it would
    quietly share the port's connections with the first. A plain bind does fail."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            probe.bind(address)
        except OSError as exc:
            raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def load_app() -> Any:
    """What each worker process calls: the ASGI factory. A module-level function, so
    a spawned worker can unpickle it; granian's own loader would put the working
    directory first on sys.path."""
    from interfaces.http.asgi import app

    return app()


def serve(host: str, port: int, workers: int, access_log: bool, log_level: str) -> None:
    """Serve until SIGTERM/SIGINT. Settings reach the workers through the environment."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    from interfaces.http.app import SERVER_PID_ENV

    # Workers start as fresh interpreters, as uvicorn's did: nothing the main process
    # opened (database files, pools, threads) is inherited by a fork.
    multiprocessing.set_start_method("spawn", force=True)
    os.environ[SERVER_PID_ENV] = str(os.getpid())  # each worker watches for this one's death
    server = Server(
        "interfaces.http.asgi:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,  # with the lifespan protocol: on_startup/on_shutdown
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,  # what clients and proxies speak to it; no h2c surface
        websockets=False,
        log_level=LogLevels(level_name(log_level).lower()),
        log_dictconfig=granian_logging(log_level),
        log_access=access_log,
        factory=True,
        # As uvicorn's supervisor did for N workers: one that dies is replaced (a crash
        # loop still ends the server). One worker dying ends the server, as before.
        respawn_failed_workers=workers > 1,
    )
    try:
        server.serve(target_loader=load_app, wrap_loader=False)
    except RuntimeError as exc:  # granian reports a failed bind as Rust's I/O error
        if "(os error" not in str(exc):
            raise
        raise CannotListen(f"cannot listen on {host}:{port}: {exc}") from None
