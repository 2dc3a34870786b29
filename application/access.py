"""The access gate for signed machine requests, cheapest and least revealing first.

IP allowlist → headers → timestamp ±5 min → machine → Ed25519 signature → nonce
never seen → approved and enabled → (per secret) project not frozen → machine in
project → explicit grant. Every refusal is audited with its reason.

Decisions read aggregates, never a read model. They are cached per ledger head: one
cheap probe per request (`HeadWatch`) tells whether anything in the vault changed
since; if so the cache is dropped. A revoke, disable or removal is therefore
effective on the very next request in every process.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError

from application.accesslog import RecordWriter
from application.failures import AuthFailures
from application.ledger import Ledger
from application.ledgercache import LedgerCache
from application.ports import Clock, HeadWatch, KeyService, NonceStore, SignatureVerifier
from domain.allowlist import ip_allowed
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed, Forbidden, Locked, NotFound, Sealed
from domain.machine import Machine, MachineStatus
from domain.project import Project
from domain.requestsigning import signing_payload
from domain.secret import Secret

WINDOW_SECONDS = 300
MAX_NONCE = 128


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str
    query: str
    body: bytes
    source_ip: str
    machine_id: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None


@dataclass(frozen=True)
class Caller:
    """A machine whose signature verified. `nonce_key` is set when the nonce is still
    to be consumed by the request's own keyed audit record."""

    machine: Machine
    source_ip: str
    nonce_key: str | None = None
    head: object = None  # the ledger head this caller's checks were decided on
    assumed: bool = False  # that head was the access writer's newest, not probed now

    def stamp(self, detail: str = "") -> AuditStamp:
        return AuditStamp(
            ActorKind.MACHINE, self.source_ip, machine_id=self.machine.machine_id, detail=detail
        )


class StaleDecision(Exception):
    """A refusal was about to be decided on an assumed head the ledger has moved past:
    decide again with a probed head (refusals are rare; the probe is cheap for them)."""


