"""`keyledger agent …` on this host: local files, service units, the process itself."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from interfaces.cli import agentservice, identity
from interfaces.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk_abc123"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KEYLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KEYLEDGER_IDENTITY", raising=False)
    return tmp_path / "home"


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["agent", *args], input=input)


def configure(*extra: str):
    return cli(
        "configure",
        "--secret",
        SECRET,
        "--provider",
        "mysql",
        "--host",
        "127.0.0.1",
        "--admin-user",
        "root",
        "--admin-pass-stdin",
        *extra,
        input="s3cret-admin\n",
    )


def test_configure_writes_a_private_config(home: Path) -> None:
    result = configure("--database", "app", "--user-host", "localhost")
    assert result.exit_code == 0, result.output
    path = home / "agents" / f"{SECRET}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data == {
        "secretId": SECRET,
        "providerType": "mysql",
        "connection": {
            "host": "127.0.0.1",
            "port": 3306,
            "database": "app",
            "adminUser": "root",
            "adminPass": "s3cret-admin",
            "options": {"userHost": "localhost"},
        },
        "pollIntervalSeconds": 10,
        "usernameField": "username",
        "passwordField": "password",
    }
    assert "s3cret-admin" not in result.output


def test_configure_needs_exactly_one_admin_password(home: Path) -> None:
    base = ["configure", "--secret", SECRET, "--provider", "redis", "--host", "h"]
    assert cli(*base, "--admin-user", "default").exit_code == 2
    visible = cli(*base, "--admin-user", "default", "--admin-pass", "pw")
    assert visible.exit_code == 0 and "visible" in visible.output


def test_configure_takes_redis_acl_rules_and_refuses_bad_ones(home: Path) -> None:
    base = ["configure", "--secret", SECRET, "--provider", "redis", "--host", "h"]
    base += ["--admin-user", "admin", "--admin-pass", "pw"]
    bad = cli(*base, "--redis-acl-rules", "+@all >hunter2")
    assert bad.exit_code == 2 and "aclRules" in bad.output and "hunter2" not in bad.output
    assert cli(*base, "--redis-acl-rules", "+get ~app:*").exit_code == 0
    data = json.loads((home / "agents" / f"{SECRET}.json").read_text())
    assert data["connection"]["options"] == {"mode": "acl", "aclRules": "+get ~app:*"}


def test_list_and_remove(home: Path) -> None:
    assert configure().exit_code == 0
    listed = cli("list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["secretId"], r["running"], r["providerType"]) for r in rows] == [
        (SECRET, False, "mysql")
    ]
    assert cli("stop", "--secret", SECRET).exit_code == 1  # not running
    assert cli("remove", "--secret", SECRET).exit_code == 0
    assert not (home / "agents" / f"{SECRET}.json").exists()
    assert json.loads(cli("list", "--json").stdout) == []
    assert cli("remove", "--secret", SECRET).exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["start", "--secret", "sk/../x"],
        ["test", "--secret", "bad id"],
        ["stop", "--secret", "a?b"],
        ["remove", "--secret", "%2e"],
        ["install", "--secret", "x/y"],
        [
            "configure",
            "--secret",
            "../x",
            "--provider",
            "redis",
            "--host",
            "h",
            "--admin-user",
            "u",
            "--admin-pass",
            "p",
        ],
    ],
)
def test_bad_ids_are_usage_errors(home: Path, args: list[str]) -> None:
    assert cli(*args).exit_code == 2


def test_install_prints_a_systemd_unit(home: Path, monkeypatch) -> None:
    monkeypatch.setattr(agentservice.sys, "platform", "linux")
    monkeypatch.setenv("KEYLEDGER_IDENTITY", "/etc/keyledger/identity.json")
    result = cli("install", "--secret", SECRET)
    assert result.exit_code == 0, result.output
    unit = result.stdout
    assert "Restart=on-failure\n" in unit and "RestartSec=10\n" in unit
    assert "After=network-online.target" in unit
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith(f" agent start --secret {SECRET}")
    assert Path(exec_start.removeprefix("ExecStart=").split()[0]).is_absolute()
    assert f"Environment=KEYLEDGER_HOME={home.absolute()}" in unit
    assert "Environment=KEYLEDGER_IDENTITY=/etc/keyledger/identity.json" in unit
    assert f"/etc/systemd/system/keyledger-agent-{SECRET}.service" in result.output


def test_the_unit_runs_as_a_dedicated_user(home: Path, monkeypatch) -> None:
    monkeypatch.setattr(agentservice.sys, "platform", "linux")
    lines = agentservice.systemd_unit(SECRET).splitlines()
    service = lines[lines.index("[Service]") : lines.index("[Install]")]
    assert "User=keyledger" in service and "Group=keyledger" in service
    assert "StateDirectory=keyledger" in service and "ConfigurationDirectory=keyledger" in service
    assert f"ReadWritePaths=-{home.absolute()}" in service
    assert "ProtectSystem=strict" in service and "NoNewPrivileges=yes" in service
    assert not any(line.startswith("User=root") for line in lines)
    printed = cli("install", "--secret", SECRET, "--user", "kl-agent")
    assert printed.exit_code == 0 and "User=kl-agent\n" in printed.stdout
    assert cli("install", "--secret", SECRET, "--user", "root").exit_code == 2
    assert cli("install", "--secret", SECRET, "--user", "x;rm").exit_code == 2


def test_install_now_writes_and_enables(home: Path, tmp_path: Path, monkeypatch) -> None:
    bin_dir, units = tmp_path / "bin", tmp_path / "units"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = cli("install", "--secret", SECRET, "--now", "--unit-dir", str(units))
    assert result.exit_code == 0, result.output
    unit = (units / f"keyledger-agent-{SECRET}.service").read_text()
    assert "Restart=on-failure" in unit
    assert calls.read_text().splitlines() == [
        "daemon-reload",
        f"enable --now keyledger-agent-{SECRET}.service",
    ]


def test_install_now_without_systemctl_keeps_the_file(home: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("interfaces.cli.agentservice.shutil.which", lambda _name: None)
    result = cli("install", "--secret", SECRET, "--now", "--unit-dir", str(tmp_path / "u"))
    assert result.exit_code == 1 and "not available" in result.output
    assert (tmp_path / "u" / f"keyledger-agent-{SECRET}.service").exists()


def test_launchd_plist_restarts_on_failure(home: Path) -> None:
    import plistlib

    plist = plistlib.loads(agentservice.launchd_plist(SECRET).encode())
    assert plist["Label"] == f"com.keyledger.agent.{SECRET}"
    assert plist["KeepAlive"] == {"SuccessfulExit": False} and plist["ThrottleInterval"] == 10
    assert plist["ProgramArguments"][-4:] == ["agent", "start", "--secret", SECRET]


# -- the process -------------------------------------------------------------


def _spawn_agent(home: Path) -> subprocess.Popen[bytes]:
    """An agent whose server is unreachable: it keeps retrying until told to stop."""
    identity.write_identity(
        Ed25519PrivateKey.generate(), "m-1", "box", "vault_test", "http://127.0.0.1:9"
    )
    env = {**os.environ, "KEYLEDGER_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", "agent", "start", "--secret", SECRET],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    pid_file = home / "agents" / f"{SECRET}.pid"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not pid_file.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    assert int(pid_file.read_text()) == proc.pid
    return proc


def test_start_runs_until_sigterm_and_cleans_up(home: Path) -> None:
    proc = _spawn_agent(home)
    time.sleep(0.5)
    listed = json.loads(cli("list", "--json").stdout)
    assert listed[0]["running"] and listed[0]["pid"] == proc.pid
    second = cli("start", "--secret", SECRET)
    assert second.exit_code == 1 and "already runs" in second.output
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert "agent: starting" in stderr and "retrying" in stderr
    assert not (home / "agents" / f"{SECRET}.pid").exists()


def test_stop_terminates_a_running_agent(home: Path) -> None:
    proc = _spawn_agent(home)
    result = cli("stop", "--secret", SECRET)
    assert result.exit_code == 0, result.output
    proc.wait(5)
    assert not (home / "agents" / f"{SECRET}.pid").exists()
