"""Docker pre-provisioning: a machine made, approved and granted by the operator,
its identity handed over once as a ZIP (product-facts §4.4, ADR 0024).

The server makes the key pair here and only here. The machine, its approval, its
project membership, its grants and the bundle are saved together, so either all of
it exists or none. The private key is sealed under a key of the bundle's own; the
first download (or expiry, 15 minutes on) saves the end and then destroys that key,
so the ciphertext left in the ledger can never be opened again. A refused download
is audited in the access log, never as a vault event (anyone holding a dead link
could otherwise grow the ledger).
"""

from __future__ import annotations

import io
import json
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.application import AggregateNotFoundError

from application.failures import AuthFailures
from application.ledger import Ledger
from application.ports import Clock, KeyPairMaker
from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.bundle import (
    BUNDLE_TTL_MS,
    BundleStatus,
    DockerBundle,
    bundle_aggregate_id,
    bundle_digest,
    validate_mount_path,
)
from domain.errors import Conflict, Gone, IntegrityFailure, InvalidInput, NotFound, Sealed
from domain.machine import Machine, validate_machine_name
from domain.project import Project
from domain.secret import Secret

TOKEN_LENGTH = 48  # hex characters: 192 bits
MAX_SECRETS = 100


class BundleIndex(Protocol):
    """Pending bundles by expiry, for the sweep (not the record: it re-reads each)."""

    def add(self, share_id: str, created_ms: int, expires_ms: int) -> None: ...

    def ended(self, share_id: str, status: str) -> None: ...

    def due(self, now_ms: int) -> list[str]: ...


@dataclass(frozen=True)
class Provisioned:
    """What the operator sees once: the link's token is never stored in the clear."""

    bundle: DockerBundle
    machine: Machine
    vault_id: str
    token: str
    secret_ids: list[str]


