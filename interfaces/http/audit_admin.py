"""Operator audit endpoints: verify the whole trail where it lives (the server's store),
and the signed checkpoints an operator keeps off-box."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide

from application.ports import SessionRecord
from domain.checkpoint import SignedCheckpoint, b64
from domain.errors import InvalidInput, NotFound
from interfaces.bootstrap import Services
from interfaces.http.deps import provide_operator

FOREIGN = "The checkpoint is not signed by this server's checkpoint key (another key, or altered)"


class AuditAdminController(Controller):
    path = "/v1/admin/audit"
    tags = ["operator"]
    dependencies = {"operator": Provide(provide_operator, sync_to_thread=True)}

    @get("/verify", sync_to_thread=True)
    def verify(self, operator: SessionRecord, services: Services) -> dict[str, Any]:
        """Re-walk the ledger's hash chain, every access-log lane and every recorded
        checkpoint; `intact: false` names the first bad event or record."""
        return services.audit.verify().as_json()

    @post("/verify", sync_to_thread=True, status_code=200)
    def verify_against(
        self, operator: SessionRecord, services: Services, data: dict[str, Any]
    ) -> dict[str, Any]:
        """The same, and against an off-box checkpoint (`{"checkpoint": {…}}`): catches
        deleted newest records and a rewritten chain. A foreign checkpoint is a 400."""
        signed = SignedCheckpoint.from_json(data.get("checkpoint"))
        signer = services.checkpoints.signer
        body = signed.checkpoint.canonical()
        if signed.public_key not in signer.trusted_keys() or not signer.verify(
            signed.public_key, body, signed.signature
        ):
            raise InvalidInput(FOREIGN)
        return services.audit.verify(signed).as_json()

    @get("/checkpoint", sync_to_thread=True)
    def checkpoint(self, operator: SessionRecord, services: Services) -> dict[str, Any]:
        """The newest signed checkpoint, signed now if the logs moved since: keep it off-box."""
        signed = services.checkpoints.fresh()
        if signed is None:
            raise NotFound("Nothing to checkpoint yet: the logs are empty")
        return signed.as_json()

    @get("/checkpoint/public-key", sync_to_thread=True)
    def public_key(self, operator: SessionRecord, services: Services) -> dict[str, Any]:
        """The Ed25519 key checkpoints are signed with (and every key still trusted)."""
        signer = services.checkpoints.signer
        return {
            "algorithm": "Ed25519",
            "publicKey": b64(signer.public_key()),
            "trustedKeys": [b64(k) for k in signer.trusted_keys()],
        }
