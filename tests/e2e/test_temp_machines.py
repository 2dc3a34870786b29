"""Temporary machines and the operator/host CLI for enrollment, on a live server:
the temp-bootstrap script runs under `sh`, approval is still required, guardrails
hold on every signed request, and extensions keep their history (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import AccessDeniedError

from tests.e2e.conftest import ROOT, LiveServer
from tests.e2e.machine_helpers import Operator

CLI = [sys.executable, "-m", "interfaces.cli.main"]


def temp_host(live: LiveServer, home: Path, *options: str) -> tuple[str, Path]:
    """`machine temp-token` then `curl … | sh` on a fresh host home: (machine id, identity)."""
    made = live.ok("machine", "temp-token", "--name", "build-box", *options, "--json").json()
    assert made["command"].startswith("curl -sSL ") and made["command"].endswith(" | sh")
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "KEYLEDGER_MACHINE_NAME"}
    done = subprocess.run(
        ["sh", "-c", made["command"]],
        cwd=home,
        env={**env, "KEYLEDGER_HOME": str(home)},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    (identity,) = home.glob("vaults/vault_*/identity.json")
    return json.loads(identity.read_text())["machineId"], identity


def granted(op: Operator, machine_id: str, project: str, secret: str) -> None:
    op.approve(machine_id)
    op.add_to_project(machine_id, project)
    op.grant(machine_id, secret)


def test_temp_machine_guardrails_and_extensions(live: LiveServer, tmp_path: Path) -> None:
    op = Operator(live)
    project = op.project("ops")
    secret = op.secret(project, "TOKEN", "t3mp-value")
    machine_id, identity = temp_host(live, tmp_path / "a", "--lifetime", "7d")
    shown = op.get(f"/v1/admin/machines/{machine_id}")
    assert shown["status"] == "pending" and shown["kind"] == "temporary"
    assert shown["name"] == "build-box"
    granted(op, machine_id, project, secret)
    assert SikkerKey(str(identity)).get_secret(secret) == "t3mp-value"

    # Extend (≤ 12 months from now), revert, and refuse anything past the cap.
    first = shown["expiresAt"]
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    out = live.ok(
        "machine", "extend", machine_id, "--until", until, "--reason", "migration", "--json"
    )
    assert out.json()["expiresAt"] > first
    assert out.json()["extensions"][0]["reason"] == "migration"
    too_far = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
    assert live.cli("machine", "extend", machine_id, "--until", too_far, "--reason", "x").code != 0
    back = live.ok("machine", "extend-revert", machine_id, "--json").json()
    assert back["expiresAt"] == first and back["extensions"][0]["reverted"] is True
    assert live.cli("machine", "extend-revert", machine_id).code != 0  # nothing left to revert
    actions = {e["action"] for e in op.audit()}
    assert {"temp_token_create", "temp_machine_create", "machine_extend"} <= actions
    assert "machine_extend_revert" in actions

    # Guardrails: a CIDR this host is outside, and hours that exclude now.
    fenced, fenced_identity = temp_host(
        live, tmp_path / "b", "--lifetime", "1h", "--ip", "10.0.0.0/8"
    )
    granted(op, fenced, project, secret)
    with pytest.raises(AccessDeniedError):
        SikkerKey(str(fenced_identity)).get_secret(secret)
    later = datetime.now(UTC) + timedelta(hours=2)
    hours = f"{later:%H}:00-{(later + timedelta(hours=1)):%H}:00"
    night, night_identity = temp_host(
        live, tmp_path / "c", "--lifetime", "1h", "--hours", hours, "--tz", "UTC"
    )
    granted(op, night, project, secret)
    with pytest.raises(AccessDeniedError):
        SikkerKey(str(night_identity)).get_secret(secret)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_temp_token_input_is_checked(live: LiveServer) -> None:
    Operator(live)
    for bad in (
        ("--lifetime", "30m"),
        ("--lifetime", "400d"),
        ("--lifetime", "1h", "--ip", "nope"),
        ("--lifetime", "1h", "--hours", "25:00-26:00"),
        ("--lifetime", "1h", "--hours", "08:00-18:00", "--tz", "Mars/Base"),
    ):
        refused = live.cli("machine", "temp-token", "--name", "x", *bad)
        assert refused.code != 0 and refused.stderr, bad
    assert live.cli("machine", "temp-token", "--name", "x", "--lifetime", "2h").code == 0


def test_enrollment_cli_and_connect(live: LiveServer, tmp_path: Path) -> None:
    op = Operator(live)
    project = op.project("ci")
    secret = op.secret(project, "NPM_TOKEN", "npm-value")
    created = live.ok(
        "enrollment", "create", "--name", "ci", "--project", project, "--secret", secret,
        "--token-lifetime", "30d", "--machine-lifetime", "1h", "--max-uses", "5",
        "--name-pattern", "ci-{n}", "--json",
    ).json()  # fmt: skip
    assert live.ok("enrollment", "list", "--json").json()[0]["id"] == created["id"]
    assert "token" not in live.ok("enrollment", "show", created["id"], "--json").json()
    github = live.ok("enrollment", "snippet", created["id"], "--github").stdout
    assert "secrets.KEYLEDGER_ENROLLMENT_TOKEN" in github and created["token"] not in github
    assert created["vaultId"] in github and secret in github
    assert (
        "KEYLEDGER_ENROLLMENT_TOKEN"
        in live.ok("enrollment", "snippet", created["id"], "--gitlab").stdout
    )
    host_env = {k: v for k, v in live.env.items() if k != "KEYLEDGER_DATA_DIR"}
    host_env["KEYLEDGER_HOME"] = str(tmp_path / "runner")
    run = [*CLI, "connect", "--enrollment-token", created["token"], "--vault",
           created["vaultId"], "--server", live.url, "--json"]  # fmt: skip
    done = subprocess.run(run, env=host_env, capture_output=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["machineName"] == "ci-1"
    read = subprocess.run([*CLI, "get", secret], env=host_env, capture_output=True, cwd=ROOT)
    assert read.stdout.decode() == "npm-value", read.stderr.decode()
    revoked = live.ok("enrollment", "revoke", created["id"], "--json").json()
    assert revoked["status"] == "revoked"
    again = subprocess.run(run, env=host_env, capture_output=True, timeout=60, cwd=ROOT)
    assert again.returncode != 0 and b"HTTP 401" in again.stderr
