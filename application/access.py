"""The access gate for signed machine requests, cheapest and least revealing first.

IP allowlist → headers → timestamp ±5 min → machine → Ed25519 signature → nonce
never seen → approved and enabled → (per secret) project not frozen → machine in
project → explicit grant. Every refusal is audited with its reason. Decisions read
the aggregates (fast-forwarded from the store), never a read model, so a revoke is
effective on the very next request in every process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError

from application.ledger import Ledger
from application.ports import Clock, KeyService, NonceStore, SignatureVerifier
from domain.allowlist import ip_allowed
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed, Forbidden, Locked, NotFound, Sealed
from domain.machine import Machine, MachineStatus
from domain.project import Project
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


def signing_payload(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    body_hash = hashlib.sha256(body).hexdigest()
    return f"{method}:{path}:{timestamp}:{nonce}:{body_hash}".encode()


class MachineGate:
    def __init__(
        self,
        ledger: Ledger,
        verifier: SignatureVerifier,
        nonces: NonceStore,
        clock: Clock,
        keys: KeyService,
    ) -> None:
        self.ledger = ledger
        self.verifier = verifier
        self.nonces = nonces
        self.clock = clock
        self.keys = keys

    def _refuse(self, request: SignedRequest, reason: str, machine_id: str | None = None) -> None:
        self.ledger.record(
            "auth_failure",
            AuditStamp(
                ActorKind.MACHINE if machine_id else ActorKind.EXTERNAL,
                request.source_ip,
                machine_id=machine_id,
                detail=reason,
            ),
        )

    def authenticate(self, request: SignedRequest) -> Machine:
        """Who is asking, proven; or an audited 401/403."""
        if self.keys.is_sealed:
            raise Sealed()
        vault = self.ledger.vault()
        if vault is None or not ip_allowed(
            request.source_ip, vault.allowlist_enabled, vault.allowlist
        ):
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
        now_s = self.clock.now_ms() // 1000
        if abs(now_s - timestamp) > WINDOW_SECONDS:
            self._refuse(request, f"timestamp outside ±{WINDOW_SECONDS}s")
            raise AuthenticationFailed("Request timestamp is outside the allowed window")
        machine = self._machine(request)
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
        if not self.nonces.claim(machine.machine_id, request.nonce, self.clock.now_ms()):
            self._refuse(request, "replayed nonce", machine.machine_id)
            raise AuthenticationFailed("Nonce already used (replayed request)")
        if not machine.may_authenticate:
            state = "disabled" if machine.status is MachineStatus.APPROVED else machine.status.value
            self._refuse(request, f"machine is {state}", machine.machine_id)
            raise Forbidden(f"Machine is {state}")
        return machine

    def _machine(self, request: SignedRequest) -> Machine:
        try:
            aggregate_id = uuid.UUID(request.machine_id or "")
            machine: Machine = self.ledger.repository.get(aggregate_id)
        except (ValueError, AggregateNotFoundError):
            self._refuse(request, "unknown machine")
            raise AuthenticationFailed("Unknown machine") from None
        if machine.status is MachineStatus.REVOKED:
            self._refuse(request, "revoked machine", machine.machine_id)
            raise AuthenticationFailed("Unknown machine")
        return machine

    # -- per-secret checks -----------------------------------------------------

    def check_secret(
        self, machine: Machine, secret_id: str, source_ip: str, audit: bool = True
    ) -> tuple[Secret, Project]:
        """The secret, if this machine may read it now; else an audited 403/404/423."""
        try:
            secret = self.ledger.secret(secret_id)
        except NotFound:
            raise NotFound(f"Secret {secret_id[:40]} not found") from None
        project = self.ledger.project(secret.project_id)
        reason, error = self.denial(machine, secret, project)
        if error is not None:
            if audit:
                self.ledger.record(
                    "secret_read_denied",
                    AuditStamp(
                        ActorKind.MACHINE, source_ip, machine_id=machine.machine_id, detail=reason
                    ),
                    secret_id=secret.secret_id,
                )
            raise error
        return secret, project

    @staticmethod
    def denial(machine: Machine, secret: Secret, project: Project) -> tuple[str, Exception | None]:
        if secret.in_trash:
            return "secret is in the trash", NotFound(f"Secret {secret.secret_id} not found")
        if project.frozen:
            return "project is frozen", Locked("Project is frozen")
        if machine.machine_id not in project.machines:
            return "machine not in project", Forbidden("Machine is not in this secret's project")
        if machine.machine_id not in secret.grants:
            return "no grant", Forbidden("Machine has no grant on this secret")
        return "", None
