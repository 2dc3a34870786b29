"""The fast path: `get`, `run`, `export`, `--version` and `--help` without Typer or Rich.

These start every container and CI job, so they parse their arguments with argparse and
call `hostcmds` directly; the Typer commands of the same names call the same functions.
`dispatch` answers None for anything else, and `main` then builds the full Typer app.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interfaces.cli.plain import VERSION

# The root `--help` (kept equal to the Typer app's command list by a test).
COMMANDS = (
    ("init", "Initialise the vault and its owner with the one-time setup code."),
    ("login", "Open a server-side session; stored 0600 in $KEYLEDGER_HOME/session.json."),
    ("logout", "Revoke the session on the server and forget it locally."),
    ("whoami", "Show who you are here: the logged-in operator and/or this machine."),
    ("status", "Is the server up, initialised, sealed? Does this machine's identity work?"),
    ("seal", "Drop the server key from memory: key-needing requests answer 503."),
    ("unseal", "Give a sealed server its key ring."),
    ("server", "Run the keyledger server (embedded SQLite by default)."),
    ("worker", "Run rotation jobs from Redis (distributed mode)."),
    ("grant", "Let a machine read a secret."),
    ("revoke-grant", "Take back a machine's permission to read a secret."),
    ("connect", "Register this machine with a bootstrap token."),
    ("get", "Print a secret's value (or one field of a structured secret)."),
    ("list", "List what this machine may read (names and ids only, never values)."),
    ("export", "Print every readable secret as environment variables."),
    ("run", "Run a command with secrets in its environment."),
    ("project", "Create, list, delete, restore and purge projects."),
    ("secret", "Store and manage secrets (values are never shown)."),
    ("canary", "Canary secrets: a granted machine's read freezes the project."),
    ("policy", "Access policies: time window, IP, rate caps, co-sign, TTL, rotate-after-N."),
    ("audit", "Read and verify the audit log."),
    ("projections", "Maintain the read models."),
    ("agent", "The sync agent: applies managed secrets' password rotations."),
    ("webhook", "Signed webhooks for audit actions."),
    ("alerts", "Email alerts for audit actions."),
    ("share", "Share links: one value, one person, seen once, then destroyed."),
    ("cache", "The offline cache: `get` answers from it when the server is unreachable."),
    ("machine", "Bootstrap, approve and manage machines (workload identities)."),
    ("docker", "Docker: pre-provisioned machine identities."),
    ("enrollment", "Enrollment tokens: CI jobs and containers enroll, approved at once."),
    ("ipallowlist", "The vault IP allowlist for machine requests."),
)


def root_help() -> str:
    width = max(len(name) for name, _ in COMMANDS)
    lines = "\n".join(f"  {name:{width}}  {text}" for name, text in COMMANDS)
    return (
        "Usage: keyledger [--version] [--help] COMMAND [ARGS]...\n\n"
        "keyledger: a self-hosted secrets manager whose event store is its audit log.\n\n"
        f"Commands:\n{lines}\n\n`keyledger COMMAND --help` describes one command.\n"
    )


class _Formatter(argparse.HelpFormatter):
    """A fixed width: the default asks `shutil` for the terminal's, and importing shutil
    (with zlib, bz2, lzma) costs every `get` more than parsing its arguments."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=100)


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"keyledger {name}", description=description, formatter_class=_Formatter
    )
    parser.add_argument("--identity", type=Path, help="Path to identity.json.")
    parser.add_argument("--vault", help="vault_… whose identity to use.")
    return parser


def _get(args: list[str]) -> int:
    from interfaces.cli import hostcmds

    parser = _parser("get", "Print a secret's value (or one field of a structured secret).")
    parser.add_argument("secret_id", help="sk_…")
    parser.add_argument("field", nargs="?", help="One field of a structured secret.")
    parser.add_argument("-o", "--output", choices=("plain", "json"), default="plain")
    parser.add_argument("--offline", action="store_true", help="Read only the offline cache.")
    ns = parser.parse_args(args)
    hostcmds.get(ns.secret_id, ns.field, ns.output == "json", ns.identity, ns.vault, ns.offline)
    return 0


def _export(args: list[str]) -> int:
    from interfaces.cli import hostcmds

    parser = _parser("export", "Print every readable secret as environment variables.")
    parser.add_argument("-f", "--format", choices=("env", "dotenv", "json"), default="env")
    parser.add_argument("--project", help="Only this project (proj_…).")
    ns = parser.parse_args(args)
    hostcmds.export(ns.format, ns.project, ns.identity, ns.vault)
    return 0


def _run(args: list[str]) -> int:
    from interfaces.cli import hostcmds

    parser = _parser("run", "Run a command with secrets: keyledger run --all -- cmd args…")
    parser.add_argument("--secret", action="append", default=[], help="sk_… (repeatable).")
    parser.add_argument("--all", dest="all_", action="store_true")
    parser.add_argument("--project", help="Only this project (with --all).")
    parser.add_argument("--prefix", default="", help="Put before every name.")
    parser.add_argument("--watch", action="store_true", help="Restart on a change.")
    parser.add_argument("--watch-interval", type=float, default=15.0)
    parser.add_argument("--dry-run", action="store_true", help="Only list the variables.")
    parser.add_argument("--show-values", action="store_true", help="With --dry-run: values.")
    # The command starts at `--` or at the first word that is not an option, as Typer's
    # allow_interspersed_args=False reads it.
    parser.add_argument("command", nargs=argparse.REMAINDER, help="The command (after --).")
    ns = parser.parse_args(args)
    command = list(ns.command)
    return hostcmds.run(
        command[1:] if command[:1] == ["--"] else command,
        ns.secret,
        ns.all_,
        ns.project,
        ns.prefix,
        (ns.watch, ns.watch_interval),
        (ns.dry_run, ns.show_values),
        ns.identity,
        ns.vault,
    )


FAST = {"get": _get, "export": _export, "run": _run}


def dispatch(argv: list[str]) -> int | None:
    """The exit code of a fast command, or None: not one of them, use the Typer app."""
    if not argv or argv[0] in ("--help", "-h"):
        print(root_help(), end="")
        return 0
    if argv[0] == "--version":
        print(f"keyledger {VERSION}")
        return 0
    command = FAST.get(argv[0])
    return command(argv[1:]) if command else None
