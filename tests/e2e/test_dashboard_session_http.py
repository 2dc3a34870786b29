"""The dashboard's session limits over plain HTTP on both stores, against live servers
with short configured timeouts (seconds, not the 30 min / 12 h defaults): an idle
session and one past its absolute lifetime are refused by the server (the cookie is
sent by hand, so the browser-side max-age cannot hide a server bug); "log out
everywhere" ends a second session served by another API process; the live stream
ends with its session."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.dashboard_helpers import csrf_of, logged_in
from tests.e2e.machine_helpers import Operator

IDLE = 4  # seconds: short, yet above a busy machine's slowest request


def started(
    stack: ExitStack, store: str, factory: pytest.TempPathFactory, *args: str, **env: str
) -> LiveServer:
    live = module_server(stack, store, factory, **env)
    live.start(*args, patience=240)  # two workers start slowly on a busy machine
    stack.callback(Operator(live).close)  # initialises the vault
    return live


@pytest.fixture(scope="module", params=STORES)
def idle_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        yield started(
            stack,
            request.param,
            tmp_path_factory,
            "--workers",  # two API processes: a session revoked in one is dead in both
            "2",
            KEYLEDGER_SESSION_IDLE_TIMEOUT=str(IDLE),
        )


@pytest.fixture(scope="module", params=STORES)
def short_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        yield started(stack, request.param, tmp_path_factory, KEYLEDGER_SESSION_TTL="3")


def token_of(client: httpx.Client) -> str:
    token = client.cookies.get("keyledger_session")
    assert token
    return token


def page(live: LiveServer, token: str, path: str = "/") -> httpx.Response:
    """A request with the session cookie set by hand, whatever its max-age said."""
    return httpx.get(live.url + path, headers={"Cookie": f"keyledger_session={token}"}, timeout=30)


def api_ok(live: LiveServer, token: str) -> bool:
    answer = httpx.get(
        live.url + "/v1/admin/projects", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return answer.status_code == 200


def test_a_session_in_use_stays_open_and_an_idle_one_is_refused(idle_server: LiveServer) -> None:
    with logged_in(idle_server) as client:
        token = token_of(client)
    for _ in range(10):  # 10 × 0.5 s in use: longer than the idle limit in all
        assert page(idle_server, token).status_code == 200
        time.sleep(0.5)
    time.sleep(IDLE + 1)
    refused = page(idle_server, token)
    assert refused.status_code == 303 and refused.headers["location"] == "/login"
    assert not api_ok(idle_server, token), "an idle session is revoked for the API too"


def test_a_session_past_its_absolute_lifetime_is_refused(short_server: LiveServer) -> None:
    with logged_in(short_server) as client:
        token = token_of(client)
        assert page(short_server, token).status_code == 200
    time.sleep(3.5)
    refused = page(short_server, token)
    assert refused.status_code == 303 and refused.headers["location"] == "/login"


def test_an_api_session_opens_no_dashboard_page(idle_server: LiveServer) -> None:
    """The CLI's token (as `keyledger login` stored it) has no dashboard activity."""
    token = json.loads((idle_server.home / "session.json").read_text())["token"]
    assert page(idle_server, token).headers.get("location") == "/login"


def test_log_out_everywhere_ends_every_session_of_the_operator(idle_server: LiveServer) -> None:
    with logged_in(idle_server) as first, logged_in(idle_server) as second:
        other = token_of(second)
        # Several requests: with two API processes both of them serve this session.
        assert all(page(idle_server, other).status_code == 200 for _ in range(4))
        refused = first.post("/logout-everywhere", data={"csrf": "wrong"})
        assert refused.status_code == 403
        assert page(idle_server, other).status_code == 200, "a refused POST changed nothing"
        done = first.post("/logout-everywhere", data={"csrf": csrf_of(first.get("/").text)})
        assert done.status_code == 303 and done.headers["location"] == "/login"
        for _ in range(4):
            gone = page(idle_server, other)
            assert gone.status_code == 303 and gone.headers["location"] == "/login"
        assert not api_ok(idle_server, other)
        assert first.get("/").headers.get("location") == "/login"


def test_the_live_stream_ends_when_the_session_does(idle_server: LiveServer) -> None:
    with logged_in(idle_server) as client:
        token = token_of(client)
        started_at = time.monotonic()
        seen: list[str] = []
        with httpx.stream(
            "GET",
            idle_server.url + "/audit/stream",
            headers={"Cookie": f"keyledger_session={token}"},
            timeout=30,
        ) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                seen.append(line)
                if line == "" and "event: session-ended" in seen:
                    break
        assert "event: session-ended" in seen
        assert time.monotonic() - started_at < IDLE + 10
        assert "data: /login" in seen
