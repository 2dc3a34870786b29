"""Commands that open the store directly: server, audit verify, projections rebuild.

The store and server modules are imported inside the commands: every other CLI
command starts without paying for SQLAlchemy, eventsourcing and Litestar.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infrastructure.settings import Settings
from interfaces.cli.options import DatabaseUrl, DataDir, Json
from interfaces.cli.output import EXIT_ERROR, emit_json, say

projections = typer.Typer(help="Maintain the read models.", no_args_is_help=True)


def _settings(data_dir: Path | None, database_url: str | None, **extra: Any) -> Settings:
    return Settings.from_env(data_dir=data_dir, database_url=database_url, **extra)


def register(app: typer.Typer, audit: typer.Typer) -> None:
    @app.command()
    def server(
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
        host: Annotated[str, typer.Option("--host", envvar="KEYLEDGER_HOST")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", envvar="KEYLEDGER_PORT")] = 8420,
        workers: Annotated[
            int, typer.Option("--workers", min=1, help="API processes (distributed mode).")
        ] = 1,
        log_level: Annotated[str, typer.Option("--log-level")] = "info",
    ) -> None:
        """Run the keyledger server (embedded SQLite by default)."""
        import uvicorn

        settings = _settings(data_dir, database_url, host=host, port=port)
        say(f"keyledger on http://{host}:{port} — data dir {settings.data_dir}")
        if workers > 1:
            if not settings.is_distributed:
                raise typer.BadParameter("--workers > 1 needs --database-url (PostgreSQL)")
            os.environ["KEYLEDGER_DATA_DIR"] = str(settings.data_dir)
            os.environ["KEYLEDGER_DATABASE_URL"] = str(settings.database_url)
            uvicorn.run(
                "interfaces.http.asgi:app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=log_level,
            )
            return
        from interfaces.http.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)

    @audit.command("verify")
    def verify(
        data_dir: DataDir = None, database_url: DatabaseUrl = None, json_out: Json = False
    ) -> None:
        """Re-walk the hash chain over every stored event; exit 1 naming the first bad one."""
        from infrastructure.eventstore.chain import verify_chain
        from interfaces.bootstrap import build_store

        ledger, _envelope, projector, _clock = build_store(_settings(data_dir, database_url))
        try:
            report = verify_chain(ledger.recorder)  # type: ignore[arg-type]
        finally:
            ledger.close()
            projector.engine.dispose()
        if json_out:
            emit_json(report.__dict__)
        elif report.ok:
            say(f"Chain intact: {report.checked} events, head #{report.head_id} {report.head_hash}")
        else:
            say(
                f"[red]CHAIN BROKEN[/red] at event #{report.first_bad_id}: {report.reason} "
                f"({report.checked} events verified before it)"
            )
        if not report.ok:
            raise typer.Exit(EXIT_ERROR)

    @projections.command("rebuild")
    def rebuild(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
        """Drop the read models and replay them from the event store."""
        from interfaces.bootstrap import build_store

        ledger, _envelope, projector, _clock = build_store(_settings(data_dir, database_url))
        try:
            with Progress(
                TextColumn("replaying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=False,
            ) as progress:
                task = progress.add_task("rebuild", total=None)

                def tick(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=max(total, done))

                count = projector.rebuild(tick)
        finally:
            ledger.close()
            projector.engine.dispose()
        say(f"Rebuilt read models from {count} events.")
