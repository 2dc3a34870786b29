"""The access policy check in the machine read gate, after the grant.

Called only when `secret.policy_id` is set: an unbound secret costs the caller one
attribute lookup. The policy comes from the gate's per-head aggregate cache (an edit
moves the ledger head, so the next read sees it). Counted axes (rate caps, the TTL
read limit, rotate-after-N) take one store transaction (`ReadCounter`), never process
memory, and only when such an axis is enabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.application import AggregateNotFoundError

from application.access import Caller, MachineGate
from application.ports import Clock
from domain import ids
from domain.errors import Forbidden, Gone, KeyledgerError, TooManyAttempts
from domain.policy import AccessPolicy
from domain.policyjudge import (
    DAY_MS,
    MINUTE_MS,
    TTL,
    Allowed,
    Blocked,
    ReadContext,
    judge_uncounted,
    rate_blocked,
)
from domain.policyrules import PolicyRules
from domain.secret import Secret


@dataclass(frozen=True)
class Take:
    """`full`: the bucket that was already at its cap (nothing was counted), else None."""

    full: str | None
    counts: dict[str, int]


class ReadCounter(Protocol):
    def take(self, secret_id: str, buckets: list[tuple[str, int | None]]) -> Take:
        """Count one read in every bucket if none is at its cap (None: no cap)."""
        ...


@dataclass(frozen=True)
class PolicyRefusal:
    policy_id: str
    blocked: Blocked

    @property
    def detail(self) -> str:
        return f"policy {self.policy_id}: {self.blocked.condition}: {self.blocked.detail}"

    def error(self) -> KeyledgerError:
        blocked = self.blocked
        if blocked.status == 429:
            return TooManyAttempts(blocked.retry_after or 1, "Read rate cap reached")
        if blocked.status == 410:
            return Gone("Secret has been retired by its access policy")
        return Forbidden(f"Access policy: {blocked.detail}")


class PolicyGate:
    def __init__(
        self,
        gate: MachineGate,
        counter: ReadCounter,
        clock: Clock,
        rotate: Callable[[str, str], None],
    ) -> None:
        """`rotate(secret_id, why)`: queue a rotation off the read path (rotate-after-N)."""
        self.gate = gate
        self.cache = gate.cache
        self.counter = counter
        self.clock = clock
        self.rotate = rotate

    def enforce(self, caller: Caller, secret: Secret) -> Allowed:
        """A single read: a refusal is audited (keyed by the request's nonce, like every
        refusal of the gate) and raised as 403, 429 or 410."""
        verdict = self.admit(caller, secret)
        if isinstance(verdict, Allowed):
            self._maybe_rotate(secret, verdict)
            return verdict
        self.gate.settle(caller)
        records = self.gate.records
        stamp = caller.stamp(verdict.detail)
        if not records.write("secret_read_denied", stamp, secret.secret_id, caller.nonce_key):
            self.gate.refuse_replay(caller.source_ip, caller.machine.machine_id)
        raise verdict.error()

    def skips(self, caller: Caller, secret: Secret) -> bool:
        """An export's check: a blocked secret is left out, and audited why."""
        verdict = self.admit(caller, secret)
        if isinstance(verdict, Allowed):
            self._maybe_rotate(secret, verdict)
            return False
        stamp = caller.stamp(f"export skipped it: {verdict.detail}")
        self.gate.records.submit("secret_read_denied", stamp, secret.secret_id).result(timeout=30)
        return True

    def _maybe_rotate(self, secret: Secret, verdict: Allowed) -> None:
        if verdict.rotate:
            self.rotate(secret.secret_id, f"rotate after reads (policy {secret.policy_id})")

    def rules(self, secret: Secret) -> tuple[str, PolicyRules] | None:
        policy_id = secret.policy_id
        if policy_id is None:
            return None
        try:
            policy = self.cache.get(ids.aggregate_id(policy_id))
        except AggregateNotFoundError:
            return None
        if not isinstance(policy, AccessPolicy) or policy.deleted:
            return None
        return policy_id, policy.rules

    def peek(self, caller: Caller, secret: Secret) -> PolicyRefusal | None:
        """The uncounted axes only, counting nothing (for change polling)."""
        found = self.rules(secret)
        if found is None:
            return None
        read = ReadContext(self.clock.now_ms(), caller.source_ip, caller.machine.machine_id)
        blocked = judge_uncounted(found[1], read)
        return PolicyRefusal(found[0], blocked) if blocked is not None else None

    def admit(self, caller: Caller, secret: Secret) -> PolicyRefusal | Allowed:
        """Judge one read now; a read let through is counted where an axis needs it."""
        found = self.rules(secret)
        if found is None:
            return Allowed()
        policy_id, rules = found
        now = self.clock.now_ms()
        read = ReadContext(now, caller.source_ip, caller.machine.machine_id)
        blocked = judge_uncounted(rules, read)
        if blocked is not None:
            return PolicyRefusal(policy_id, blocked)
        buckets = self._buckets(rules, now)
        if not buckets:
            return Allowed()
        take = self.counter.take(secret.secret_id, buckets)
        if take.full == "t":
            return PolicyRefusal(policy_id, Blocked(TTL, 410, "TTL: read limit reached"))
        if take.full is not None:
            minute = take.full.startswith("m:")
            caps = (
                (rules.max_reads_per_minute or 0, 0)
                if minute
                else (0, rules.max_reads_per_day or 0)
            )
            blocked = rate_blocked(rules, now, *caps) or Blocked("rate_cap", 429, "rate cap", 1)
            return PolicyRefusal(policy_id, blocked)
        every = rules.rotate_after_reads or 0
        rotate = rules.rotate_after_reads_enabled and take.counts.get("t", 0) % every == 0
        return Allowed(rotate=rotate)

    @staticmethod
    def _buckets(rules: PolicyRules, now: int) -> list[tuple[str, int | None]]:
        buckets: list[tuple[str, int | None]] = []
        if rules.rate_cap_enabled:
            if rules.max_reads_per_minute is not None:
                buckets.append((f"m:{now // MINUTE_MS}", rules.max_reads_per_minute))
            if rules.max_reads_per_day is not None:
                buckets.append((f"d:{now // DAY_MS}", rules.max_reads_per_day))
        limit = rules.ttl_max_reads if rules.ttl_enabled else None
        if limit is not None or rules.rotate_after_reads_enabled:
            buckets.append(("t", limit))
        return buckets
