"""`keyledger audit verify`: ask the server to re-walk its chains, or, only when told
to with --offline, walk a copy of a store named by --data-dir / --database-url.

Exit codes: 0 intact; 1 tampered (the first bad event or record is named); 2 could
not check at all (bad usage, server unreachable or refusing, no store at the given
place); 3 not logged in to that server. A missing server never reads as "intact".
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from domain.checkpoint import SignedCheckpoint
from domain.errors import InvalidInput
from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import EXIT_ERROR, EXIT_UNCHECKED, emit_json, fail, say, usage

Offline = Annotated[
    bool,
    typer.Option(
        "--offline", help="Verify a copy of a store directly, with no server (needs a location)."
    ),
]
# No environment variables here: the copy to verify is always named on the command line.
CopyDir = Annotated[
    Path | None, typer.Option("--data-dir", help="With --offline: the data directory to verify.")
]
CopyUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="With --offline: the postgresql:// database to verify."),
]
VERIFY_TIMEOUT = 3600.0  # the server walks every row: a large store takes a while
CheckpointFile = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="A signed checkpoint kept off-box (audit checkpoint --out)."),
]
FOREIGN = (
    "The checkpoint file is not signed by this server's checkpoint key (another key, or altered)"
)


def _read_checkpoint(path: Path) -> SignedCheckpoint:
    """The off-box file, parsed; unreadable or malformed ends the command (exit 1)."""
    try:
        return SignedCheckpoint.from_json(json.loads(path.read_text()))
    except OSError as exc:
        fail(f"Cannot read {escape(str(path))}: {exc.strerror}")
    except ValueError:
        fail(f"{escape(str(path))} is not JSON: not a keyledger checkpoint")
    except InvalidInput as exc:
        fail(f"{escape(str(path))}: {escape(str(exc))}")


def _signed_by_server(api: Api, signed: SignedCheckpoint) -> None:
    from domain.checkpoint import b64
    from infrastructure.crypto.checkpointkey import signature_holds

    keys = api.get("/v1/admin/audit/checkpoint/public-key")["trustedKeys"]
    body = signed.checkpoint.canonical()
    if b64(signed.public_key) not in keys or not signature_holds(
        signed.public_key, body, signed.signature
    ):
        fail(FOREIGN)


def _lines(report: dict[str, Any]) -> list[str]:
    ledger, access = report["ledger"], report["access"]
    lines = [
        f"ledger: {'chain intact' if ledger['intact'] else '[red]CHAIN BROKEN[/red]'}, "
        f"{ledger['checked']} events verified, head #{ledger['headId'] or '-'}",
        f"access: {'chains intact' if access['intact'] else '[red]CHAIN BROKEN[/red]'}, "
        f"{access['checked']} records verified in {access['lanes']} lane(s)",
    ]
    checked = report.get("checkpoints", {}).get("checked", 0)
    if checked:
        lines.append(f"checkpoints: {checked} signed checkpoint(s) checked")
    if not report["intact"]:
        bad, reason = escape(str(report["firstBad"])), escape(str(report["reason"]))
        lines.append(f"[red]TAMPERED[/red]: first bad {bad}: {reason}")
    return lines


def _offline(
    data_dir: Path | None, database_url: str | None, off_box: SignedCheckpoint | None
) -> dict[str, Any]:
    """Walk a copy; refuses a place that holds no keyledger store rather than create one.
    With no server to derive the key, the off-box file's key is trusted if the copy's
    own checkpoints were signed with it (or it has none); see ADR 0016."""
    from sqlalchemy import create_engine, inspect

    from application.checkpoints import Checkpoints
    from infrastructure.checkpointstore import SqlCheckpointLog
    from infrastructure.crypto.checkpointkey import PinnedKey
    from interfaces.bootstrap import audit_verifier, build_access_store, build_store
    from interfaces.cli.local import local_settings

    with tempfile.TemporaryDirectory() as scratch:
        if database_url is not None:
            settings = local_settings(Path(scratch), database_url)
            engine = create_engine(settings.state_db_url())  # creates nothing, unlike make_engine
            try:
                found = inspect(engine).has_table("keyledger_events")
            except Exception as exc:
                fail(f"Cannot open {escape(database_url)}: {type(exc).__name__}", EXIT_UNCHECKED)
            finally:
                engine.dispose()
            if not found:
                fail("That database holds no keyledger event store", EXIT_UNCHECKED)
        else:
            assert data_dir is not None
            if not (data_dir / "ledger.sqlite").is_file():
                fail(f"No keyledger store in {escape(str(data_dir))}", EXIT_UNCHECKED)
            settings = local_settings(data_dir, None)
        ledger, _envelope, projector, _clock = build_store(settings)
        access = build_access_store(settings, projector)
        checkpoints = None
        try:
            if off_box is not None:
                if not PinnedKey(off_box.public_key).verify(
                    off_box.public_key, off_box.checkpoint.canonical(), off_box.signature
                ):
                    fail(FOREIGN)
                ledger_db = projector.engine if database_url else None
                if ledger_db is None:
                    from infrastructure.accessstore.store import sqlite_engine

                    ledger_db = sqlite_engine(settings.data_dir / "ledger.sqlite")
                log = SqlCheckpointLog(access.engine, ledger_db, owns_ledger=not database_url)
                recorded = {c.public_key for c in log.all()}
                if recorded and off_box.public_key not in recorded:  # not this store's key
                    log.close()
                    fail(FOREIGN)
                checkpoints = Checkpoints(log, PinnedKey(off_box.public_key), _clock, 1, 1)
            verifier = audit_verifier(ledger, access, checkpoints)
            return verifier.verify(off_box).as_json()
        finally:
            if checkpoints is not None:
                checkpoints.log.close()
            access.close()
            ledger.close()
            projector.engine.dispose()


def register(audit: typer.Typer) -> None:
    @audit.command("verify")
    def verify(
        offline: Offline = False,
        data_dir: CopyDir = None,
        database_url: CopyUrl = None,
        checkpoint: CheckpointFile = None,
        server: Server = None,
        json_out: Json = False,
    ) -> None:
        """Re-walk the hash chains (vault changes; every access-log lane) and the signed
        checkpoints on the server. Exit 0 intact, 1 tampered (names the first bad event
        or record), 2 could not check, 3 not logged in."""
        if offline:
            if (data_dir is None) == (database_url is None):
                usage("--offline needs exactly one of --data-dir DIR or --database-url URL")
            off_box = _read_checkpoint(checkpoint) if checkpoint else None
            report = _offline(data_dir, database_url, off_box)
        else:
            if data_dir is not None or database_url is not None:
                usage("--data-dir / --database-url name a copy to verify: add --offline")
            api = Api(server, failure_code=EXIT_UNCHECKED)
            api.timeout = VERIFY_TIMEOUT
            if checkpoint is None:
                report = api.get("/v1/admin/audit/verify")
            else:
                off_box = _read_checkpoint(checkpoint)
                _signed_by_server(api, off_box)
                report = api.post("/v1/admin/audit/verify", {"checkpoint": off_box.as_json()})
            if not isinstance(report.get("intact"), bool):
                fail("The server's answer is not a verification report", EXIT_UNCHECKED)
        if json_out:
            emit_json(report)
        else:
            for line in _lines(report):
                say(line)
        if not report["intact"]:
            raise typer.Exit(EXIT_ERROR)

    @audit.command("checkpoint")
    def checkpoint_cmd(
        out: Annotated[
            Path | None, typer.Option("--out", help="Write the checkpoint to this file.")
        ] = None,
        public_key: Annotated[
            bool, typer.Option("--public-key", help="Print the key checkpoints are signed with.")
        ] = False,
        server: Server = None,
    ) -> None:
        """The newest signed checkpoint (signed now if the logs moved): keep it off-box,
        then `audit verify --checkpoint FILE` catches deleted or rewritten history."""
        api = Api(server)
        if public_key:
            key = api.get("/v1/admin/audit/checkpoint/public-key")["publicKey"]
            typer.echo(f"ed25519:{key}")
            return
        signed = api.get("/v1/admin/audit/checkpoint")
        text = json.dumps(signed, indent=2) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        tmp = out.with_name(out.name + ".tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, out)
        except OSError as exc:
            fail(f"Cannot write {escape(str(out))}: {exc.strerror}")
        heads = ", ".join(f"{h['log']} @{h['position']}" for h in signed["heads"])
        say(f"Checkpoint #{signed['number']} written to {escape(str(out))}: {escape(heads)}")
