"""A live server (embedded, or distributed with a real `keyledger worker` on Redis) with
loopback webhooks allowed and fast retries, plus an operator and a project."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest

from tests.databases import redis_servers
from tests.e2e.conftest import ROOT, LiveServer, module_server
from tests.e2e.machine_helpers import Operator

MODES = ["embedded", pytest.param("distributed", marks=pytest.mark.postgres)]
FAST = {
    "KEYLEDGER_ALLOW_LOOPBACK_WEBHOOKS": "1",
    "KEYLEDGER_OUTREACH_BACKOFF_MS": "10",
    "KEYLEDGER_OUTREACH_LEASE_SECONDS": "3",
}


@dataclass
class World:
    mode: str
    live: LiveServer
    op: Operator
    project_id: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> None:
        """A `keyledger worker` process (distributed mode): it runs the delivery actor."""
        log = (self.live.log_path.parent / "worker.log").open("ab")
        self.workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "interfaces.cli.main", "worker", "--threads", "2"],
                cwd=ROOT,
                env=self.live.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def kill_deliverer(self) -> None:
        """SIGKILL whatever process is delivering: the worker, or the embedded server."""
        if self.mode == "distributed":
            worker = self.workers.pop()
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        else:
            self.live.kill()

    def restart_deliverer(self) -> None:
        if self.mode == "distributed":
            self.start_worker()
        else:
            self.live.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def outreach_world(
    mode: str, tmp_path_factory: pytest.TempPathFactory, **extra_env: str
) -> Iterator[World]:
    with ExitStack() as stack:
        env = {**FAST, **extra_env}
        if mode == "distributed":
            start = stack.enter_context(redis_servers())
            redis = start(admin=("", ""), plain=("", ""))
            env["KEYLEDGER_BROKER_URL"] = f"redis://127.0.0.1:{redis.port}/0"
        store = "postgres" if mode == "distributed" else "sqlite"
        live = module_server(stack, store, tmp_path_factory, **env)
        live.own_group = True
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        world = World(mode, live, op, op.project("outreach"))
        stack.callback(world.stop)
        if mode == "distributed":
            world.start_worker()
        yield world
