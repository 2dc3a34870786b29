"""Enrollment tokens: a reusable policy template that registers ephemeral machines.

The plaintext is `enr_…` + "." + 48 hex and is shown once; only the SHA-256 of the
whole token is kept. Each use is an event on this aggregate, so two processes
redeeming the last use both write the same next version and the store lets one win:
the count can never pass `max_uses`. Revoking or exhausting stops new enrollments
only; machines already enrolled keep their own lifetime.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.audit import AuditStamp
from domain.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput
from domain.machine import validate_machine_name
from domain.machineguard import ip_in

MAX_USES = 10_000
MAX_PATTERN = 200
TOKEN = re.compile(r"(enr_[a-z0-9]{10})\.[0-9a-f]{48}")
INVALID = "Enrollment token is invalid, expired or revoked"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_enrollment_id(token: str) -> str:
    """The enrollment id a well-formed token names (401 for anything else)."""
    found = TOKEN.fullmatch(token) if len(token) < 100 else None
    if not found:
        raise AuthenticationFailed(INVALID)
    return found[1]


def check_hostname_pattern(pattern: str | None) -> str | None:
    if not pattern:
        return None
    if len(pattern) > MAX_PATTERN:
        raise InvalidInput(f"hostnamePattern must be at most {MAX_PATTERN} characters")
    try:
        re.compile(pattern)
    except re.error as bad:
        raise InvalidInput(f"hostnamePattern is not a valid regex: {bad}") from None
    return pattern


def check_name_pattern(pattern: str | None) -> str | None:
    """A name template: `{n}` (the use number) and `{hostname}` are filled in."""
    if not pattern:
        return None
    if len(pattern) > 100:
        raise InvalidInput("namePattern must be at most 100 characters")
    leftover = pattern.replace("{n}", "").replace("{hostname}", "")
    if "{" in leftover or "}" in leftover:
        raise InvalidInput("namePattern may only use the placeholders {n} and {hostname}")
    validate_machine_name(pattern.replace("{n}", "1").replace("{hostname}", "h"))
    return pattern


class EnrollmentToken(Aggregate):
    TOPIC = "keyledger.enrollment.EnrollmentToken"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.enrollment.Event"

    @staticmethod
    def create_id(enrollment_id: str) -> UUID:
        return ids.aggregate_id(enrollment_id)

    @event("Created", topic="keyledger.enrollment.Created")
    def __init__(
        self,
        enrollment_id: str,
        name: str,
        digest: str,
        project_ids: list[str],
        secret_ids: list[str],
        expires_ms: int,
        machine_lifetime_ms: int,
        max_uses: int,
        source_cidr: str | None,
        hostname_pattern: str | None,
        name_pattern: str | None,
        created_ms: int,
        audit: AuditStamp,
    ) -> None:
        self.enrollment_id = enrollment_id
        self.name = name
        self.digest = digest
        self.project_ids = list(project_ids)
        self.secret_ids = list(secret_ids)
        self.expires_ms = expires_ms
        self.machine_lifetime_ms = machine_lifetime_ms
        self.max_uses = max_uses
        self.source_cidr = source_cidr
        self.hostname_pattern = hostname_pattern
        self.name_pattern = name_pattern
        self.created_ms = created_ms
        self.uses = 0
        self.revoked = False
        self.machine_ids: list[str] = []

    def status(self, now_ms: int) -> str:
        if self.revoked:
            return "revoked"
        if now_ms >= self.expires_ms:
            return "expired"
        return "exhausted" if self.uses >= self.max_uses else "active"

    def use(
        self, token: str, machine_id: str, ip: str, hostname: str, now_ms: int, audit: AuditStamp
    ) -> int:
        """Spend one use for `machine_id`; the use number (1-based) names the machine."""
        if not hmac.compare_digest(digest(token), self.digest):
            raise AuthenticationFailed(INVALID)
        state = self.status(now_ms)
        if state in ("revoked", "expired"):
            raise AuthenticationFailed(INVALID)
        if state == "exhausted":
            raise Conflict(f"Enrollment token has no uses left ({self.max_uses} used)")
        if self.source_cidr and not ip_in(ip, [self.source_cidr]):
            raise Forbidden(f"Source IP {ip} is outside the token's CIDR")
        if self.hostname_pattern and not re.search(self.hostname_pattern, hostname):
            raise Forbidden("Hostname does not match the token's hostname pattern")
        self._used(machine_id, audit)
        return self.uses

    @event("Used", topic="keyledger.enrollment.Used")
    def _used(self, machine_id: str, audit: AuditStamp) -> None:
        self.uses += 1
        self.machine_ids.append(machine_id)

    def machine_name(self, use: int, hostname: str, asked: str | None) -> str:
        if self.name_pattern:
            name = self.name_pattern.replace("{n}", str(use)).replace("{hostname}", hostname)
            return validate_machine_name(name)
        return validate_machine_name(asked or hostname)

    def revoke(self, audit: AuditStamp) -> None:
        if self.revoked:
            raise Conflict(f"Enrollment token {self.enrollment_id} is already revoked")
        self._revoked(audit)

    @event("Revoked", topic="keyledger.enrollment.Revoked")
    def _revoked(self, audit: AuditStamp) -> None:
        self.revoked = True


class EnrollmentBook(Aggregate):
    """Every enrollment token's id, in creation order: what `list` walks."""

    TOPIC = "keyledger.enrollment.EnrollmentBook"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.enrollment.BookEvent"

    @staticmethod
    def create_id() -> UUID:
        return ids.index_id("enrollment-book")

    @event("Opened", topic="keyledger.enrollment.BookOpened")
    def __init__(self, audit: AuditStamp) -> None:
        self.enrollment_ids: list[str] = []

    @event("Listed", topic="keyledger.enrollment.Listed")
    def add(self, enrollment_id: str, audit: AuditStamp) -> None:
        self.enrollment_ids.append(enrollment_id)
