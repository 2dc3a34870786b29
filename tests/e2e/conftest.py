"""A live `keyledger server` process per test, and a CLI runner that runs real processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from infrastructure.settings import Settings
from interfaces.cli import main
from tests.conftest import FAST_ARGON2_KIB, fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class LiveServer:
    settings: Settings
    home: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    # In a process group of its own, so `kill()` can reach every worker process.
    own_group: bool = False

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self, *extra: str, patience: float = 180) -> None:
        args = [sys.executable, "-m", "interfaces.cli.main", "server", "--port", str(self.port)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*args, *extra],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=self.own_group,
        )
        deadline = time.monotonic() + patience  # generous: a busy machine starts it slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()  # not left running behind a failed test (`serve` would not stop it)
        raise RuntimeError(f"server did not come up in {patience:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.own_group and self.process is not None:
            self.kill()  # any worker the supervisor left behind
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server with no chance to clean up: with `own_group`, every
        process of it (a `--workers N` supervisor and its workers) at once."""
        if self.process is None:
            return
        if self.own_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.kill()
        self.process.wait()
        self.process = None

    def cli(self, *args: str, stdin: str | None = None) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "interfaces.cli.main", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin.encode() if stdin is not None else b"",
            capture_output=True,
            timeout=60,
        )
        return Result(done.returncode, done.stdout.decode(), done.stderr.decode())

    def ok(self, *args: str, stdin: str | None = None) -> Result:
        result = self.cli(*args, stdin=stdin)
        assert result.code == 0, f"{args} -> {result.code}: {result.stderr}"
        return result

    def ok_here(self, *args: str, stdin: str | None = None) -> Result:
        """`ok`, with the CLI run in this process (same environment): for setup steps
        that are not what a test is about, a Python start each is most of their cost."""
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KEYLEDGER_")}
        env.update(self.env)
        done = CliRunner().invoke(main.app, list(args), input=stdin, env=env)
        result = Result(done.exit_code, done.stdout, done.stderr)
        assert result.code == 0, f"{args} -> {result.code}: {result.stderr} {done.exception!r}"
        return result


def prepare(settings: Settings, tmp_path: Path, **extra_env: str) -> LiveServer:
    """A server on `settings`, not yet started, the CLI's environment pointed at it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLEDGER_")}
    server = LiveServer(
        settings=settings,
        home=tmp_path / "home",
        port=free_port(),
        log_path=tmp_path / "server.log",
    )
    env.update(
        KEYLEDGER_HOME=str(server.home),
        KEYLEDGER_DATA_DIR=str(settings.data_dir),
        KEYLEDGER_SERVER=server.url,
        KEYLEDGER_ARGON2_MEMORY_KIB=str(FAST_ARGON2_KIB),
        COLUMNS="200",
        **extra_env,
    )
    if settings.database_url:
        env["KEYLEDGER_DATABASE_URL"] = settings.database_url
    server.env = env
    return server


def serve(settings: Settings, tmp_path: Path, **extra_env: str) -> Iterator[LiveServer]:
    """A started server on `settings`, the CLI's environment pointed at it; stopped after."""
    server = prepare(settings, tmp_path, **extra_env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    yield from serve(settings, tmp_path)


# Module-scoped fixtures run each module's tests once per store, on a server of its own.
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def module_server(
    stack: ExitStack, store: str, tmp_path_factory: pytest.TempPathFactory, **extra_env: str
) -> LiveServer:
    """A prepared (not yet started) server on a fresh `store` ("sqlite" or "postgres")
    of its own, stopped when `stack` closes (also if it never came up)."""
    url = stack.enter_context(fresh_pg_database()) if store == "postgres" else None
    root = tmp_path_factory.mktemp(store)
    live = prepare(
        Settings(data_dir=root / "data", database_url=url, argon2_memory_kib=FAST_ARGON2_KIB),
        root,
        **extra_env,
    )
    stack.callback(live.stop)
    return live
