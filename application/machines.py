"""The operator's side of machines: bootstrap tokens, registration, approval,
project membership, grants, and the vault IP allowlist.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import uuid
from typing import Protocol

from eventsourcing.application import AggregateNotFoundError

from application.agentbinding import released
from application.failures import AuthFailures
from application.ledger import Ledger
from application.ports import Clock, SignatureVerifier
from application.tempmachines import load_token
from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from domain.machine import Machine, MachineStatus, validate_machine_name, validate_public_key
from domain.project import Project
from domain.rotation import RotationSchedule
from domain.secret import Secret
from domain.temptokens import TempToken
from domain.tokens import BOOTSTRAP_TTL_MS, BootstrapToken, token_digest
from domain.vault import Vault

TOKEN_PATTERN = re.compile(r"^[0-9a-f]{48}$")
HOSTNAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
Changed = Machine | Secret | Project | RotationSchedule


class AccessGraph(Protocol):
    """Who is where, from the read models: used to find what a cascade must touch."""

    def machine_grants(self, machine_id: str) -> list[str]: ...

    def machine_projects(self, machine_id: str) -> list[str]: ...

    def machine_agencies(self, machine_id: str) -> list[str]:
        """Managed secrets whose sync agent this machine is."""
        ...


def replace_payload(token: str, public_key_b64: str) -> bytes:
    """What the old key signs to hand its place to a new registration."""
    return f"keyledger-replace:{token}:{public_key_b64}".encode()


def parse_machine_id(machine_id: str) -> str:
    try:
        return str(uuid.UUID(machine_id))
    except ValueError:
        raise NotFound(f"Machine {machine_id[:40]} not found") from None


class MachineRegistry:
    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        graph: AccessGraph,
        verifier: SignatureVerifier,
        failures: AuthFailures,
    ) -> None:
        self.ledger = ledger
        self.failures = failures
        self.clock = clock
        self.graph = graph
        self.verifier = verifier

    # -- loading ---------------------------------------------------------------

    def machine(self, machine_id: str) -> Machine:
        try:
            machine: object = self.ledger.repository.get(uuid.UUID(parse_machine_id(machine_id)))
        except AggregateNotFoundError:
            machine = None
        if not isinstance(machine, Machine):  # a UUID naming another kind of aggregate
            raise NotFound(f"Machine {machine_id[:40]} not found")
        return machine

    def _vault(self) -> Vault:
        vault = self.ledger.vault()
        if vault is None:
            raise Conflict("The vault is not initialised yet: run `keyledger init`")
        return vault

    # -- registration ----------------------------------------------------------

    def create_bootstrap_token(self, name: str, audit: AuditStamp) -> tuple[str, int]:
        """A single-use token valid ten minutes; only its hash is stored."""
        self._vault()
        if name:
            validate_machine_name(name)
        token = secrets.token_hex(24)
        expires = self.clock.now_ms() + BOOTSTRAP_TTL_MS
        self.ledger.save_or_conflict(
            BootstrapToken(
                digest=token_digest(token), expires_ms=expires, machine_name=name, audit=audit
            )
        )
        return token, expires

    def register(
        self,
        token: str,
        public_key_b64: str,
        hostname: str,
        name: str | None,
        source_ip: str,
        replaces: str | None = None,
        replaces_signature: str | None = None,
    ) -> tuple[Machine, Vault]:
        """Redeem a bootstrap token: the new machine starts pending.

        Re-registering replaces the old identity: a host that proves it holds the old
        machine's key (a signature over `replace_payload`) gets that machine revoked,
        with its grants and memberships, in the same save. The new one needs approval.
        """
        vault = self._vault()
        stamp = AuditStamp(ActorKind.EXTERNAL, source_ip)
        try:
            if not TOKEN_PATTERN.fullmatch(token):
                raise AuthenticationFailed("Bootstrap token is invalid, expired or already used")
            bootstrap = load_token(self.ledger, token)  # a bootstrap or temp-machine token
            machine_id = str(uuid.uuid4())
            bootstrap.redeem(machine_id, self.clock.now_ms(), stamp)
        except AuthenticationFailed:
            # Anyone can try tokens: audited in the access log, folded, never a vault event.
            self.failures.record(source_ip, "bootstrap token rejected")
            raise
        try:
            raw = base64.b64decode(public_key_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("publicKey must be standard base64") from None
        hostname = hostname.strip() or "unknown"
        if not HOSTNAME_PATTERN.fullmatch(hostname):
            raise InvalidInput("hostname must be 1–255 letters, digits, dots, dashes, underscores")
        machine_name = validate_machine_name(name or bootstrap.machine_name or hostname)
        retired: list[Changed] = []
        if replaces is not None:
            retired = self._retire(replaces, replaces_signature, token, public_key_b64, source_ip)
        machine = Machine(
            machine_id=machine_id,
            name=machine_name,
            public_key=validate_public_key(raw),
            hostname=hostname,
            replaces=replaces if retired else None,
            audit=AuditStamp(
                ActorKind.MACHINE,
                source_ip,
                machine_id=machine_id,
                detail=f"registered {machine_name} from host {hostname}",
            ),
        )
        if isinstance(bootstrap, TempToken):  # the script acts: actorKind machine
            limit = bootstrap.limits(self.clock.now_ms())
            machine.make_temporary(
                *limit, AuditStamp(ActorKind.MACHINE, source_ip, machine_id=machine_id)
            )
        self.ledger.save_or_conflict(bootstrap, machine, *retired)
        return machine, vault

    def _retire(
        self, old_id: str, signature: str | None, token: str, public_key_b64: str, ip: str
    ) -> list[Changed]:
        old = self.machine(old_id)
        try:
            raw = base64.b64decode(signature or "", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        payload = replace_payload(token, public_key_b64)
        if old.status is MachineStatus.REVOKED or not self.verifier.verify(
            old.public_key, payload, raw
        ):
            raise AuthenticationFailed("replacesSignature does not prove the old machine's key")
        stamp = AuditStamp(ActorKind.MACHINE, ip, machine_id=old.machine_id)
        return self._revocation(old, stamp.with_detail("replaced by a new registration"))

    # -- lifecycle -------------------------------------------------------------

    def approve(self, machine_id: str, audit: AuditStamp) -> Machine:
        machine = self.machine(machine_id)
        machine.approve(self._about(machine, audit))
        self.ledger.save_or_conflict(machine)
        return machine

    def deny(self, machine_id: str, audit: AuditStamp) -> Machine:
        machine = self.machine(machine_id)
        machine.deny(self._about(machine, audit))
        self.ledger.save_or_conflict(machine)
        return machine

    def disable(self, machine_id: str, audit: AuditStamp) -> Machine:
        machine = self.machine(machine_id)
        machine.disable(self._about(machine, audit))
        self.ledger.save_or_conflict(machine)
        return machine

    def enable(self, machine_id: str, audit: AuditStamp) -> Machine:
        machine = self.machine(machine_id)
        machine.enable(self._about(machine, audit))
        self.ledger.save_or_conflict(machine)
        return machine

    def rename(self, machine_id: str, name: str, audit: AuditStamp) -> Machine:
        machine = self.machine(machine_id)
        machine.rename(name, self._about(machine, audit))
        self.ledger.save_or_conflict(machine)
        return machine

    def revoke_preview(self, machine_id: str) -> dict[str, int]:
        machine = self.machine(machine_id)
        return {
            "grants": len(self.graph.machine_grants(machine.machine_id)),
            "projects": len(self.graph.machine_projects(machine.machine_id)),
        }

    def revoke(self, machine_id: str, audit: AuditStamp) -> dict[str, int]:
        """Revoke for good, dropping every grant and project membership in one save."""
        machine = self.machine(machine_id)
        changed = self._revocation(machine, self._about(machine, audit))
        self.ledger.save_or_conflict(*changed)
        grants = sum(isinstance(c, Secret) for c in changed)
        return {"grants": grants, "projects": sum(isinstance(c, Project) for c in changed)}

    def _revocation(self, machine: Machine, stamp: AuditStamp) -> list[Changed]:
        """The revoked machine plus every secret, project and agency it must leave."""
        changed: list[Changed] = []
        for secret_id in self.graph.machine_grants(machine.machine_id):
            try:
                secret = self.ledger.secret(secret_id)
            except NotFound:  # purged, or its project was (a read model may lag)
                continue
            if machine.machine_id in secret.grants:
                secret.revoke_grant(machine.machine_id, stamp.with_detail("machine revoked"))
                changed.append(secret)
        for project_id in self.graph.machine_projects(machine.machine_id):
            try:
                project = self.ledger.project(project_id, in_trash=True)
            except NotFound:
                continue
            if machine.machine_id in project.machines:
                project.remove_machine(machine.machine_id, stamp.with_detail("machine revoked"))
                changed.append(project)
        agencies = self.graph.machine_agencies(machine.machine_id)
        now = self.clock.now_ms()
        gone = stamp.with_detail("agent unbound: machine revoked")
        changed += released(self.ledger, agencies, machine.machine_id, now, gone)
        machine.revoke(stamp)
        return [machine, *changed]

    @staticmethod
    def _about(machine: Machine, audit: AuditStamp) -> AuditStamp:
        return AuditStamp(
            audit.actor_kind,
            audit.source_ip,
            user_id=audit.user_id,
            machine_id=machine.machine_id,
            ai_agent_id=audit.ai_agent_id,
            detail=audit.detail or machine.name,
        )

    # -- membership and grants -------------------------------------------------

    def _live_machine(self, machine_id: str) -> Machine:
        machine = self.machine(machine_id)
        if machine.status in (MachineStatus.REVOKED, MachineStatus.DENIED):
            raise Conflict(f"Machine {machine_id} is {machine.status.value}")
        return machine

    def add_to_project(self, machine_id: str, project_id: str, audit: AuditStamp) -> None:
        machine = self._live_machine(machine_id)
        project = self.ledger.project(project_id)
        project.add_machine(machine.machine_id, self._about(machine, audit))
        self.ledger.save_or_conflict(project)

    def remove_from_project(self, machine_id: str, project_id: str, audit: AuditStamp) -> int:
        """Detach a machine; its grants on that project's secrets go with it."""
        machine = self.machine(machine_id)
        project = self.ledger.project(project_id, in_trash=True)  # less access: always fine
        stamp = self._about(machine, audit)
        project.remove_machine(machine.machine_id, stamp)
        dropped: list[Secret] = []
        for secret_id in self.graph.machine_grants(machine.machine_id):
            secret = self.ledger.secret(secret_id)
            if secret.project_id == project_id and machine.machine_id in secret.grants:
                secret.revoke_grant(machine.machine_id, stamp.with_detail("removed from project"))
                dropped.append(secret)
        unbound = released(
            self.ledger,
            self.graph.machine_agencies(machine.machine_id),
            machine.machine_id,
            self.clock.now_ms(),
            stamp.with_detail("agent unbound: removed from project"),
            project_id=project.project_id,
        )
        self.ledger.save_or_conflict(project, *dropped, *unbound)
        return len(dropped)

    def grant(self, machine_id: str, secret_id: str, audit: AuditStamp) -> None:
        machine = self._live_machine(machine_id)
        secret = self.ledger.secret(secret_id)
        project = self.ledger.project(secret.project_id)
        if machine.machine_id not in project.machines:
            raise Conflict(
                f"Add machine {machine.machine_id} to project {project.project_id} first"
            )
        secret.grant(machine.machine_id, self._about(machine, audit))
        self.ledger.save_or_conflict(secret)

    def revoke_grant(self, machine_id: str, secret_id: str, audit: AuditStamp) -> None:
        machine = self.machine(machine_id)
        secret = self.ledger.secret(secret_id)
        stamp = self._about(machine, audit)
        secret.revoke_grant(machine.machine_id, stamp)
        now = self.clock.now_ms()
        unbound = released(
            self.ledger, [secret_id], machine.machine_id, now, stamp.with_detail("agent unbound")
        )
        self.ledger.save_or_conflict(secret, *unbound)

    # -- IP allowlist ----------------------------------------------------------

    def set_allowlist(self, enabled: bool, audit: AuditStamp) -> Vault:
        vault = self._vault()
        if enabled:
            vault.enable_allowlist(audit)
        else:
            vault.disable_allowlist(audit)
        self.ledger.save_or_conflict(vault)
        return vault

    def add_allowlist_entry(self, cidr: str, label: str, audit: AuditStamp) -> Vault:
        vault = self._vault()
        vault.add_allowlist_entry("ip_" + ids.new_public_id("")[:10], cidr, label, audit)
        self.ledger.save_or_conflict(vault)
        return vault

    def remove_allowlist_entry(self, entry_id: str, audit: AuditStamp) -> Vault:
        vault = self._vault()
        vault.remove_allowlist_entry(entry_id, audit)
        self.ledger.save_or_conflict(vault)
        return vault
