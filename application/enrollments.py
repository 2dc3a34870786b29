"""Enrollment tokens: create, list, revoke, and redeem them for ephemeral machines.

A redemption writes the token (one more use), the new machine (registered, enrolled:
approved with its expiry), its project memberships and its grants in one atomic
save. A racing redemption in another process writes the same token version and
loses; it is retried on fresh state, so the use count is exact across processes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid

from eventsourcing.application import AggregateNotFoundError

from application.failures import AuthFailures
from application.ledger import Ledger
from application.ports import Clock
from domain import ids
from domain.allowlist import parse_cidr
from domain.audit import ActorKind, AuditStamp
from domain.enrollment import (
    INVALID,
    MAX_USES,
    EnrollmentBook,
    EnrollmentToken,
    check_hostname_pattern,
    check_name_pattern,
    digest,
    token_enrollment_id,
)
from domain.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    KeyledgerError,
    NotFound,
)
from domain.machine import Machine, validate_public_key
from domain.machineguard import check_lifetime
from domain.project import Project
from domain.secret import Secret

HOSTNAME_MAX = 255
MIN_MACHINE_LIFETIME_MS = 10_000  # a CI job may be short; the sweep runs every second
RETRIES = 50  # lost races on the token's version: each retry is on fresh state


class Enrollments:
    def __init__(self, ledger: Ledger, clock: Clock, failures: AuthFailures) -> None:
        self.ledger = ledger
        self.clock = clock
        self.failures = failures

    # -- the operator's side ---------------------------------------------------

    def create(
        self,
        name: str,
        project_ids: list[str],
        secret_ids: list[str],
        token_lifetime_ms: int,
        machine_lifetime_ms: int,
        max_uses: int,
        source_cidr: str | None,
        hostname_pattern: str | None,
        name_pattern: str | None,
        audit: AuditStamp,
    ) -> tuple[EnrollmentToken, str]:
        """A token scoped to these projects and secrets; its plaintext is returned once."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput("name must be 1–100 characters")
        if not project_ids:
            raise InvalidInput("At least one project is required")
        if not 1 <= max_uses <= MAX_USES:
            raise InvalidInput(f"maxUses must be 1–{MAX_USES}")
        check_lifetime(token_lifetime_ms, 60_000, "tokenLifetime")
        check_lifetime(machine_lifetime_ms, MIN_MACHINE_LIFETIME_MS, "machineLifetime")
        projects = sorted({self.ledger.project(p).project_id for p in project_ids})
        for secret_id in secret_ids:
            if self.ledger.secret(secret_id).project_id not in projects:
                raise InvalidInput(f"Secret {secret_id} is not in one of the token's projects")
        enrollment_id = ids.new_public_id(ids.ENROLLMENT)
        token = f"{enrollment_id}.{secrets.token_hex(24)}"
        now = self.clock.now_ms()
        enrollment = EnrollmentToken(
            enrollment_id=enrollment_id,
            name=name,
            digest=digest(token),
            project_ids=projects,
            secret_ids=sorted(set(secret_ids)),
            expires_ms=now + token_lifetime_ms,
            machine_lifetime_ms=machine_lifetime_ms,
            max_uses=max_uses,
            source_cidr=parse_cidr(source_cidr) if source_cidr else None,
            hostname_pattern=check_hostname_pattern(hostname_pattern),
            name_pattern=check_name_pattern(name_pattern),
            created_ms=now,
            audit=audit.with_detail(f"enrollment token {enrollment_id} ({name})"),
        )
        book = self._book(audit)
        book.add(enrollment_id, audit)
        self.ledger.save_or_conflict(enrollment, book)
        return enrollment, token

    def _book(self, audit: AuditStamp) -> EnrollmentBook:
        try:
            book: EnrollmentBook = self.ledger.repository.get(EnrollmentBook.create_id())
        except AggregateNotFoundError:
            book = EnrollmentBook(audit=audit)
        return book

    def get(self, enrollment_id: str) -> EnrollmentToken:
        ids.require(ids.ENROLLMENT, enrollment_id)
        try:
            found: object = self.ledger.repository.get(ids.aggregate_id(enrollment_id))
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, EnrollmentToken):
            raise NotFound(f"Enrollment token {enrollment_id} not found")
        return found

    def all(self) -> list[EnrollmentToken]:
        try:
            book: EnrollmentBook = self.ledger.repository.get(EnrollmentBook.create_id())
        except AggregateNotFoundError:
            return []
        return [self.get(e) for e in reversed(book.enrollment_ids)]

    def revoke(self, enrollment_id: str, audit: AuditStamp) -> EnrollmentToken:
        enrollment = self.get(enrollment_id)
        enrollment.revoke(audit.with_detail(f"enrollment token {enrollment_id}"))
        self.ledger.save_or_conflict(enrollment)
        return enrollment

    # -- redemption (unauthenticated: the token is the credential) -------------

    def register(
        self,
        vault_id: str,
        token: str,
        public_key_b64: str,
        hostname: str,
        name: str | None,
        ip: str,
    ) -> Machine:
        vault = self.ledger.vault()
        if vault is None or vault.vault_id != vault_id:
            raise NotFound(f"Vault {vault_id[:40]} not found")
        try:
            raw = validate_public_key(base64.b64decode(public_key_b64, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidInput("publicKey must be standard base64") from None
        hostname = hostname.strip()[:HOSTNAME_MAX] or "unknown"
        if any(ord(c) < 32 for c in hostname):
            raise InvalidInput("hostname must be printable")
        enrollment_id = "malformed token"
        try:
            enrollment_id = token_enrollment_id(token)
            for _ in range(RETRIES):
                try:
                    return self._redeem(enrollment_id, token, raw, hostname, name, ip)
                except Conflict as lost:
                    if "uses left" in str(lost):
                        raise
            raise Conflict("Too many enrollments at once; try again")
        except (AuthenticationFailed, Forbidden, Conflict) as refused:
            self.failures.record(ip, f"enrollment {enrollment_id} refused: {refused}"[:300])
            raise

    def _redeem(
        self, enrollment_id: str, token: str, raw: bytes, hostname: str, name: str | None, ip: str
    ) -> Machine:
        try:
            enrollment = self.get(enrollment_id)
        except NotFound:
            raise AuthenticationFailed(INVALID) from None
        machine_id = str(uuid.uuid4())
        now = self.clock.now_ms()
        external = AuditStamp(ActorKind.EXTERNAL, ip, machine_id=machine_id)
        use = enrollment.use(token, machine_id, ip, hostname, now, external)
        machine_name = enrollment.machine_name(use, hostname, name)
        machine = Machine(
            machine_id=machine_id,
            name=machine_name,
            public_key=raw,
            hostname=hostname,
            replaces=None,
            audit=AuditStamp(
                ActorKind.MACHINE,
                ip,
                machine_id=machine_id,
                detail=f"registered {machine_name} from host {hostname}",
            ),
        )
        expires = now + enrollment.machine_lifetime_ms
        detail = f"enrolled with enrollment token {enrollment_id} (use {use}/{enrollment.max_uses})"
        machine.enroll(enrollment_id, expires, external.with_detail(detail))
        changed = self._scope(enrollment, machine_id, external.with_detail(detail))
        self.ledger.save_or_conflict(enrollment, machine, *changed)
        return machine

    def _scope(
        self, enrollment: EnrollmentToken, machine_id: str, stamp: AuditStamp
    ) -> list[Project | Secret]:
        """The token's projects and grants, exactly: never more (a purged one is skipped)."""
        projects: list[Project] = []
        for project_id in enrollment.project_ids:
            try:
                project = self.ledger.project(project_id)
            except KeyledgerError:
                continue
            project.add_machine(machine_id, stamp)
            projects.append(project)
        member_of = {p.project_id for p in projects}
        secrets_: list[Secret] = []
        for secret_id in enrollment.secret_ids:
            try:
                secret = self.ledger.secret(secret_id)
            except NotFound:
                continue
            if secret.project_id in member_of and not secret.in_trash:
                secret.grant(machine_id, stamp)
                secrets_.append(secret)
        return [*projects, *secrets_]
