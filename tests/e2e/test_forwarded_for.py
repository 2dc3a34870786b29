"""Who is calling: the socket's peer, unless KEYLEDGER_TRUSTED_PROXIES names it.

A client on the server's own host must not pass a vault IP allowlist, nor be
audited under another address, by sending `X-Forwarded-For` itself: not through
`keyledger server` (one process or several), and not through another ASGI server
that rewrites the address from the header before keyledger sees the request.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROOT, LiveServer, free_port
from tests.e2e.machine_helpers import Machine, Operator, Signed, register_machine, signed

VALUE = "forwarded-for-target-value"
OFFICE = "10.0.0.0/8"


@dataclass
class Vault:
    live: LiveServer
    op: Operator
    secret: str
    machine: Machine

    def read(self, forwarded_for: str | None = None, base: str | None = None) -> httpx.Response:
        def tamper(request: Signed) -> None:
            if forwarded_for is not None:
                request.headers["X-Forwarded-For"] = forwarded_for
            if base is not None:
                request.url = request.url.replace(self.live.url, base)

        path = f"/v1/secret/{self.secret}"
        return signed(self.live, self.machine, "GET", path, tamper=tamper).send()

    def mark(self) -> set[tuple[Any, Any]]:
        """The audit entries there are now (both logs): later checks see only newer ones."""
        return {(e.get("log"), e["id"]) for e in self.op.audit()}

    def newest(self, action: str, mark: set[tuple[Any, Any]]) -> dict[str, Any]:
        """The newest `action` entry not in `mark` (the audit view may trail slightly)."""
        deadline = time.monotonic() + 5
        while True:
            entries = self.op.audit()
            found = [
                e for e in entries if e["action"] == action and (e.get("log"), e["id"]) not in mark
            ]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no new {action} entry in {entries[-5:]}"
            time.sleep(0.2)


@pytest.fixture
def vault(live: LiveServer) -> Iterator[Vault]:
    op = Operator(live)
    project = op.project("payments")
    secret = op.secret(project, "stripe-key", VALUE)
    machine = register_machine(live, op, "web-1", project_id=project, grants=(secret,))
    op.allowlist(True)
    op.allow(OFFICE, "office")
    yield Vault(live, op, secret, machine)
    op.close()


def restart(live: LiveServer, *args: str, **env: str) -> None:
    live.stop()
    live.env.update(env)
    live.start(*args)


def assert_forged_address_is_ignored(vault: Vault, base: str | None = None) -> None:
    before = vault.mark()
    refused = vault.read("10.1.2.3", base)
    assert refused.status_code == 403, refused.text
    assert VALUE not in refused.text
    assert vault.newest("auth_failure", before)["sourceIp"] == "127.0.0.1"


def test_forwarded_for_is_ignored_without_trusted_proxies(vault: Vault) -> None:
    assert_forged_address_is_ignored(vault)
    vault.op.allow("127.0.0.1/32", "this host")
    before = vault.mark()
    answer = vault.read("10.1.2.3")
    assert answer.status_code == 200 and answer.json() == {"value": VALUE}
    assert vault.newest("secret_read", before)["sourceIp"] == "127.0.0.1"


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_several_workers_ignore_forwarded_for_too(vault: Vault) -> None:
    restart(vault.live, "--workers", "2")
    for _ in range(4):  # whichever worker answers
        assert_forged_address_is_ignored(vault)


def test_a_trusted_proxy_names_the_client(vault: Vault) -> None:
    restart(vault.live, KEYLEDGER_TRUSTED_PROXIES="127.0.0.1/32")
    before = vault.mark()
    answer = vault.read("203.0.113.7, 10.1.2.3")  # nearest untrusted hop: 10.1.2.3
    assert answer.status_code == 200 and answer.json() == {"value": VALUE}
    assert vault.newest("secret_read", before)["sourceIp"] == "10.1.2.3"

    before = vault.mark()
    assert vault.read("10.1.2.3, 203.0.113.7").status_code == 403  # read right to left
    assert vault.newest("auth_failure", before)["sourceIp"] == "203.0.113.7"
    before = vault.mark()
    assert vault.read().status_code == 403  # no header: the proxy itself is calling
    assert vault.newest("auth_failure", before)["sourceIp"] == "127.0.0.1"


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_an_asgi_server_that_rewrites_the_address_is_refused(vault: Vault) -> None:
    """`uvicorn --factory` keeps its proxy-headers default (trust 127.0.0.1): the peer
    keyledger sees is already the forged one, so the request is refused outright."""
    port = free_port()
    env = {**vault.live.env, "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "interfaces.http.asgi:app"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://localhost:{port}"
    try:
        wait_until_up(base, server)
        refused = vault.read("10.1.2.3", base)
        assert refused.status_code == 400, refused.text
        assert set(refused.json()) == {"error"} and VALUE not in refused.text
        assert "proxy headers" in refused.json()["error"]
        assert vault.read(None, base).status_code == 403  # its own address: not allowed
    finally:
        server.terminate()
        server.wait(10)


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "uvicorn exited"
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("uvicorn did not come up in 30 s")
