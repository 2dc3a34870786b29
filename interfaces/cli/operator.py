"""Operator commands: init, login, logout, whoami, status, seal, unseal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infrastructure.settings import Settings
from interfaces.cli.client import Api, forget_session, load_session, save_session
from interfaces.cli.options import DataDir, Json, Server, read_stdin_value
from interfaces.cli.output import emit_json, fail, say, usage, when

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
        if load_session() is None:
            say("Not logged in.")
            return
        Api(server).post("/v1/admin/logout")
        forget_session()
        say("Logged out.")

    @app.command()
    def whoami(server: Server = None, json_out: Json = False) -> None:
        """Show the operator this session belongs to."""
        result = Api(server).get("/v1/admin/whoami")
        if json_out:
            emit_json(result)
        else:
            say(f"{result['email']} ({result['userId']}) on vault {result['vaultId']}")

    @app.command()
    def status(server: Server = None, json_out: Json = False) -> None:
        """Is the server up, initialised, sealed? (No login needed.)"""
        result = Api(server, authenticated=False).get("/v1/admin/status")
        if json_out:
            emit_json(result)
        else:
            state = "SEALED" if result["sealed"] else "unsealed"
            vault = result["vaultId"] or "not initialised"
            say(f"{vault}: {state}, {result['mode']} mode")

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
        """Give a sealed server its key ring."""
        try:
            key = key_file.read_text()
        except OSError as exc:
            usage(f"Cannot read {key_file}: {exc.strerror}")
        Api(server, authenticated=False).post("/v1/admin/unseal", {"key": key})
        say("Server unsealed.")
