"""The vault as it was at an instant, folded from the ledger's own events.

Forensics must not trust today's read models: they are rebuilt, and they only know
the present. Here every vault, project, secret and machine event stamped at or
before T is applied to the domain's own aggregates (the same `mutate` a repository
uses), so the answer follows the domain exactly, and the machine gate's own denial
logic can then be asked about that past state.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from application.access import MachineGate
from domain.audit import ACTIONS
from domain.machine import Machine, MachineStatus
from domain.project import Project
from domain.secret import Secret
from domain.vault import Vault

# The events that shape what a machine may read; everything else (records, name
# claims, rotations, tokens) is left in the store unread.
STATE_TOPICS: tuple[str, ...] = tuple(
    topic for topic in ACTIONS if topic.split(".")[1] in {"vault", "project", "secret", "machine"}
)


def instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class VaultState:
    """Aggregates as of `at_ms`, keyed by their public ids (machines by their UUIDs)."""

    at_ms: int
    vault: Vault | None = None
    projects: dict[str, Project] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    machines: dict[str, Machine] = field(default_factory=dict)
    events: int = 0  # how many events were applied


class StateFold:
    """Applies events in log order, keeping only each aggregate's prefix up to T.

    An event stamped after T is skipped and so is every later event of that aggregate
    (its versions must stay contiguous). Events of different aggregates may be
    committed slightly out of timestamp order, which is why the caller reads a little
    past T rather than stopping at the first later event.

    Copy on write: aggregates taken from a checkpoint are shared with it (and with
    other folds) and never mutated; an event copies its aggregate first, so resuming
    costs a dict copy, not a copy of the whole vault."""

    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms
        self.until = instant(at_ms)
        self.aggregates: dict[UUID, Any] = {}
        self._owned: set[UUID] = set()  # aggregates this fold may mutate in place
        self._cut: set[UUID] = set()
        self.events = 0

    def resume(self, aggregates: Mapping[UUID, Any], events: int) -> None:
        """Start from a checkpoint: the fold of a log prefix holding nothing after T."""
        self.aggregates, self.events = dict(aggregates), events
        self._owned = set()

    def freeze(self) -> dict[UUID, Any]:
        """The aggregates as they are now, to keep as a checkpoint: from here on this
        fold copies an aggregate before it changes it."""
        self._owned = set()
        return dict(self.aggregates)

    @property
    def clean(self) -> bool:
        """Nothing cut yet: the state is exactly the fold of the log read so far."""
        return not self._cut

    def apply(self, event: Any) -> bool:
        """Apply one domain event; False when it lies after T."""
        originator = event.originator_id
        if originator in self._cut:
            return False
        if event.timestamp > self.until:
            self._cut.add(originator)
            return False
        aggregate = self.aggregates.get(originator)
        if aggregate is not None and originator not in self._owned:
            aggregate = _copy(aggregate)
        self.aggregates[originator] = event.mutate(aggregate)
        self._owned.add(originator)
        self.events += 1
        return True

    def state(self) -> VaultState:
        state = VaultState(self.at_ms, events=self.events)
        for aggregate in self.aggregates.values():
            if isinstance(aggregate, Vault):
                state.vault = aggregate
            elif isinstance(aggregate, Project):
                state.projects[aggregate.project_id] = aggregate
            elif isinstance(aggregate, Secret):
                state.secrets[aggregate.secret_id] = aggregate
            elif isinstance(aggregate, Machine):
                state.machines[aggregate.machine_id] = aggregate
        return state


def _copy(aggregate: Any) -> Any:
    """A deep copy; a pickle round trip is several times faster than copy.deepcopy."""
    return pickle.loads(pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301


def fold(events: Iterable[Any], at_ms: int) -> VaultState:
    folding = StateFold(at_ms)
    for event in events:
        folding.apply(event)
    return folding.state()


# -- answers --------------------------------------------------------------------


def machine_state(machine: Machine) -> str:
    if machine.status is MachineStatus.APPROVED and not machine.enabled:
        return "disabled"
    return machine.status.value


def secret_state(secret: Secret) -> str:
    if secret.purged:
        return "purged"
    return "trash" if secret.in_trash else "live"


def allowlist_view(state: VaultState) -> dict[str, Any]:
    vault = state.vault
    return {
        "enabled": bool(vault and vault.allowlist_enabled),
        "entries": [
            {"id": e.entry_id, "cidr": e.cidr, "label": e.label}
            for e in (vault.allowlist if vault else [])
        ],
    }


def as_of(state: VaultState) -> dict[str, Any]:
    """The state at T as plain data: ids, names, versions, statuses. Never a value."""
    projects = sorted(state.projects.values(), key=lambda p: p.project_id)
    secrets = sorted(state.secrets.values(), key=lambda s: s.secret_id)
    return {
        "at": state.at_ms,
        "vaultExists": state.vault is not None,
        "sealed": bool(state.vault and state.vault.sealed_by_operator),
        "projects": [
            {"id": p.project_id, "name": p.name, "description": p.description, "frozen": p.frozen}
            for p in projects
        ],
        "secrets": [
            {
                "id": s.secret_id,
                "projectId": s.project_id,
                "name": s.name,
                "type": s.secret_type.value,
                "version": s.current.number,
                "state": secret_state(s),
                "managed": s.managed,
            }
            for s in secrets
        ],
        "machines": [
            {
                "id": m.machine_id,
                "name": m.name,
                "hostname": m.hostname,
                "status": machine_state(m),
                "enabled": m.enabled,
            }
            for m in sorted(state.machines.values(), key=lambda m: m.machine_id)
        ],
        "memberships": [
            {"machineId": machine_id, "projectId": p.project_id}
            for p in projects
            for machine_id in sorted(p.machines)
        ],
        "grants": [
            {"machineId": machine_id, "secretId": s.secret_id}
            for s in secrets
            if not s.purged
            for machine_id in sorted(s.grants)
        ],
        "ipAllowlist": allowlist_view(state),
        "frozenProjects": [p.project_id for p in projects if p.frozen],
        "events": state.events,
    }


def gate_failure(state: VaultState, machine: Machine, secret: Secret | None) -> str:
    """The first machine-gate condition this machine failed at T ("" if none), in the
    gate's own order. The caller's IP is unknown: only an allowlist that lets no
    address through at all counts as a failure."""
    vault = state.vault
    if vault is None:
        return "vault did not exist"
    if vault.allowlist_enabled and not vault.allowlist:
        return "IP allowlist enabled with no entries"
    if machine.status is MachineStatus.REVOKED:
        return "machine is revoked"
    if not machine.may_authenticate:
        return f"machine is {machine_state(machine)}"
    if vault.sealed_by_operator:
        return "server is sealed"
    if secret is None:
        return "secret did not exist"
    if secret.purged:
        return "secret is purged"
    project = state.projects.get(secret.project_id)
    if project is None:
        return "project did not exist"
    reason, _error = MachineGate.denial(machine, secret, project)
    return reason


def who_could_read(state: VaultState, secret_id: str) -> dict[str, Any]:
    """Each machine known at T: could it read `secret_id`, and if not, why."""
    secret = state.secrets.get(secret_id)
    allowlist = allowlist_view(state)
    conditions = []
    if allowlist["enabled"] and allowlist["entries"]:
        cidrs = ", ".join(e["cidr"] for e in allowlist["entries"])
        conditions.append(f"source IP on the vault allowlist ({cidrs})")
    machines = []
    for machine in sorted(state.machines.values(), key=lambda m: m.machine_id):
        failed = gate_failure(state, machine, secret)
        machines.append(
            {
                "machineId": machine.machine_id,
                "name": machine.name,
                "status": machine_state(machine),
                "couldRead": not failed,
                "failedCondition": failed or None,
                "conditions": conditions if not failed else [],
            }
        )
    return {
        "at": state.at_ms,
        "secretId": secret_id,
        "secretState": secret_state(secret) if secret else "absent",
        "version": secret.current.number if secret else None,
        "ipAllowlist": allowlist,
        "machines": machines,
    }
