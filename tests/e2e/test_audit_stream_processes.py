"""The live audit stream across processes: two API servers on one PostgreSQL database,
a graceful stop with streams open, and `keyledger audit tail --follow` riding out a
server restart."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from infrastructure.settings import Settings
from tests.conftest import FAST_ARGON2_KIB, fresh_pg_database
from tests.e2e.audit_stream import open_stream
from tests.e2e.conftest import ROOT, LiveServer, prepare
from tests.e2e.machine_helpers import Operator, register_machine, signed


def _settings(root: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=root / "data", database_url=database_url, argon2_memory_kib=FAST_ARGON2_KIB
    )


def _token(op: Operator) -> str:
    return str(op.http.headers["Authorization"]).removeprefix("Bearer ")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    with fresh_pg_database() as url, ExitStack() as stack:
        root_a, root_b = tmp_path_factory.mktemp("stream-a"), tmp_path_factory.mktemp("stream-b")
        a = prepare(_settings(root_a, url), root_a)
        stack.callback(a.stop)
        a.start()
        key_file = str(a.settings.data_dir / "server.key")
        b = prepare(_settings(root_b, url), root_b, KEYLEDGER_SERVER_KEY_FILE=key_file)
        stack.callback(b.stop)
        b.start()
        yield a, b


@pytest.mark.postgres
def test_a_record_written_through_one_process_reaches_a_stream_on_the_other(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    op = Operator(a)  # logged in through A; the session is good on B (one database)
    try:
        on_b = open_stream(b.url, _token(op))
        try:
            project = op.project("payments")
            secret = op.secret(project, "stripe-key", "sk_live_pair_9d2e")
            machine = register_machine(a, op, "web-1", project_id=project, grants=(secret,))
            assert signed(a, machine, "GET", f"/v1/secret/{secret}").send().status_code == 200
            got = on_b.until(lambda e: e["action"] == "secret_read")
        finally:
            on_b.close()
        actions = [e.entry["action"] for e in got]
        assert actions[:2] == ["project_create", "secret_create"], actions
        assert got[-1].entry["log"] == "access" and got[-1].entry["machineId"] == machine.machine_id
        # B's cursor resumes on A: the next record, once, whichever process serves it.
        on_a = open_stream(a.url, _token(op), last_event_id=got[-1].id)
        try:
            later = op.secret(project, "db-password", "pw")
            resumed = on_a.take(1)
            assert resumed[0].entry["secretId"] == later
            assert on_a.quiet(1.0) == []
        finally:
            on_a.close()
    finally:
        op.close()


def _follow(live: LiveServer) -> tuple[subprocess.Popen[str], queue.Queue[dict[str, Any]]]:
    cli = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", "audit", "tail", "--follow", "--json"],
        cwd=ROOT,
        env=live.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: queue.Queue[dict[str, Any]] = queue.Queue()

    def read() -> None:
        assert cli.stdout is not None
        for line in cli.stdout:
            printed.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return cli, printed


def _until(printed: queue.Queue[dict[str, Any]], secret_id: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while not got or got[-1]["secretId"] != secret_id:
        got.append(printed.get(timeout=20))
    return got


def test_graceful_stop_ends_open_streams_and_follow_resumes_after_restart(
    tmp_path: Path,
) -> None:
    live = prepare(_settings(tmp_path, None), tmp_path)
    with ExitStack() as stack:
        stack.callback(live.stop)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        project = op.project("payments")
        cli, printed = _follow(live)
        stack.callback(cli.kill)
        time.sleep(1.5)  # the CLI is connected (it prints only records from now on)
        stream = open_stream(live.url, _token(op))
        before = op.secret(project, "before-stop", "v")
        first = _until(printed, before)

        assert live.process is not None
        started = time.monotonic()
        live.process.terminate()
        assert live.process.wait(15) == 0  # not held up by the two open streams
        assert time.monotonic() - started < 10
        assert stream.ended.wait(5)  # the stream ended: the server closed it
        live.process = None

        live.start()  # same port, same store: the CLI reconnects with its last id
        after = op.secret(project, "after-restart", "v")
        second = _until(printed, after)
        cli.send_signal(signal.SIGINT)
        assert cli.wait(10) == 0
    ids = [e["id"] for e in first + second]
    assert len(ids) == len(set(ids)), ids
    assert [e["secretId"] for e in first + second if e["action"] == "secret_create"] == [
        before,
        after,
    ]