class MachineGate:
    def __init__(
        self,
        ledger: Ledger,
        verifier: SignatureVerifier,
        nonces: NonceStore,
        clock: Clock,
        keys: KeyService,
        records: RecordWriter,
        head: HeadWatch,
        failures: AuthFailures,
    ) -> None:
        self.ledger = ledger
        self.verifier = verifier
        self.nonces = nonces
        self.clock = clock
        self.keys = keys
        self.records = records
        self.failures = failures
        self.cache = LedgerCache(ledger, keys, head)

    def _refuse(self, request: SignedRequest, reason: str, machine_id: str | None = None) -> None:
        """Nothing is proven yet: audited, folded per source (see `AuthFailures`)."""
        self.failures.record(request.source_ip, reason, machine_id=machine_id)

    def authenticate(
        self, request: SignedRequest, *, defer_nonce: bool = False, head: object = None
    ) -> Caller:
        """Who is asking, proven; or an audited 401/403 (503 while sealed).

        With `defer_nonce` the caller consumes the nonce itself by writing a record
        keyed by it (one write per read instead of two). Sealed is decided last: the
        aggregates need no key, so a refusal while sealed is audited like any other."""
        assumed = head is not None
        head = self.cache.sync(head)
        vault = self.cache.vault()
        if vault is None or not ip_allowed(
            request.source_ip, vault.allowlist_enabled, vault.allowlist
        ):
            self._settle(assumed, head)
            self._refuse(request, f"IP {request.source_ip} not on the vault allowlist")
            raise Forbidden("Access denied")
        if not (request.machine_id and request.timestamp and request.nonce and request.signature):
            self._refuse(request, "missing signature headers")
            raise AuthenticationFailed(
                "Missing X-Machine-Id, X-Timestamp, X-Nonce or X-Signature header"
            )
        if request.query:
            self._refuse(request, "query string on a signed route")
            raise AuthenticationFailed("Signed routes take no query string")
        try:
            timestamp = int(request.timestamp)
        except ValueError:
            timestamp = -(10**12)
        if abs(self.clock.now_ms() // 1000 - timestamp) > WINDOW_SECONDS:
            self._refuse(request, f"timestamp outside ±{WINDOW_SECONDS}s")
            raise AuthenticationFailed("Request timestamp is outside the allowed window")
        machine = self._machine(request, assumed, head)
        try:
            signature = base64.b64decode(request.signature, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        payload = signing_payload(
            request.method, request.path, request.timestamp, request.nonce, request.body
        )
        if len(request.nonce) > MAX_NONCE or not self.verifier.verify(
            machine.public_key, payload, signature
        ):
            self._refuse(request, "bad signature", machine.machine_id)
            raise AuthenticationFailed("Invalid signature")
        nonce_key = request.nonce  # unique per machine in the access log
        if not defer_nonce and not self.nonces.claim(
            machine.machine_id, request.nonce, self.clock.now_ms()
        ):
            self.refuse_replay(request.source_ip, machine.machine_id)
        if not machine.may_authenticate:
            self._settle(assumed, head)
            state = "disabled" if machine.status is MachineStatus.APPROVED else machine.status.value
            # A refused request still uses up its nonce: once re-enabled, the machine's
            # captured request must not become replayable.
            written = self.records.write(
                "auth_failure",
                AuditStamp(
                    ActorKind.MACHINE,
                    request.source_ip,
                    machine_id=machine.machine_id,
                    detail=f"machine is {state}",
                ),
                key=nonce_key if defer_nonce else None,
            )
            if not written:
                self.refuse_replay(request.source_ip, machine.machine_id)
            raise Forbidden(f"Machine is {state}")
        guarded = machine.refusal(request.source_ip, self.clock.now_ms())
        if guarded is not None:  # expiry and guardrails: from the cached aggregate
            self._settle(assumed, head)
            self._refuse_guarded(request, machine, guarded, nonce_key if defer_nonce else None)
        caller = Caller(
            machine, request.source_ip, nonce_key if defer_nonce else None, head, assumed
        )
        if self.keys.is_sealed:
            self._refuse_sealed(caller, request)
        return caller

    def _refuse_guarded(
        self, request: SignedRequest, machine: Machine, why: tuple[str, bool], key: str | None
    ) -> None:
        reason, expired = why
        stamp = AuditStamp(
            ActorKind.MACHINE, request.source_ip, machine_id=machine.machine_id, detail=reason
        )
        if not self.records.write("auth_failure", stamp, key=key):
            self.refuse_replay(request.source_ip, machine.machine_id)
        if expired:
            raise AuthenticationFailed("Machine has expired")
        raise Forbidden(f"Access denied: {reason}")

    def _refuse_sealed(self, caller: Caller, request: SignedRequest) -> None:
        detail = f"server is sealed ({request.method} {request.path[:80]})"
        if not self.records.write("secret_read_denied", caller.stamp(detail), key=caller.nonce_key):
            self.refuse_replay(caller.source_ip, caller.machine.machine_id)
        raise Sealed()

    def refuse_replay(self, source_ip: str, machine_id: str) -> None:
        self.records.write(
            "auth_failure",
            AuditStamp(
                ActorKind.MACHINE, source_ip, machine_id=machine_id, detail="replayed nonce"
            ),
        )
        raise AuthenticationFailed("Nonce already used (replayed request)")

    def settle(self, caller: Caller) -> None:
        """Before refusing `caller`: StaleDecision if its head was assumed and moved."""
        self._settle(caller.assumed, caller.head)

    def _settle(self, assumed: bool, head: object) -> None:
        if assumed and self.cache.sync() != head:
            raise StaleDecision()

    def _machine(self, request: SignedRequest, assumed: bool, head: object) -> Machine:
        try:
            machine: Machine = self.cache.get(uuid.UUID(request.machine_id or ""))
        except (ValueError, AggregateNotFoundError):
            self._settle(assumed, head)
            self._refuse(request, "unknown machine")
            raise AuthenticationFailed("Unknown machine") from None
        if not isinstance(machine, Machine) or machine.status is MachineStatus.REVOKED:
            self._settle(assumed, head)
            self._refuse(request, "revoked or unknown machine")
            raise AuthenticationFailed("Unknown machine")
        return machine

    # -- per-secret checks -----------------------------------------------------

    def check_secret(self, caller: Caller, secret_id: str) -> tuple[Secret, Project]:
        """The secret, if this machine may read it now; else an audited 403/404/423.

        Every refusal writes the request's keyed record, so its nonce is used up."""
        try:
            secret, project = self.cache.secret_and_project(secret_id)
        except NotFound as missing:
            self._settle(caller.assumed, caller.head)
            written = self.records.write(
                "secret_read_denied",
                caller.stamp(f"no such secret {secret_id[:40]!r}"),
                key=caller.nonce_key,
            )
            if not written:
                self.refuse_replay(caller.source_ip, caller.machine.machine_id)
            raise missing
        reason, error = self.denial(caller.machine, secret, project)
        if error is not None:
            self._settle(caller.assumed, caller.head)
            written = self.records.write(
                "secret_read_denied",
                caller.stamp(reason),
                secret_id=secret.secret_id,
                key=caller.nonce_key,
            )
            if not written:
                self.refuse_replay(caller.source_ip, caller.machine.machine_id)
            raise error
        return secret, project

    @staticmethod
    def denial(
        machine: Machine, secret: Secret, project: Project, *, thawed: bool = False
    ) -> tuple[str, Exception | None]:
        """Why this machine may not read this secret now ("", None: it may).

        `thawed`: the read that tripped a canary re-decided after its own freeze."""
        if secret.in_trash:
            return "secret is in the trash", NotFound(f"Secret {secret.secret_id} not found")
        if project.frozen and not thawed:
            return "project is frozen", Locked("Project is frozen")
        if machine.machine_id not in project.machines:
            return "machine not in project", Forbidden("Machine is not in this secret's project")
        if machine.machine_id not in secret.grants:
            return "no grant", Forbidden("Machine has no grant on this secret")
        return "", None
