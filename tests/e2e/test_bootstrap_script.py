"""`GET /v1/bootstrap/<token>` serves a shell script: nothing a caller or the
operator chooses (Host header, token, machine name) may become code in it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Operator

# Litestar already refuses spaces, quotes and backticks in Host; these pass it.
HOSTILE_HOSTS = [
    "x';touch$IFS'MARK';'",
    "x';(touch$IFS'MARK');'",
    "$(touch$IFS'MARK')",
    "x;touch$IFS'MARK'",
    "x'",
    'x"; touch MARK; "',
    "x`touch MARK`",
]


def run_sh(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run served script text with this host's tools, in `cwd`."""
    return subprocess.run(
        ["sh"],
        input=script.encode(),
        cwd=cwd,
        env={**os.environ, "HOME": str(cwd), **env},
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def op(live: LiveServer) -> Operator:
    return Operator(live)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_hostile_host_headers_get_no_script(live: LiveServer, op: Operator, tmp_path: Path) -> None:
    token = op.token()
    for host in HOSTILE_HOSTS:
        answer = httpx.get(f"{live.url}/v1/bootstrap/{token}", headers={"Host": host})
        if answer.status_code == 200:  # a script came back: its payload must stay inert
            run_sh(answer.text, tmp_path, KEYLEDGER_HOME=str(tmp_path / "k"))
            assert not (tmp_path / "MARK").exists(), (host, answer.text[:300])
        assert answer.status_code == 400, (host, answer.text[:300])
        assert set(answer.json()) == {"error"}
    # A newline cannot even be sent through httpx: write the request by hand.
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as conn:
        conn.sendall(f"GET /v1/bootstrap/{token} HTTP/1.1\r\nHost: x\n;touch MARK\r\n\r\n".encode())
        reply = conn.recv(65536)
    assert b"touch MARK" not in reply and b"#!/bin/sh" not in reply
    # The token was never spent: the real script still registers with it.
    assert register_with_sh(live, token, tmp_path / "host").returncode == 0


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_hostile_tokens_get_no_script(live: LiveServer) -> None:
    for token in ["%27%3Btouch%20MARK%3B%27", "$(id)", "A" * 48, "0" * 47 + ";", "0" * 49]:
        answer = httpx.get(f"{live.url}/v1/bootstrap/{token}")
        assert answer.status_code == 404, (token, answer.text[:300])
        assert set(answer.json()) == {"error"}


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_public_url_wins_over_the_host_header(live: LiveServer, tmp_path: Path) -> None:
    live.stop()
    live.env["KEYLEDGER_PUBLIC_URL"] = "https://keys.example.com:8443"
    live.start()
    token = Operator(live).token()
    answer = httpx.get(f"{live.url}/v1/bootstrap/{token}", headers={"Host": HOSTILE_HOSTS[0]})
    assert answer.status_code == 200
    assert "\nAPI_URL=https://keys.example.com:8443\n" in answer.text
    assert "MARK" not in answer.text
    check = subprocess.run(["sh", "-n"], input=answer.content, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_hostile_machine_name_reaches_identity_json_intact(
    live: LiveServer, op: Operator, tmp_path: Path
) -> None:
    """The operator names the machine with the token; the script writes that name into
    identity.json: it must arrive whole, as data, and leave valid JSON."""
    name = "we\"ird\\ $(touch MARK) `touch MARK` ';touch MARK;' ünï"
    token = op.post("/v1/admin/machines/token", {"name": name}, expect=201)["token"]
    home = tmp_path / "host"
    done = register_with_sh(live, token, home)
    assert done.returncode == 0, done.stderr.decode()
    (identity,) = home.glob("vaults/vault_*/identity.json")
    assert json.loads(identity.read_text())["machineName"] == name
    assert not list(tmp_path.rglob("MARK")) and not (Path.cwd() / "MARK").exists()


def register_with_sh(
    live: LiveServer, token: str, home: Path
) -> subprocess.CompletedProcess[bytes]:
    """`curl … | sh`, exactly as the README says, with no machine name of its own."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "KEYLEDGER_MACHINE_NAME"}
    return subprocess.run(
        ["sh", "-c", f"curl -sSL {live.url}/v1/bootstrap/{token} | sh"],
        cwd=home,
        env={**env, "KEYLEDGER_HOME": str(home)},
        capture_output=True,
        timeout=60,
    )
