"""Service definitions that keep an agent running: a systemd unit or a launchd plist.

Restart only on failure, 10 s apart: a clean exit (stopped, secret deleted, access
revoked) must not bring back a zombie agent. The systemd unit runs as a dedicated
user, never root: the agent holds a machine key and database admin credentials, and a
compromised agent should reach no more than its own state and config directories.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from interfaces.cli.plain import keyledger_home

SYSTEMD_DIR = Path("/etc/systemd/system")
SERVICE_USER = "keyledger"
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def service_user(name: str) -> str:
    """A system user name the unit may run as; root is refused (ValueError says why)."""
    if not _USER_NAME.fullmatch(name):
        raise ValueError(f"Not a user name: {name[:40]!r}")
    if name == "root":
        raise ValueError("The agent does not run as root: give a dedicated user")
    return name


def launchd_dir() -> Path:
    return Path.home() / "Library" / "LaunchAgents"


def executable() -> list[str]:
    """The absolute command of the running keyledger (the service runs the same one)."""
    argv0 = sys.argv[0]
    if Path(argv0).name.startswith("keyledger"):
        found = shutil.which(argv0) or argv0
        return [str(Path(found).absolute())]
    installed = shutil.which("keyledger")
    if installed:
        return [str(Path(installed).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "interfaces.cli.main"]


def environment() -> dict[str, str]:
    env = {"KEYLEDGER_HOME": str(keyledger_home().absolute())}
    identity = os.environ.get("KEYLEDGER_IDENTITY")
    if identity:
        env["KEYLEDGER_IDENTITY"] = str(Path(identity).expanduser().absolute())
    return env


def _quote(arg: str) -> str:
    if not any(c in arg for c in " \"\\'$%;"):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def systemd_name(secret_id: str) -> str:
    return f"keyledger-agent-{secret_id}.service"


def systemd_unit(secret_id: str, user: str = SERVICE_USER) -> str:
    """The unit: the dedicated `user`, /var/lib/keyledger and /etc/keyledger made for it,
    the rest of the file system read-only except $KEYLEDGER_HOME (its config and journal)."""
    user = service_user(user)
    command = [*executable(), "agent", "start", "--secret", secret_id]
    env = environment()
    env_lines = "".join(f"Environment={_quote(f'{k}={v}')}\n" for k, v in env.items())
    return (
        "[Unit]\n"
        f"Description=keyledger sync agent for {secret_id}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(_quote(a) for a in command)}\n"
        f"{env_lines}"
        f"User={user}\n"
        f"Group={user}\n"
        "StateDirectory=keyledger\n"
        "StateDirectoryMode=0700\n"
        "ConfigurationDirectory=keyledger\n"
        "ConfigurationDirectoryMode=0750\n"
        f"ReadWritePaths={_quote('-' + env['KEYLEDGER_HOME'])}\n"
        "ProtectSystem=strict\n"
        "PrivateTmp=yes\n"
        "NoNewPrivileges=yes\n"
        "Restart=on-failure\n"
        "RestartSec=10\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def launchd_label(secret_id: str) -> str:
    return f"com.keyledger.agent.{secret_id}"


def launchd_plist(secret_id: str) -> str:
    logs = Path.home() / "Library" / "Logs" / f"keyledger-agent-{secret_id}.log"
    plist = {
        "Label": launchd_label(secret_id),
        "ProgramArguments": [*executable(), "agent", "start", "--secret", secret_id],
        "EnvironmentVariables": environment(),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "StandardErrorPath": str(logs),
    }
    return plistlib.dumps(plist).decode()


def plan(
    secret_id: str, unit_dir: Path | None, user: str = SERVICE_USER
) -> tuple[Path, str, list[list[str]]]:
    """Where the service definition goes, its text, and the commands that start it."""
    if sys.platform == "darwin":
        name = f"{launchd_label(secret_id)}.plist"
        target = (unit_dir or launchd_dir()) / name
        return target, launchd_plist(secret_id), [["launchctl", "load", "-w", str(target)]]
    name = systemd_name(secret_id)
    commands = [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", name]]
    return (unit_dir or SYSTEMD_DIR) / name, systemd_unit(secret_id, user), commands


class InstallError(Exception):
    """The service could not be written or started (the message says which step)."""


def install(target: Path, text: str, commands: list[list[str]], say: Callable[[str], None]) -> None:
    """Write the service definition and run the commands that start it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except OSError as exc:
        raise InstallError(f"Cannot write {target}: {exc.strerror} (run with sudo?)") from None
    say(f"Wrote {target}")
    if shutil.which(commands[0][0]) is None:
        raise InstallError(
            f"{commands[0][0]} is not available here; {target} was written, start it yourself"
        )
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()[:300]
            raise InstallError(f"`{' '.join(command)}` failed: {detail}")
