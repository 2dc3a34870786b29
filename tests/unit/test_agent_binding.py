"""The RotationSchedule's agent binding: named, unbound, re-bound; pending withdrawn."""

from __future__ import annotations

import pytest

from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput
from domain.rotation import (
    HEALTHY,
    NO_AGENT,
    ManagedSpec,
    PendingRotation,
    RotationPolicy,
    RotationSchedule,
)
from domain.values import SealedValue, SecretVersion

OP = AuditStamp.system("operator")
NOW = 1_000_000
DUE = NOW + 3_600_000


def schedule(managed: bool = True) -> RotationSchedule:
    sealed = SealedValue(b"c", b"i" * 12, "dek_c", 0)
    spec = ManagedSpec("postgresql", "app", sealed) if managed else None
    return RotationSchedule("sk_x", "proj_x", RotationPolicy(3600), spec, DUE, OP)


def issue(s: RotationSchedule, rotation_id: str = "rot_1") -> None:
    sealed = SealedValue(b"n", b"j" * 12, "dek_n", 2)
    s.issue_pending(PendingRotation(rotation_id, SecretVersion(2, sealed, NOW), NOW, "now"), OP)


def topics(s: RotationSchedule) -> list[str]:
    return [type(e).TOPIC.rsplit(".", 1)[1] for e in s.collect_events()]


def test_nobody_is_the_agent_until_named() -> None:
    s = schedule()
    assert s.agent_machine_id is None
    s.set_agent("m-a", NOW, OP)
    assert s.agent_machine_id == "m-a" and s.agent_status == NO_AGENT
    with pytest.raises(Conflict):
        s.set_agent("m-a", NOW, OP)
    with pytest.raises(InvalidInput):
        schedule(managed=False).set_agent("m-a", NOW, OP)


def test_a_first_binding_keeps_a_rotation_nobody_has_seen() -> None:
    s = schedule()
    issue(s)
    s.set_agent("m-a", NOW, OP)
    assert s.pending is not None and s.pending.rotation_id == "rot_1"


def test_rebinding_withdraws_the_pending_rotation_and_makes_it_due_now() -> None:
    s = schedule()
    s.set_agent("m-a", NOW, OP)
    s.change_agent_status(HEALTHY, "", OP)
    issue(s)
    s.set_agent("m-b", NOW + 5, OP)
    assert s.pending is None and s.next_due_ms == NOW + 5
    assert s.agent_machine_id == "m-b" and s.agent_status == NO_AGENT
    with pytest.raises(Conflict):
        s.confirm("rot_1", OP)  # never goes live
    assert topics(s)[-2:] == ["Withdrawn", "AgentBound"]


def test_unbinding_and_releasing() -> None:
    s = schedule()
    with pytest.raises(Conflict):
        s.unset_agent(NOW, OP)
    s.set_agent("m-a", NOW, OP)
    assert not s.release_agent("m-other", NOW, OP)
    assert s.agent_machine_id == "m-a"
    issue(s)
    assert s.release_agent("m-a", NOW, OP)
    assert s.agent_machine_id is None and s.pending is None
    assert topics(s)[-2:] == ["Withdrawn", "AgentUnbound"]
