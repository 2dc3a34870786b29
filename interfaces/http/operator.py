"""Operator endpoints: first-run setup, sessions, seal/unseal, audit."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from application.failures import source_key
from application.ports import SessionRecord
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed, IntegrityFailure, InvalidInput, TooManyAttempts
from infrastructure.crypto.keyring import KeyRing
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, client_ip, provide_operator
from interfaces.http.schemas import InitBody, LoginBody, UnsealBody

MAX_MS = 2**63 - 1

FIRST_KEY = (
    "No server key has been set yet: only the logged-in owner can set the first one "
    "(keyledger init, keyledger login, then keyledger unseal --key-file FILE)"
)


def _owner(request: AnyRequest, services: Services) -> SessionRecord | None:
    """The operator's session if the request carries a valid one, else None."""
    if not request.headers.get("authorization"):
        return None
    try:
        return provide_operator(request, services)
    except AuthenticationFailed:
        return None


class SetupController(Controller):
    path = "/v1/admin"
    tags = ["operator"]

    @post("/init", sync_to_thread=True, status_code=201)
    def init(self, data: InitBody, request: AnyRequest, services: Services) -> dict[str, Any]:
        """Consume the one-time setup code; create the vault and its owner."""
        vault = services.accounts.initialise(
            data.setup_code, data.email, data.password, client_ip(request)
        )
        services.projector.catch_up()
        return {"vaultId": vault.vault_id, "ownerId": vault.owner_id, "email": vault.owner_email}

    @post("/login", sync_to_thread=True, status_code=200)
    def login(self, data: LoginBody, request: AnyRequest, services: Services) -> dict[str, Any]:
        """Exchange the owner's email and password for a server-side session."""
        token, record = services.accounts.login(data.email, data.password, client_ip(request))
        services.projector.catch_up()
        return {"token": token, "sessionId": record.session_id, "expiresAt": record.expires_ms}

    @post("/unseal", sync_to_thread=True, status_code=200)
    def unseal(self, data: UnsealBody, request: AnyRequest, services: Services) -> dict[str, Any]:
        """Give the server its key ring. The key itself is the credential, except the
        very first one: with no key check stored yet, only the owner's session may
        set it (else anyone could choose the vault's key)."""
        ip = client_ip(request)
        source = source_key(ip)
        try:
            services.unseal_throttle.check(source)
        except TooManyAttempts:
            services.failures.record(ip, "unseal throttled")
            raise
        first = not services.envelope.has_check()
        owner = _owner(request, services) if first else None
        try:
            if first and owner is None:
                raise AuthenticationFailed(FIRST_KEY)
            ring = KeyRing.parse(data.key)
            if first:
                services.envelope.establish(ring)
            else:
                services.envelope.unseal(ring)
        except (AuthenticationFailed, IntegrityFailure, InvalidInput) as refused:
            services.unseal_throttle.failed(source)
            if isinstance(refused, AuthenticationFailed):
                services.failures.record(ip, "first unseal key without the owner's session")
                raise
            services.failures.record(ip, "unseal key rejected")
            raise InvalidInput("That key does not unseal this vault") from None
        services.unseal_throttle.clear(source)
        stamp = AuditStamp(
            ActorKind.USER,
            ip,
            user_id=owner.user_id if owner else None,
            detail="first server key set" if first else "",
        )
        services.ledger.record_seal(False, stamp)
        services.projector.catch_up()
        return {"sealed": False}

    @get("/status", sync_to_thread=True)
    def status(self, services: Services) -> dict[str, Any]:
        """Public: is the vault initialised, is the server sealed."""
        vault = services.ledger.vault()
        return {
            "initialised": vault is not None,
            "vaultId": vault.vault_id if vault else None,
            "sealed": services.envelope.is_sealed,
            "mode": "distributed" if services.settings.is_distributed else "embedded",
        }


class SessionController(Controller):
    path = "/v1/admin"
    tags = ["operator"]
    dependencies = {"operator": Provide(provide_operator, sync_to_thread=True)}

    @get("/whoami", sync_to_thread=True)
    def whoami(self, operator: SessionRecord, services: Services) -> dict[str, Any]:
        vault = services.ledger.vault()
        return {
            "userId": operator.user_id,
            "email": vault.owner_email if vault else None,
            "vaultId": vault.vault_id if vault else None,
            "sessionId": operator.session_id,
            "expiresAt": operator.expires_ms,
        }

    @post("/logout", sync_to_thread=True, status_code=200)
    def logout(
        self, operator: SessionRecord, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        services.accounts.logout(operator, client_ip(request))
        services.projector.catch_up()
        return {"loggedOut": True}

    @post("/seal", sync_to_thread=True, status_code=200)
    def seal(
        self, operator: SessionRecord, request: AnyRequest, services: Services
    ) -> dict[str, Any]:
        """Drop the server key from memory: everything that needs a key answers 503."""
        services.ledger.record_seal(
            True, AuditStamp(ActorKind.USER, client_ip(request), user_id=operator.user_id)
        )
        services.envelope.seal()
        services.projector.catch_up()
        return {"sealed": True}

    @get("/audit", sync_to_thread=True)
    def audit(
        self, operator: SessionRecord, services: Services, limit: int = 50, since: int = 0
    ) -> dict[str, Any]:
        """The newest audit entries (after `since`, epoch ms), newest last."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        if not 0 <= since <= MAX_MS:  # the store keeps times as signed 64-bit numbers
            raise InvalidInput(f"since must be between 0 and {MAX_MS}")
        services.catch_up()
        return {"entries": services.read_models.audit_tail(limit=limit, since=since)}
