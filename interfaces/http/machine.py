"""The machine plane: signed requests, wire-compatible with the official SDKs.

Handlers hash the raw body bytes they received (never a re-serialised body) and
hand everything to the gate; the JSON shapes are the product's.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import msgspec
from litestar import Controller, get, post

from application.access import Caller, SignedRequest, StaleDecision
from application.accesslog import Verdict
from domain.errors import InvalidInput
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, client_ip


class ProjectRef(msgspec.Struct, rename="camel"):
    project_id: str | None = None
    application_id: str | None = None


class WatchBody(msgspec.Struct):
    watch: list[str]


def _decode(body: bytes, kind: type[Any], required: bool = True) -> Any:
    if not body.strip():
        if required:
            raise InvalidInput("A JSON body is required")
        return kind()
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"Invalid request body: {exc}") from None


async def read_secret(services: Services, signed: SignedRequest, secret_id: str) -> str:
    """A secret's current value, answered only once its `secret_read` record is committed.

    Checks and decryption run inline on the event loop (cached aggregates, ~0.1 ms),
    then it awaits the commit of the batch holding its record. The nonce is consumed
    by that keyed record: one write per read. The checks use the ledger head the
    newest batch saw; the writer re-decides at commit if the ledger moved since.
    Refusals write their record synchronously (rare, and bounded per source)."""
    gate, reads = services.gate, services.reads
    try:
        caller = gate.authenticate(signed, defer_nonce=True, head=services.records.known_head)
        value, record = reads.start_read(caller, secret_id, caller.nonce_key)
    except StaleDecision:  # about to refuse on a head the ledger has moved past
        caller = gate.authenticate(signed, defer_nonce=True)
        value, record = reads.start_read(caller, secret_id, caller.nonce_key)
    verdict = await _commit_of(record.future)
    return reads.finish_read(caller, value, verdict)


def _commit_of(future: Future[Verdict]) -> asyncio.Future[Verdict]:
    """The writer thread's future as an awaitable: one thread-safe wake-up, without
    `asyncio.wrap_future`'s two-way chaining (a read is never cancelled midway)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Verdict] = loop.create_future()

    def settle(done: Future[Verdict]) -> None:
        if waiter.done():
            return
        error = done.exception()
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    future.add_done_callback(lambda done: loop.call_soon_threadsafe(settle, done))
    return waiter


def signed_request(request: AnyRequest, body: bytes) -> SignedRequest:
    headers = request.headers
    return SignedRequest(
        method=request.method.upper(),
        path=request.scope["path"],
        query=request.scope.get("query_string", b"").decode("latin-1"),
        body=body,
        source_ip=client_ip(request),
        machine_id=headers.get("x-machine-id") or headers.get("x-agent-id"),
        timestamp=headers.get("x-timestamp"),
        nonce=headers.get("x-nonce"),
        signature=headers.get("x-signature"),
    )


def authenticate(request: AnyRequest, body: bytes, services: Services) -> Caller:
    return services.gate.authenticate(signed_request(request, body))


class MachineController(Controller):
    tags = ["machine"]

    @get("/v1/secret/{secret_id:str}")
    async def get_secret(
        self, secret_id: str, body: bytes, request: AnyRequest, services: Services
    ) -> dict[str, str]:
        """A secret's current value (structured secrets: the JSON object as a string).

        Usually served by interfaces/http/hotpath.py before routing; this handler
        takes the requests that path leaves to the framework (a body, proxies)."""
        signed = signed_request(request, body)
        return {"value": await read_secret(services, signed, secret_id)}

    @get("/v1/secrets", sync_to_thread=True)
    def list_secrets(self, body: bytes, request: AnyRequest, services: Services) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        services.projector.catch_up()
        return {"secrets": services.reads.list_secrets(caller)}

    @post("/v1/secrets/list", sync_to_thread=True, status_code=200)
    def list_by_project(
        self, body: bytes, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        ref: ProjectRef = _decode(body, ProjectRef)
        if not ref.project_id:
            raise InvalidInput("projectId is required")
        services.projector.catch_up()
        return {"secrets": services.reads.list_secrets(caller, ref.project_id)}

    @post("/v1/secrets/export", sync_to_thread=True, status_code=200)
    def export(self, body: bytes, request: AnyRequest, services: Services) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        ref: ProjectRef = _decode(body, ProjectRef, required=False)
        services.projector.catch_up()
        return {"secrets": services.reads.export(caller, ref.project_id)}

    @post("/v1/secrets/poll", sync_to_thread=True, status_code=200)
    def poll(self, body: bytes, request: AnyRequest, services: Services) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        watch: WatchBody = _decode(body, WatchBody)
        if len(watch.watch) > 500:
            raise InvalidInput("Watch at most 500 secrets per poll")
        return {"changes": services.reads.poll(caller, watch.watch)}

    @post("/v1/verify-access", sync_to_thread=True, status_code=200)
    def verify_access(self, body: bytes, request: AnyRequest, services: Services) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        ref: ProjectRef = _decode(body, ProjectRef)
        if not ref.project_id:
            raise InvalidInput("projectId is required")
        return services.reads.verify_access(caller, ref.project_id)

    @get("/v1/cli/projects", sync_to_thread=True)
    def cli_projects(self, body: bytes, request: AnyRequest, services: Services) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        services.projector.catch_up()
        return {"projects": services.reads.projects(caller)}

    @get("/v1/cli/secrets", sync_to_thread=True)
    def cli_secrets(self, body: bytes, request: AnyRequest, services: Services) -> dict[str, Any]:
        caller = authenticate(request, body, services)
        services.projector.catch_up()
        return {"secrets": services.reads.cli_secrets(caller)}

    @get("/v1/machine/whoami", sync_to_thread=True)
    def whoami(self, body: bytes, request: AnyRequest, services: Services) -> dict[str, Any]:
        """keyledger extension: the calling machine's own identity and state."""
        caller = authenticate(request, body, services)
        machine = caller.machine
        vault = services.ledger.vault()
        return {
            "machineId": machine.machine_id,
            "machineName": machine.name,
            "vaultId": vault.vault_id if vault else None,
            "status": machine.status.value,
            "enabled": machine.enabled,
        }
