"""The HTTP server's own log: no per-request lines by default, never a bootstrap token."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Operator

pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def fetch_script(live: LiveServer) -> str:
    """Mint a token and fetch its bootstrap script, then a health check; the token."""
    op = Operator(live)
    token = op.token()
    op.close()
    assert httpx.get(f"{live.url}/v1/bootstrap/{token}").status_code == 200
    assert httpx.get(f"{live.url}/healthz").status_code == 200
    return token


def log_once_it_holds(live: LiveServer, needle: str) -> str:
    deadline = time.monotonic() + 10
    while needle not in (text := live.log_path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return text


def test_no_request_lines_by_default(live: LiveServer) -> None:
    token = fetch_script(live)
    live.stop()  # every line the server would write is written
    log = live.log_path.read_text()
    assert token not in log
    assert "GET /healthz" not in log and "/v1/bootstrap/" not in log


def test_access_log_when_asked_redacts_token_paths(live: LiveServer) -> None:
    live.stop()
    live.start("--access-log")
    token = fetch_script(live)
    log = log_once_it_holds(live, "GET /healthz")
    assert '"GET /v1/bootstrap/[redacted] HTTP/1.1" 200' in log
    assert "GET /healthz" in log and "POST /v1/admin/machines/token" in log
    assert token not in log


def test_access_log_from_several_workers_is_redacted_too(live: LiveServer) -> None:
    live.stop()
    live.env["KEYLEDGER_ACCESS_LOG"] = "1"
    live.start("--workers", "2")
    token = fetch_script(live)
    log = log_once_it_holds(live, "GET /healthz")
    assert '"GET /v1/bootstrap/[redacted] HTTP/1.1" 200' in log
    assert token not in log
