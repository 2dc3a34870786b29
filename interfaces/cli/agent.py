"""`keyledger agent …`: run the sync agent for a managed secret on the database's host.

The agent applies pending password rotations to the database, verifies them with a
fresh login and confirms or rejects them (see application/agent.py). Drills: env
KEYLEDGER_AGENT_APPLY_DELAY_MS pauses that long between apply and verify, so a test
can kill the agent mid-apply and watch the next start resume.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from application.agent import AgentOptions, SyncAgent, SyncError
from application.ports import DatabaseProvider, ProviderError
from domain.errors import InvalidInput
from domain.managed import DEFAULT_PORTS, Connection, ProviderType
from interfaces.cli import agentfiles as files
from interfaces.cli import agentservice as service
from interfaces.cli.agentserver import MachineSyncServer
from interfaces.cli.identity import machine_client
from interfaces.cli.options import IdentityOpt, Json, VaultOpt, read_stdin_value
from interfaces.cli.output import emit_json, emit_value, fail, say, table, usage
from interfaces.cli.wire import check_id

app = typer.Typer(
    help="The sync agent: applies managed secrets' password rotations to their database.",
    no_args_is_help=True,
)
SecretOpt = Annotated[str, typer.Option("--secret", help="The managed secret (sk_…).")]
APPLY_DELAY_ENV = "KEYLEDGER_AGENT_APPLY_DELAY_MS"


def _providers() -> Callable[[Connection], DatabaseProvider]:
    try:
        from infrastructure.providers import provider_for
    except ImportError as exc:
        fail(f"The database providers are not available: {exc}")
    factory: Callable[[Connection], DatabaseProvider] = provider_for
    return factory


def _local(secret_id: str) -> files.LocalConfig | None:
    try:
        return files.load_local(secret_id)
    except (InvalidInput, TypeError, ValueError) as exc:
        fail(f"The local agent config {files.config_path(secret_id)} is unusable: {exc}")


def _log(message: str) -> None:
    """One line per step on stderr, unwrapped, so people and tests can follow along."""
    print(message, file=sys.stderr, flush=True)


@app.command()
def configure(
    secret: SecretOpt,
    provider: Annotated[ProviderType, typer.Option("--provider", help="The database kind.")],
    host: Annotated[str, typer.Option("--host", help="Database host, as seen from here.")],
    admin_user: Annotated[str, typer.Option("--admin-user", help="A user that manages roles.")],
    port: Annotated[int | None, typer.Option("--port", help="Default: the provider's.")] = None,
    database: Annotated[str, typer.Option("--database", help="Database name.")] = "",
    admin_pass_stdin: Annotated[
        bool, typer.Option("--admin-pass-stdin", help="Read the admin password from stdin.")
    ] = False,
    admin_pass: Annotated[
        str | None,
        typer.Option("--admin-pass", help="Admin password (visible in ps: prefer stdin)."),
    ] = None,
    username_field: Annotated[str, typer.Option("--username-field")] = "username",
    password_field: Annotated[str, typer.Option("--password-field")] = "password",  # noqa: S107
    poll_interval: Annotated[
        int, typer.Option("--poll-interval", min=5, help="Seconds between polls without push.")
    ] = 10,
    user_host: Annotated[str, typer.Option("--user-host", help="MySQL: the user's host.")] = "%",
    auth_database: Annotated[
        str, typer.Option("--auth-database", help="MongoDB: the authentication database.")
    ] = "admin",
    redis_mode: Annotated[
        str, typer.Option("--redis-mode", help="Redis: acl (6+) or requirepass.")
    ] = "acl",
    redis_acl_rules: Annotated[
        str | None,
        typer.Option("--redis-acl-rules", help="Redis: the new user's ACL rules (aclRules)."),
    ] = None,
) -> None:
    """Store this host's connection to the database (it wins over the server's config).

    Written to $KEYLEDGER_HOME/agents/<secret>.json with mode 0600: it holds the
    admin password.
    """
    check_id(secret)
    if admin_pass_stdin == (admin_pass is not None):
        usage("Give the admin password with --admin-pass-stdin (preferred) or --admin-pass")
    if admin_pass is not None:
        say("Warning: --admin-pass is visible to other users in ps; prefer --admin-pass-stdin.")
    password = read_stdin_value() if admin_pass_stdin else str(admin_pass)
    if redis_mode not in ("acl", "requirepass"):
        usage("--redis-mode is acl or requirepass")
    options = {
        ProviderType.MYSQL: {"userHost": user_host},
        ProviderType.MONGODB: {"authDatabase": auth_database},
        ProviderType.REDIS: {"mode": redis_mode},
    }.get(provider, {})
    if redis_acl_rules is not None:
        options["aclRules"] = redis_acl_rules
    try:
        connection = Connection(
            provider, host, port or DEFAULT_PORTS[provider], database, admin_user, password, options
        )
    except InvalidInput as exc:
        usage(escape(str(exc)))
    record = {
        "secretId": secret,
        "providerType": provider.value,
        "connection": connection.to_wire(),
        "pollIntervalSeconds": poll_interval,
        "usernameField": username_field,
        "passwordField": password_field,
    }
    path = files.config_path(secret)
    try:
        files.write_private_json(path, record)
    except OSError as exc:
        fail(f"Cannot write {path}: {exc.strerror}")
    say(f"Agent for {secret} configured in {path} ({connection!r}).")


@app.command("test")
def test_(
    secret: SecretOpt, identity: IdentityOpt = None, vault: VaultOpt = None, json_out: Json = False
) -> None:
    """Check the admin credentials reach the database and may manage users."""
    check_id(secret)
    local = _local(secret)
    source = "local"
    if local is not None and local.options.connection is not None:
        connection = local.options.connection
    else:
        source = "server"
        server = MachineSyncServer(machine_client(identity, vault), secret)
        try:
            config = server.sync_config()
            kind = ProviderType(str(config.get("providerType")))
            connection = Connection.from_wire(kind, dict(config.get("connection") or {}))
        except SyncError as exc:
            fail(escape(f"Cannot fetch the sync config: {exc}"))
        except (InvalidInput, ValueError, TypeError) as exc:
            fail(escape(f"The server's sync config is unusable: {exc}"))
    error = ""
    try:
        _providers()(connection).test_admin()
    except ProviderError as exc:
        error = str(exc)
    if json_out:
        emit_json({"secretId": secret, "ok": not error, "source": source, "error": error})
    elif not error:
        say(f"OK: {connection!r} ({source} config) accepts the admin credentials.")
    if error:
        if json_out:
            raise typer.Exit(1)
        fail(escape(f"Database admin test failed for {connection!r}: {error}"))


@app.command()
def start(secret: SecretOpt, identity: IdentityOpt = None, vault: VaultOpt = None) -> None:
    """Run the agent in the foreground until SIGTERM/Ctrl-C (exit 0).

    Exits 0 when stopped, when the secret is deleted, access is revoked or this
    machine is not (or no longer) the secret's agent (`keyledger secret set-agent`),
    and 1 when it cannot work (database admin test failed).
    Drills: env KEYLEDGER_AGENT_APPLY_DELAY_MS pauses between apply and verify.
    """
    check_id(secret)
    other = files.running_pid(secret)
    if other is not None and other != os.getpid():
        fail(f"An agent for {secret} already runs here (pid {other})")
    local = _local(secret)
    options = local.options if local is not None else AgentOptions()
    try:
        delay = int(os.environ.get(APPLY_DELAY_ENV) or 0)
    except ValueError:
        usage(f"{APPLY_DELAY_ENV} must be a number of milliseconds")
    options = AgentOptions(**{**options.__dict__, "apply_delay_ms": max(0, delay)})
    fields = (options.username_field, options.password_field)
    server = MachineSyncServer(machine_client(identity, vault, retries=1), secret, fields)
    journal = files.FileJournal(files.journal_path(secret))
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent = SyncAgent(server, _providers(), journal, stop, _log, options)
    files.write_pid(secret)
    _log(f"agent: starting for {secret} (pid {os.getpid()})")
    try:
        code = agent.run()
    finally:
        files.remove_pid(secret)
    raise typer.Exit(code)


@app.command()
def install(
    secret: SecretOpt,
    now: Annotated[
        bool, typer.Option("--now", help="Write, enable and start the service.")
    ] = False,
    unit_dir: Annotated[
        Path | None, typer.Option("--unit-dir", help="Write the unit here instead.")
    ] = None,
    user: Annotated[
        str, typer.Option("--user", help="systemd: the dedicated user it runs as (not root).")
    ] = service.SERVICE_USER,
) -> None:
    """Install the agent as a service (systemd on Linux, launchd on macOS).

    Without --now: print the unit and how to install it. It restarts on failure
    after 10 s; a clean exit (secret deleted, access revoked) stays stopped. The user
    must exist and own $KEYLEDGER_HOME (`useradd --system keyledger`, `chown -R`).
    """
    check_id(secret)
    try:
        target, text, commands = service.plan(secret, unit_dir, user)
    except ValueError as exc:
        usage(escape(str(exc)))
    if not now:
        emit_value(text)
        say(f"\nTo install: save the above as {target}, then run:")
        for command in commands:
            say("  " + " ".join(command))
        say(f"Or run: keyledger agent install --secret {secret} --now")
        return
    try:
        service.install(target, text, commands, say)
    except service.InstallError as exc:
        fail(escape(str(exc)))
    say(f"Agent service for {secret} installed and started.")


@app.command("list")
def list_(json_out: Json = False) -> None:
    """The agents configured or running on this host."""
    rows = files.agent_rows()
    if json_out:
        emit_json(rows)
        return
    table(
        "Agents",
        ["secret", "provider", "host", "state", "pid"],
        [
            (
                r["secretId"],
                r["providerType"] or "(server config)",
                f"{r['host']}:{r['port']}" if r["host"] else "-",
                "running" if r["running"] else "stopped",
                r["pid"],
            )
            for r in rows
        ],
    )


@app.command()
def stop(secret: SecretOpt) -> None:
    """Stop this host's running agent for a secret (SIGTERM, up to 10 s)."""
    check_id(secret)
    pid = files.running_pid(secret)
    if pid is None:
        fail(f"No agent for {secret} is running here")
    if not files.terminate(pid):
        fail(f"The agent for {secret} (pid {pid}) did not stop within 10 s")
    files.pid_path(secret).unlink(missing_ok=True)
    say(f"Stopped the agent for {secret} (pid {pid}).")


@app.command()
def remove(secret: SecretOpt) -> None:
    """Stop the agent if it runs and delete its config, journal and pid file."""
    check_id(secret)
    pid = files.running_pid(secret)
    if pid is not None and not files.terminate(pid):
        fail(f"The agent for {secret} (pid {pid}) did not stop within 10 s")
    paths = [files.config_path(secret), files.journal_path(secret), files.pid_path(secret)]
    existed = [p for p in paths if p.exists()]
    if not existed and pid is None:
        fail(f"No agent for {secret} is configured here")
    for path in existed:
        path.unlink(missing_ok=True)
    say(f"Removed the agent for {secret}" + (f" (stopped pid {pid})." if pid else "."))