def bundle_files(
    machine_id: str,
    name: str,
    vault_id: str,
    api_url: str,
    mount: str,
    project: Project,
    pem: bytes,
) -> bytes:
    """The ZIP: identity.json (as the SDKs read it), private.pem, cli.json."""
    identity = {
        "machineId": machine_id,
        "machineName": name,
        "vaultId": vault_id,
        "apiUrl": api_url,
        "privateKeyPath": f"{mount.rstrip('/')}/private.pem",
    }
    cli = {
        "vaultId": vault_id,
        "apiUrl": api_url,
        "defaultProject": project.project_id,
        "projects": {project.name: project.project_id},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, data in (
            ("identity.json", json.dumps(identity, indent=2).encode() + b"\n"),
            ("private.pem", pem),
            ("cli.json", json.dumps(cli, indent=2).encode() + b"\n"),
        ):
            info = zipfile.ZipInfo(filename, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16  # owner-only once unzipped
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


class DockerBundles:
    def __init__(
        self,
        ledger: Ledger,
        keypairs: KeyPairMaker,
        index: BundleIndex,
        clock: Clock,
        failures: AuthFailures,
    ) -> None:
        self.ledger = ledger
        self.keypairs = keypairs
        self.index = index
        self.clock = clock
        self.failures = failures

    # -- operator ----------------------------------------------------------------

    def provision(
        self,
        project_id: str,
        secret_ids: list[str],
        name: str,
        mount_path: str,
        audit: AuditStamp,
    ) -> Provisioned:
        """Make, approve, add and grant a machine; seal its key for one download."""
        vault = self.ledger.vault()
        if vault is None:
            raise Conflict("The vault is not initialised yet: run `keyledger init`")
        mount = validate_mount_path(mount_path)
        if not secret_ids or len(secret_ids) > MAX_SECRETS:
            raise InvalidInput(f"Give 1–{MAX_SECRETS} secrets the container may read")
        if len(set(secret_ids)) != len(secret_ids):
            raise InvalidInput("Each secret may be given once")
        name = validate_machine_name(name) if name.strip() else f"docker-{secrets.token_hex(3)}"
        project = self.ledger.project(project_id)
        project.require_live()
        granted: list[Secret] = []
        for secret_id in secret_ids:
            secret = self.ledger.secret(secret_id)
            if secret.project_id != project.project_id:
                raise InvalidInput(f"Secret {secret_id} is not in project {project.project_id}")
            granted.append(secret)
        keys = self.ledger.keys
        if keys.is_sealed:
            raise Sealed()
        machine_id = str(uuid.uuid4())
        bundle_id = ids.new_public_id(ids.DOCKER_BUNDLE)
        token = secrets.token_hex(TOKEN_LENGTH // 2)
        stamp = AuditStamp(
            ActorKind.USER,
            audit.source_ip,
            user_id=audit.user_id,
            machine_id=machine_id,
            detail=f"docker bundle {bundle_id}: {name}",
        )
        public, pem = self.keypairs.new_ed25519()
        machine = Machine(
            machine_id=machine_id,
            name=name,
            public_key=public,
            hostname="docker",
            replaces=None,
            audit=stamp,
        )
        machine.approve(stamp)
        project.add_machine(machine_id, stamp)
        for secret in granted:
            secret.grant(machine_id, stamp)
        key_ref = keys.new_project_key(bundle_id)
        now = self.clock.now_ms()
        bundle = DockerBundle(
            digest=bundle_digest(token),
            bundle_id=bundle_id,
            machine_id=machine_id,
            project_id=project.project_id,
            mount_path=mount,
            key_ref=key_ref,
            sealed=keys.seal_value(key_ref, bundle_id, 1, pem),
            expires_ms=now + BUNDLE_TTL_MS,
            audit=stamp.with_detail(
                f"docker bundle {bundle_id} for {name}: {len(granted)} secret(s), 15 min link"
            ),
        )
        self.ledger.save_or_conflict(machine, project, *granted, bundle)
        self.index.add(bundle_digest(token), now, bundle.expires_ms)
        return Provisioned(bundle, machine, vault.vault_id, token, secret_ids)

    # -- the one download ------------------------------------------------------------

    def download(self, token: str, api_url: str, source_ip: str) -> bytes:
        """The ZIP, once, within 15 minutes; 404 for an unknown link, 410 after."""
        try:
            bundle = self._bundle(token)
            now = self.clock.now_ms()
            if bundle.is_due(now):
                self._expire(bundle)
                raise Gone("This Docker bundle link has expired")
            bundle.require_pending()
        except (NotFound, Gone) as refused:
            self.failures.record(
                source_ip, f"docker bundle: {refused}", action="docker_bundle_download_denied"
            )
            raise
        if self.ledger.keys.is_sealed:
            raise Sealed()
        machine: Machine = self.ledger.repository.get(uuid.UUID(bundle.machine_id))
        project = self.ledger.project(bundle.project_id, in_trash=True)
        vault = self.ledger.vault()
        try:
            pem = self.ledger.keys.open_value(bundle.key_ref, bundle.bundle_id, bundle.sealed)
        except IntegrityFailure:
            if self._bundle(token).status is not BundleStatus.PENDING:  # taken meanwhile
                self.failures.record(
                    source_ip,
                    "docker bundle: just downloaded",
                    action="docker_bundle_download_denied",
                )
                raise Gone("This Docker bundle was just downloaded") from None
            raise
        archive = bundle_files(
            bundle.machine_id,
            machine.name,
            vault.vault_id if vault is not None else "",
            api_url,
            bundle.mount_path,
            project,
            pem,
        )
        bundle.download(
            AuditStamp(
                ActorKind.EXTERNAL,
                source_ip,
                machine_id=bundle.machine_id,
                detail=f"docker bundle {bundle.bundle_id} downloaded",
            )
        )
        self._end(bundle)  # a lost race raises Gone here: the ZIP is dropped unsent
        return archive

    def _bundle(self, token: str) -> DockerBundle:
        if len(token) != TOKEN_LENGTH or any(c not in "0123456789abcdef" for c in token):
            raise NotFound("Unknown Docker bundle link")
        try:
            found: object = self.ledger.repository.get(bundle_aggregate_id(token))
        except AggregateNotFoundError:
            raise NotFound("Unknown Docker bundle link") from None
        if not isinstance(found, DockerBundle):
            raise NotFound("Unknown Docker bundle link")
        return found

    # -- sweep ---------------------------------------------------------------------

    def expire_due(self, now_ms: int | None = None) -> list[str]:
        """Expire each pending bundle past 15 minutes and destroy its key (each tick)."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        expired = []
        for digest in self.index.due(now):
            try:
                found: object = self.ledger.repository.get(DockerBundle.create_id(digest))
            except AggregateNotFoundError:
                continue
            if not isinstance(found, DockerBundle):
                continue
            if not found.is_due(now):
                if found.status is not BundleStatus.PENDING:
                    self.index.ended(digest, found.status.value)  # the index lagged
                continue
            try:
                self._expire(found)
            except Gone:
                continue
            expired.append(found.bundle_id)
        return expired

    def _expire(self, bundle: DockerBundle) -> None:
        bundle.expire(AuditStamp.system(f"docker bundle {bundle.bundle_id} expired"))
        self._end(bundle)

    def _end(self, bundle: DockerBundle) -> None:
        """Save the end, then destroy the key: the event records that it was destroyed."""
        try:
            self.ledger.save_or_conflict(bundle)
        except Conflict:
            raise Gone("This Docker bundle was just downloaded") from None
        self.ledger.keys.shred_project_key(bundle.bundle_id, [bundle.bundle_id])
        self.index.ended(bundle.digest, bundle.status.value)
