"""Canary and freeze rules on the aggregates themselves: idempotence, conflicts, disguise."""

from __future__ import annotations

import pytest

from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput
from domain.project import Project
from domain.secret import Secret
from domain.values import CanaryOptions, SealedValue, SecretType, SecretVersion

STAMP = AuditStamp.system("test")


def secret(canary: CanaryOptions | None) -> Secret:
    version = SecretVersion(1, SealedValue(b"c", b"iv" * 6, "dek", 1), 0)
    kind = SecretType.CANARY if canary else SecretType.STANDARD
    return Secret("sk_aaaaaaaaaa", "proj_aaaaaaaaaa", "aws", kind, None, "", version, STAMP,
                  canary=canary)  # fmt: skip


def topics(aggregate: object) -> list[str]:
    return [type(e).TOPIC.rsplit(".", 1)[1] for e in aggregate.collect_events()]  # type: ignore[attr-defined]


def test_freeze_and_unfreeze_are_events_and_refuse_repeats() -> None:
    project = Project("proj_aaaaaaaaaa", "payments", "", "key", STAMP)
    project.freeze(STAMP)
    assert project.frozen
    with pytest.raises(Conflict):
        project.freeze(STAMP)
    project.unfreeze(STAMP)
    with pytest.raises(Conflict):
        project.unfreeze(STAMP)
    assert topics(project) == ["Created", "Frozen", "Unfrozen"]
    project.delete(0, STAMP)
    with pytest.raises(Conflict):
        project.freeze(STAMP)  # a trashed project is not frozen, it is gone for machines


def test_arming_is_idempotent_and_only_for_canaries() -> None:
    canary = secret(CanaryOptions())
    assert canary.armed_canary
    assert canary.set_armed(True, STAMP) is False
    assert canary.set_armed(False, STAMP) is True and not canary.armed_canary
    assert canary.set_armed(False, STAMP) is False
    assert canary.set_armed(True, STAMP) is True
    assert topics(canary) == ["Created", "CanaryDisarmed", "CanaryArmed"]
    plain = secret(None)
    assert not plain.armed_canary
    with pytest.raises(InvalidInput):
        plain.set_armed(True, STAMP)


def test_machines_are_told_a_canary_is_standard() -> None:
    assert SecretType.CANARY.machine_facing == "standard"
    assert SecretType.STRUCTURED.machine_facing == "structured"
    with pytest.raises(InvalidInput):
        secret(CanaryOptions()).replace(
            SecretVersion(2, SealedValue(b"c", b"iv" * 6, "dek", 2), 0), None, STAMP
        )
