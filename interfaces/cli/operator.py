"""Operator commands: init, login, logout, whoami, status, seal, unseal.

`whoami` and `status` also report this host's machine identity, if it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import click
import typer

from infrastructure.settings import Settings
from interfaces.cli.client import Api, forget_session, load_session, save_session
from interfaces.cli.identity import IdentityError, find_identity_path, load_identity
from interfaces.cli.options import DataDir, IdentityOpt, Json, Server, VaultOpt, read_stdin_value
from interfaces.cli.output import EXIT_ERROR, emit_json, fail, say, stderr, usage, when
from interfaces.cli.wire import describe_machine, machine_report

T = TypeVar("T")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _password(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        lines = read_stdin_value().splitlines()
        password = lines[0] if lines else ""
        if not password:
            usage("--password-stdin given but standard input was empty")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


def tell(message: str) -> None:
    stderr.print(message, markup=False, highlight=False, soft_wrap=True)


def _or_none(call: Callable[[], T], *errors: type[BaseException]) -> T | None:
    """The call's result, or None when it failed (its error already on stderr)."""
    caught: tuple[type[BaseException], ...] = (click.exceptions.Exit, *errors)
    try:
        return call()
    except caught:
        return None


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        email: Annotated[str, typer.Option("--email", help="The owner's email address.")],
        password_stdin: PasswordStdin = False,
        setup_code: Annotated[
            str | None,
            typer.Option(
                "--setup-code", help="The one-time code (default: read it from the data dir)."
            ),
        ] = None,
        data_dir: DataDir = None,
        server: Server = None,
        json_out: Json = False,
    ) -> None:
        """Initialise the vault and its owner with the one-time setup code."""
        if setup_code is None:
            path = Settings.from_env(data_dir=data_dir).data_dir / "setup-code"
            try:
                setup_code = path.read_text().strip()
            except FileNotFoundError:
                fail(
                    f"No setup code at {path}: the vault may already be initialised, or pass "
                    "--setup-code / --data-dir"
                )
        password = _password(password_stdin, confirm=True)
        api = Api(server, authenticated=False)
        result = api.post(
            "/v1/admin/init", {"setupCode": setup_code, "email": email, "password": password}
        )
        if json_out:
            emit_json(result)
        else:
            say(f"Vault {result['vaultId']} initialised; owner {result['email']}.")
            say("Next: keyledger login --email " + result["email"])

    @app.command()
    def login(
        email: Annotated[str, typer.Option("--email", help="The owner's email address.")],
        password_stdin: PasswordStdin = False,
        server: Server = None,
        json_out: Json = False,
    ) -> None:
        """Open a server-side session; stored 0600 in $KEYLEDGER_HOME/session.json."""
        password = _password(password_stdin, confirm=False)
        api = Api(server, authenticated=False)
        result = api.post("/v1/admin/login", {"email": email, "password": password})
        path = save_session(api.server, result)
        if json_out:
            emit_json({"sessionId": result["sessionId"], "expiresAt": result["expiresAt"]})
        else:
            say(f"Logged in to {api.server} until {when(result['expiresAt'])} UTC ({path}).")

    @app.command()
    def logout(server: Server = None) -> None:
        """Revoke the session on the server and forget it locally."""
        session = load_session()
        if session is None:
            say("Not logged in.")
            return
        if not session.get("server"):  # from before sessions named their server: unusable
            forget_session()
            say("Forgot a stored session that named no server.")
            return
        Api(server).post("/v1/admin/logout")
        forget_session()
        say("Logged out.")

    @app.command()
    def whoami(
        server: Server = None,
        identity: IdentityOpt = None,
        vault: VaultOpt = None,
        json_out: Json = False,
    ) -> None:
        """Show who you are here: the logged-in operator and/or this machine's identity."""
        machine = machine_report(identity, vault, count=False)
        operator = None
        if load_session() is not None:
            operator = _or_none(lambda: Api(server).get("/v1/admin/whoami"))
        if json_out:
            emit_json({"operator": operator, "machine": machine})
        else:
            if operator is not None:
                who = f"{operator['email']} ({operator['userId']})"
                tell(f"operator {who} on vault {operator['vaultId']}")
            if machine is not None:
                tell(describe_machine(machine))
        if operator is None and (machine is None or not machine["ok"]):
            if machine is None and load_session() is None:
                say("Not logged in (keyledger login) and no machine identity (keyledger connect).")
            raise typer.Exit(EXIT_ERROR)

    @app.command()
    def status(
        server: Server = None,
        identity: IdentityOpt = None,
        vault: VaultOpt = None,
        json_out: Json = False,
    ) -> None:
        """Is the server up, initialised, sealed? Does this machine's identity work?"""
        path = find_identity_path(identity, vault)
        url = server or (load_session() or {}).get("server")
        if url is None and path is not None:
            url = _or_none(lambda: load_identity(path).api_url, IdentityError)
        api = Api(url, authenticated=False)
        result = _or_none(lambda: api.get("/v1/admin/status"))
        server_part = None if result is None else {"url": api.server, **result}
        machine = machine_report(path, None, count=True) if path is not None else None
        if json_out:
            emit_json({"server": server_part, "machine": machine})
        else:
            if result is not None:
                state = "SEALED" if result["sealed"] else "unsealed"
                vault_id = result["vaultId"] or "not initialised"
                say(f"server {api.server}: {vault_id}, {state}, {result['mode']} mode")
            if machine is not None:
                tell(describe_machine(machine))
        if server_part is None or (machine is not None and not machine["ok"]):
            raise typer.Exit(EXIT_ERROR)

    @app.command()
    def seal(server: Server = None) -> None:
        """Drop the server key from memory: key-needing requests answer 503."""
        Api(server).post("/v1/admin/seal")
        say("Server sealed. Unseal with: keyledger unseal --key-file FILE")

    @app.command()
    def unseal(
        key_file: Annotated[
            Path, typer.Option("--key-file", help="The server key file (base64, one key a line).")
        ],
        server: Server = None,
    ) -> None:
        """Give a sealed server its key ring (the very first key needs `keyledger login`)."""
        try:
            key = key_file.read_text()
        except OSError as exc:
            usage(f"Cannot read {key_file}: {exc.strerror}")
        api = Api(server, authenticated=False)
        session = load_session() or {}
        # The owner's session proves the right to set a fresh server's first key; it
        # goes only to the server that issued it.
        if session.get("token") and session.get("server") == api.server:
            api.headers["Authorization"] = f"Bearer {session['token']}"
        api.post("/v1/admin/unseal", {"key": key})
        say("Server unsealed.")
