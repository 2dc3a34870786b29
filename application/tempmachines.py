"""Temporary machines: single-use tokens with a lifetime and guardrails, extensions
of a machine's expiry (with history and revert), and the expiry sweep."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

from eventsourcing.application import AggregateNotFoundError

from application.ledger import Ledger
from application.ports import Clock
from domain.audit import AuditStamp
from domain.errors import AuthenticationFailed, Conflict, NotFound
from domain.machine import Machine, validate_machine_name
from domain.machineguard import HOUR_MS, check_lifetime, parse_cidrs, parse_window
from domain.temptokens import TEMP_TOKEN_TTL_MS, TempToken, temp_token_id
from domain.tokens import BootstrapToken, token_aggregate_id, token_digest

INVALID = "Bootstrap token is invalid, expired or already used"


def load_token(ledger: Ledger, token: str) -> BootstrapToken | TempToken:
    """The bootstrap or temp-machine token with this plaintext (401 if neither)."""
    for aggregate_id in (token_aggregate_id(token), temp_token_id(token)):
        try:
            found: object = ledger.repository.get(aggregate_id)
        except AggregateNotFoundError:
            continue
        if isinstance(found, BootstrapToken | TempToken):
            return found
    raise AuthenticationFailed(INVALID)


class ExpiringMachines(Protocol):
    def expired_machines(self, now_ms: int) -> list[str]:
        """Approved, enabled machines whose expiry is at or before `now_ms`."""
        ...


class TempMachines:
    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        due: ExpiringMachines,
        machine: Callable[[str], Machine],
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.due = due
        self.machine = machine

    def create_token(
        self,
        name: str,
        lifetime_ms: int,
        cidrs: list[str],
        hours: str | None,
        tz: str,
        audit: AuditStamp,
    ) -> tuple[str, int]:
        """A single-use token (good for a day) for one machine of this lifetime."""
        if self.ledger.vault() is None:
            raise Conflict("The vault is not initialised yet: run `keyledger init`")
        name = validate_machine_name(name)
        check_lifetime(lifetime_ms, HOUR_MS, "lifetime")
        window, zone = parse_window(hours, tz)
        token = secrets.token_hex(24)
        expires = self.clock.now_ms() + TEMP_TOKEN_TTL_MS
        detail = f"temporary machine {name}, lifetime {lifetime_ms // 1000} s"
        self.ledger.save_or_conflict(
            TempToken(
                digest=token_digest(token),
                machine_name=name,
                lifetime_ms=lifetime_ms,
                expires_ms=expires,
                cidrs=parse_cidrs(cidrs),
                hours=window,
                tz=zone,
                audit=audit.with_detail(detail),
            )
        )
        return token, expires

    def extend(self, machine_id: str, until_ms: int, reason: str, audit: AuditStamp) -> Machine:
        machine = self.machine(machine_id)
        stamp = _about(machine, audit, f"extended to {until_ms} ms: {reason.strip()[:200]}")
        machine.extend(until_ms, reason, self.clock.now_ms(), stamp)
        self.ledger.save_or_conflict(machine)
        return machine

    def revert(self, machine_id: str, audit: AuditStamp) -> Machine:
        machine = self.machine(machine_id)
        machine.revert_extension(_about(machine, audit, "latest extension reverted"))
        self.ledger.save_or_conflict(machine)
        return machine

    def expire_due(self, now_ms: int | None = None) -> list[str]:
        """Disable every machine past its expiry (the scheduler's job, each tick)."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        expired = []
        for machine_id in self.due.expired_machines(now):
            try:
                machine = self.machine(machine_id)
                if not machine.is_due(now):
                    continue
                stamp = AuditStamp.system(f"machine {machine.name} expired").with_machine(
                    machine_id
                )
                machine.expire(now, stamp)
                self.ledger.save_or_conflict(machine)
            except (NotFound, Conflict):
                continue  # changed meanwhile: the next tick looks again
            expired.append(machine_id)
        return expired


def _about(machine: Machine, audit: AuditStamp, detail: str) -> AuditStamp:
    return AuditStamp(
        audit.actor_kind,
        audit.source_ip,
        user_id=audit.user_id,
        machine_id=machine.machine_id,
        detail=detail,
    )
