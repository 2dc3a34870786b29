"""Commands that open the store directly: server, worker, projections rebuild.

The store and server modules are imported inside the commands: every other CLI
command starts without paying for SQLAlchemy, eventsourcing and Litestar.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from infrastructure.datadir import OpenDataDir, open_data_dir, restrict_new_files
from infrastructure.settings import Settings
from interfaces.cli.options import DatabaseUrl, DataDir
from interfaces.cli.output import emit_json, fail, say, stderr, usage

projections = typer.Typer(help="Maintain the read models.", no_args_is_help=True)


def local_settings(data_dir: Path | None, database_url: str | None, **extra: Any) -> Settings:
    """Every local command writes into the data dir: new files are owner-only from here
    on, and a data dir others can enter is refused before anything is written."""
    restrict_new_files()
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url, **extra)
    try:
        open_data_dir(settings.data_dir, settings.allow_open_data_dir)
    except OpenDataDir as exc:
        fail(str(exc))
    return settings


def register(app: typer.Typer) -> None:
    @app.command()
    def server(
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
        host: Annotated[str, typer.Option("--host", envvar="KEYLEDGER_HOST")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", envvar="KEYLEDGER_PORT")] = 8420,
        workers: Annotated[
            int,
            typer.Option(
                "--workers", min=1, help="API processes; one per core is fastest (both modes)."
            ),
        ] = 1,
        log_level: Annotated[
            str,
            typer.Option("--log-level", help="critical, error, warning, info, debug."),
        ] = "info",
        access_log: Annotated[
            bool,
            typer.Option(
                "--access-log",
                help="Log every request (bootstrap tokens redacted); env KEYLEDGER_ACCESS_LOG=1.",
            ),
        ] = False,
        allow_open_data_dir: Annotated[
            bool,
            typer.Option(
                "--allow-open-data-dir",
                help="Start even if other users can enter the data dir; env "
                "KEYLEDGER_ALLOW_OPEN_DATA_DIR=1.",
            ),
        ] = False,
    ) -> None:
        """Run the keyledger server (embedded SQLite by default)."""
        from interfaces.http.serverlog import level_name

        try:
            level_name(log_level)
        except ValueError as exc:
            usage(str(exc))
        settings = local_settings(
            data_dir,
            database_url,
            host=host,
            port=port,
            access_log=access_log or None,
            allow_open_data_dir=allow_open_data_dir or None,
        )
        from interfaces.http.server import CannotListen, check_port, serve

        try:
            check_port(host, port)
        except CannotListen as exc:
            fail(str(exc))
        say(f"keyledger on http://{host}:{port} — data dir {settings.data_dir}")
        if workers > 1:
            # First start (tables, server key, setup code) happens once, here, before
            # the workers start: N workers racing to create them would collide.
            from interfaces.bootstrap import build

            build(settings).close()
        # Every worker builds the app from the environment (interfaces.http.asgi).
        os.environ["KEYLEDGER_DATA_DIR"] = str(settings.data_dir)
        if settings.database_url:
            os.environ["KEYLEDGER_DATABASE_URL"] = settings.database_url
        if settings.allow_open_data_dir:
            os.environ["KEYLEDGER_ALLOW_OPEN_DATA_DIR"] = "1"
        try:
            serve(host, port, workers, settings.access_log, log_level)
        except CannotListen as exc:
            fail(str(exc))

    @app.command()
    def worker(
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
        broker_url: Annotated[
            str | None,
            typer.Option("--broker-url", envvar="KEYLEDGER_BROKER_URL", help="redis://host:6379/0"),
        ] = None,
        threads: Annotated[int, typer.Option("--threads", min=1, max=64)] = 4,
    ) -> None:
        """Run rotation jobs from Redis (distributed mode); also a scheduler candidate."""
        import signal
        import threading

        from interfaces.bootstrap import build

        if not broker_url:
            usage("The worker needs --broker-url (embedded mode runs jobs inside the server)")
        settings = local_settings(data_dir, database_url, broker_url=broker_url)
        services = build(settings)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        services.jobs.start_worker(threads)
        services.jobs.start_scheduler()
        say(f"keyledger worker: {threads} thread(s) on {broker_url}")
        while not stop.wait(0.5):
            pass
        services.close()

    @projections.command("rebuild")
    def rebuild(
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary instead of a sentence.")
        ] = False,
    ) -> None:
        """Drop the read models and replay them from the event store (progress on stderr)."""
        import time

        from interfaces.bootstrap import build_store

        settings = local_settings(data_dir, database_url)
        ledger, _envelope, projector, _clock = build_store(settings)
        started = time.perf_counter()
        try:
            with Progress(
                TextColumn("replaying {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=stderr,
                transient=as_json,
            ) as progress:
                task = progress.add_task("ledger", total=None)

                def tick(done: int, total: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=max(total, done))

                count = projector.rebuild(tick)
        finally:
            ledger.close()
            projector.engine.dispose()
        seconds = time.perf_counter() - started
        rate = round(count / seconds, 1) if seconds > 0 else 0.0
        if as_json:
            emit_json({"events": count, "seconds": round(seconds, 3), "events_per_second": rate})
        else:
            say(
                f"Rebuilt read models from {count} events in {seconds:.2f} s "
                f"({rate:,.0f} events/s)."
            )
