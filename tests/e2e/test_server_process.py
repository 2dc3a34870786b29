"""`keyledger server` as a process: where it listens, what it logs, how it stops.

granian runs the app in worker processes, even for one: a stop must reach each
worker's Litestar on_shutdown, where services.close() writes what is still buffered.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT, LiveServer, free_port
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_unauthenticated import counted, random_key

pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def bogus_registration(live: LiveServer) -> int:
    """A failed authentication on a connection of its own (any worker may take it)."""
    body = {"token": secrets.token_hex(24), "publicKey": random_key(), "hostname": "x"}
    with httpx.Client(timeout=30) as client:
        return client.post(live.url + "/v1/bootstrap/register", json=body).status_code


def test_a_stop_runs_every_workers_shutdown(live: LiveServer) -> None:
    """Each worker folds the failures it saw; only its on_shutdown writes the open
    interval's fold. After SIGTERM every failure is accounted for, and the exit is 0."""
    op = Operator(live)
    live.stop()
    live.start("--workers", "2")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: bogus_registration(live), range(80)))
    assert statuses == [401] * 80
    process = live.process
    assert process is not None
    live.stop()
    assert process.returncode == 0, live.log_path.read_text()[-2000:]
    log = live.log_path.read_text()
    assert log.count("Stopped worker-") >= 2 and "Traceback" not in log

    live.start()
    failures = [e for e in op.audit(1000) if e["action"] == "auth_failure"]
    assert counted(failures) == 80
    op.close()


def run_server(
    live: LiveServer, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "interfaces.cli.main", "server", *args]
    return subprocess.run(
        command, cwd=ROOT, env=live.env, capture_output=True, text=True, timeout=timeout
    )


def test_a_busy_port_is_a_one_line_error(live: LiveServer) -> None:
    for workers in ("1", "2"):
        taken = run_server(live, "--port", str(live.port), "--workers", workers)
        assert taken.returncode == 1
        assert f"cannot listen on 127.0.0.1:{live.port}" in taken.stderr
        assert "in use" in taken.stderr and "Traceback" not in taken.stderr
    assert httpx.get(live.url + "/healthz").status_code == 200  # the first one serves on


def test_an_unknown_log_level_is_a_usage_error(live: LiveServer) -> None:
    refused = run_server(live, "--port", str(free_port()), "--log-level", "loud")
    assert refused.returncode == 2 and "unknown log level 'loud'" in refused.stderr


def test_host_and_log_level(live: LiveServer) -> None:
    """--host binds that address only; --log-level warning quiets the server's own
    start and stop lines (and, as with uvicorn, the access log's)."""
    live.stop()
    port = free_port()
    command = [sys.executable, "-m", "interfaces.cli.main", "server", "--host", "127.0.0.2"]
    command += ["--port", str(port), "--log-level", "warning", "--access-log"]
    with live.log_path.open("ab") as out:
        server = subprocess.Popen(
            command, cwd=ROOT, env=live.env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, live.log_path.read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.2:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "not up on 127.0.0.2 in 30 s"
                time.sleep(0.1)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        server.terminate()
        assert server.wait(10) == 0
    log = live.log_path.read_text().split("keyledger on http://127.0.0.2")[-1]
    assert "[INFO]" not in log and "GET /healthz" not in log


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_of_a_killed_server_stop_by_themselves(live: LiveServer) -> None:
    """SIGKILL of the server process alone (an OOM kill, a careless `kill -9`): its
    workers ignore SIGTERM and nobody else stops them, so each must notice and exit
    instead of serving on unsupervised."""
    live.stop()
    live.start("--workers", "2")
    process = live.process
    assert process is not None
    workers = [p for p in _children(process.pid) if "spawn_main" in _cmdline(p)]
    assert len(workers) == 2
    process.kill()
    process.wait()
    live.process = None
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), live.log_path.read_text()[-2000:]
    assert "the server process is gone" in live.log_path.read_text()
    live.start()  # the port and the data dir are free again


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
