"""`create_app(settings)`: the Litestar application factory.

Builds the services through the composition root, registers controllers, error
mapping and the background loops (read-model follower, trash sweep).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import threading
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.response import Response

from domain.errors import KeyledgerError
from infrastructure.settings import Settings
from interfaces.bootstrap import Services, build
from interfaces.http import errors
from interfaces.http.agent import AgentController, close_head_signal
from interfaces.http.alerts_admin import AlertAdminController
from interfaces.http.audit import AuditController
from interfaces.http.audit_admin import AuditAdminController
from interfaces.http.auditstream import AuditStreamController, StreamHub
from interfaces.http.canaries import CanaryController
from interfaces.http.deps import refuse_rewritten_peer
from interfaces.http.docker import DockerAdminController, DockerBundleController
from interfaces.http.enroll import EnrollController
from interfaces.http.enrollments_admin import EnrollmentAdminController
from interfaces.http.hotpath import FastSecretRead
from interfaces.http.k8s import KubernetesController
from interfaces.http.machine import MachineController
from interfaces.http.machines_admin import MachineAdminController
from interfaces.http.operator import SessionController, SetupController
from interfaces.http.pointintime import PointInTimeController
from interfaces.http.policies import PolicyController
from interfaces.http.rotations_admin import RotationAdminController
from interfaces.http.shares import ShareAdminController, ShareController
from interfaces.http.vault import VaultController
from interfaces.http.webhooks_admin import WebhookAdminController
from interfaces.web.wiring import template_config, web_router

log = logging.getLogger("keyledger")
MAX_BODY = 1024 * 1024


@get("/healthz", sync_to_thread=False, include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", sync_to_thread=True, include_in_schema=False)
def readyz(services: Services) -> Response[dict[str, Any]]:
    """Ready = the store answers and the vault is unsealed."""
    services.ledger.recorder.max_notification_id()
    sealed = services.envelope.is_sealed
    return Response({"ready": not sealed, "sealed": sealed}, status_code=503 if sealed else 200)


ORPHAN_CLOSE_SECONDS = 5.0
SERVER_PID_ENV = "KEYLEDGER_SERVER_PID"  # set by `keyledger server` for its workers


def server_pid() -> int:
    """The process this worker must outlive no longer than: the one that ran `serve`.

    Read from the environment, not from `getppid()` at start-up: a worker that is still
    starting when the server is SIGKILLed would otherwise take its new parent (init) for
    the server and never notice. In the process that ran `serve` itself, or without the
    variable, the parent at start-up is all there is to go by."""
    named = os.environ.get(SERVER_PID_ENV, "")
    if named.isdigit() and int(named) != os.getpid():
        return int(named)
    return os.getppid()


class BackgroundLoops:
    """Keeps read models current with other processes' writes; sweeps the trash."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.parent = server_pid()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="keyledger-loops", daemon=True)
        # Its own thread: a loop iteration stuck on a busy database must not keep an
        # orphaned worker serving.
        self.watch = threading.Thread(
            target=self.watch_parent, name="keyledger-orphan", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        self.watch.start()

    def watch_parent(self) -> None:
        while not self.stop.wait(0.5):
            if os.getppid() != self.parent:
                self.orphaned()

    def run(self) -> None:
        sweep_every = self.services.settings.trash_sweep_seconds
        since_sweep = sweep_every  # sweep once at start
        checkpoint_every = min(10, self.services.settings.checkpoint_seconds)
        since_checkpoint = 0
        while not self.stop.wait(1.0):
            try:
                self.services.catch_up()
                self.services.nonces.prune(self.services.clock.now_ms())
                self.services.failures.flush()  # folded failure counts of closed intervals
                since_checkpoint += 1
                if since_checkpoint >= checkpoint_every and not self.services.envelope.is_sealed:
                    since_checkpoint = 0
                    self.services.checkpoints.tick()  # signs when N records / M minutes
                    self.services.point_in_time.prepare()  # fold snapshots follow the ledger
                since_sweep += 1
                if since_sweep >= sweep_every:
                    since_sweep = 0
                    now = self.services.clock.now_ms()
                    expired = self.services.read_models.expired_trash(now)
                    if expired:
                        self.services.ledger.purge_expired_trash(expired, now)
                    projects = self.services.read_models.expired_project_trash(now)
                    if projects:
                        self.services.project_trash.purge_expired(projects, now)
            except Exception as exc:  # keep looping; the next tick retries
                log.warning("background loop: %s", type(exc).__name__)

    def orphaned(self) -> None:
        """The server process is gone (SIGKILLed, crashed) and nobody will stop this
        worker: granian's workers leave SIGTERM to it. Write what is buffered and exit
        rather than serve on, unsupervised, holding the port and the database."""
        log.warning("the server process is gone: worker %d stops", os.getpid())
        closing = threading.Thread(target=self._close_quietly, daemon=True)
        closing.start()
        closing.join(ORPHAN_CLOSE_SECONDS)  # a close that hangs must not keep us alive
        os._exit(0)

    def _close_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.services.close()


class KeyledgerApp(Litestar):
    """Litestar, with the signed read's fast path in front of routing (hotpath.py)."""

    fast_read: FastSecretRead | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fast = self.fast_read
        if fast is not None:
            headers = fast.headers_if_simple(scope)
            if headers is not None:
                await fast.serve(scope, headers, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    services = services or build(settings)
    trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
    loops = BackgroundLoops(services)
    streams = StreamHub(settings.audit_streams)

    def start() -> None:
        loops.start()
        services.jobs.start_scheduler()
        if services.settings.broker_url is None:  # embedded: the jobs run in-process
            services.jobs.start_worker()

    async def hear_stop() -> None:
        streams.listen_for_stop(asyncio.get_running_loop())

    async def stop_waits() -> None:
        streams.close()
        await close_head_signal(services)

    def stop() -> None:
        loops.stop.set()
        services.close()

    app = KeyledgerApp(
        route_handlers=[
            healthz,
            readyz,
            SetupController,
            SessionController,
            AuditController,
            AuditAdminController,
            AuditStreamController,
            VaultController,
            CanaryController,
            PolicyController,
            MachineAdminController,
            EnrollController,
            KubernetesController,
            DockerAdminController,
            DockerBundleController,
            EnrollmentAdminController,
            MachineController,
            AgentController,
            RotationAdminController,
            PointInTimeController,
            WebhookAdminController,
            AlertAdminController,
            ShareAdminController,
            ShareController,
            web_router(),  # the dashboard: pages at /, same services
        ],
        state=State({"trusted_proxies": trusted, "audit_streams": streams}),
        before_request=refuse_rewritten_peer,
        dependencies={"services": Provide(lambda: services, sync_to_thread=False)},
        exception_handlers={
            KeyledgerError: errors.on_domain_error,
            ValidationException: errors.on_validation_error,
            HTTPException: errors.on_http_error,
            Exception: errors.on_unexpected,
        },
        template_config=template_config(),
        openapi_config=OpenAPIConfig(title="keyledger", version="0.1.0", path="/schema"),
        request_max_body_size=MAX_BODY,
        on_startup=[start, hear_stop],
        on_shutdown=[stop_waits, stop],
    )
    app.fast_read = FastSecretRead(services, proxies_trusted=bool(trusted))
    return app
