"""Kills of `audit export` between a delivery and its cursor commit, made certain rather
than lucky: another connection holds the lock the commit needs, so the exporter has
delivered and waits on its commit when it is SIGKILLed. What `--resume` must then do:
a file drops the uncounted tail and writes it again (exactly once); TCP cannot take
back what the kernel took, so those records are sent again — none lost, and the
repeats are exactly the unsaved delivery (the window the README states).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.conftest import ROOT, LiveServer
from tests.siem_receivers import TcpReceiver, lines

Run = Callable[..., tuple[int, str]]


@contextmanager
def cursor_locked(live: LiveServer, sink: str) -> Iterator[None]:
    """Hold the write lock a commit of `sink`'s cursor needs, until the block ends."""
    if live.settings.database_url:
        engine = create_engine(live.settings.state_db_url())
        try:
            with engine.connect() as conn:
                lock = "SELECT 1 FROM kl_export_cursors WHERE sink = :sink FOR UPDATE"
                assert conn.execute(text(lock), {"sink": sink}).all(), "no cursor to lock"
                yield
                conn.rollback()
        finally:
            engine.dispose()
        return
    conn = sqlite3.connect(live.settings.data_dir / "export.sqlite", isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")  # the exporter's commit waits (busy timeout 10 s)
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def killed_while_committing(
    live: LiveServer, args: tuple[str, ...], delivered: Callable[[], bool]
) -> None:
    """Start `audit export ARGS --resume` with its cursor locked; SIGKILL it once
    `delivered()` and it still waits on the commit."""
    with cursor_locked(live, args[args.index("--sink") + 1]):
        exporter = subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", "audit", "export", *args, "--resume"],
            cwd=ROOT,
            env=live.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not delivered():
            assert time.monotonic() < deadline and exporter.poll() is None, exporter.stderr
            time.sleep(0.01)
        time.sleep(0.3)
        assert exporter.poll() is None, "the exporter did not wait on its cursor commit"
        exporter.send_signal(signal.SIGKILL)
        exporter.wait()


def file_killed_between_write_and_cursor(live: LiveServer, run: Run, path: Path) -> None:
    """The file holds the delivery, the cursor does not: the resume truncates it away
    and writes it again, so every record is in the file once, in order."""
    ids = lambda: [json.loads(line)["id"] for line in lines(path.read_bytes())]  # noqa: E731
    before, size = ids(), path.stat().st_size
    args = ("--format", "jsonl", "--sink", "f-jsonl", "--to", f"file:{path}")
    killed_while_committing(live, args, lambda: path.stat().st_size > size)
    tail = ids()[len(before) :]
    assert tail, "the killed run wrote nothing"
    code, said = run(live, *args, "--resume")
    assert code == 0 and f"Exported {len(tail)} record(s)" in said, said
    assert ids() == before + tail, "the uncommitted tail was repeated or lost"


def tcp_killed_between_send_and_cursor(live: LiveServer, run: Run) -> None:
    """The kernel took the records, the cursor did not move: the resume sends exactly
    those records again (same ids, same order, a SIEM can drop them by id), nothing else."""
    receiver = TcpReceiver()
    args = ("--format", "ocsf", "--sink", "siem", "--to", f"tcp://127.0.0.1:{receiver.port}")

    def uids(connection: int) -> list[str]:
        data = receiver.connections[connection] if len(receiver.connections) > connection else b""
        return [json.loads(x)["metadata"]["uid"] for x in lines(data)]

    try:
        killed_while_committing(live, args, lambda: bool(uids(0)))
        sent = uids(0)
        code, said = run(live, *args, "--resume")
        assert code == 0 and f"Exported {len(sent)} record(s)" in said, said
        deadline = time.monotonic() + 10
        while len(uids(1)) < len(sent):
            assert time.monotonic() < deadline, "the resume did not send the records again"
            time.sleep(0.01)
        assert uids(1) == sent
    finally:
        receiver.close()


def file_killed_in_its_first_delivery(live: LiveServer, run: Run, tmp_path: Path) -> None:
    """A fresh sink killed before any delivery was counted: its first cursor was saved
    before the first delivery, so `--resume` works (and sends every record once)."""
    fifo = tmp_path / "audit.fifo"  # a pipe nobody drains: the first write blocks in it
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
        args = ("--format", "jsonl", "--sink", "first")
        command = [sys.executable, "-m", "interfaces.cli.main", "audit", "export", *args]
        exporter = subprocess.Popen(
            [*command, "--to", f"file:{fifo}"],
            cwd=ROOT,
            env=live.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert select.select([reader], [], [], 30)[0], "the exporter wrote nothing"
        time.sleep(0.3)
        assert exporter.poll() is None, "the first delivery fit in the pipe"
        exporter.send_signal(signal.SIGKILL)
        exporter.wait()
    finally:
        os.close(reader)
    out = tmp_path / "first.jsonl"
    code, said = run(live, *args, "--to", f"file:{out}", "--resume")
    assert code == 0, said
    ids = [json.loads(line)["id"] for line in lines(out.read_bytes())]
    assert len(ids) == len(set(ids)) > 100
