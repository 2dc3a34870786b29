"""The pure point-in-time fold: domain events stamped at chosen instants, no store.

A scripted history advances one minute per step; the state and each machine's gate
verdict are checked between steps, so every condition fails in turn.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from application.ledger import Ledger
from application.pointintime import PointInTime, SecretReads, parse_instant
from application.statecheckpoints import Checkpoints
from application.vaultstate import as_of, fold, instant, who_could_read
from domain.audit import AuditStamp
from domain.errors import InvalidInput
from domain.machine import Machine
from domain.project import Project
from domain.secret import Secret
from domain.values import SealedValue, SecretType, SecretVersion
from domain.vault import Vault

STAMP = AuditStamp.system("test")
T0 = 1_793_499_240_000  # 2026-11-01T02:14Z
MINUTE = 60_000


def version(number: int) -> SecretVersion:
    return SecretVersion(number, SealedValue(b"ciphertext", b"iv" * 6, "dek", number), T0)


class History:
    """Aggregates changed step by step; each step's events stamped one minute apart."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.step = 0

    def at(self, step: int) -> int:
        return T0 + step * MINUTE

    def record(self, *aggregates: Any) -> int:
        """Stamp the aggregates' pending events with the next step's time."""
        self.step += 1
        moment = datetime.fromtimestamp(self.at(self.step) / 1000, tz=UTC)
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                object.__setattr__(event, "timestamp", moment)
                self.events.append(event)
        return self.step


@pytest.fixture
def scripted() -> tuple[History, dict[str, Any]]:
    h = History()
    vault = Vault("vault_aaaaaaaaaa", "usr_aaaaaaaaaa", "o@example.com", "hash", STAMP)
    h.record(vault)  # 1
    project = Project("proj_aaaaaaaaaa", "payments", "", "key", STAMP)
    secret = Secret(
        "sk_aaaaaaaaaa",
        project.project_id,
        "stripe",
        SecretType.STANDARD,
        None,
        "",
        version(1),
        STAMP,
    )
    m1 = Machine(str(uuid.uuid4()), "web-1", b"k" * 32, "web-1.internal", None, STAMP)
    m2 = Machine(str(uuid.uuid4()), "web-2", b"k" * 32, "web-2.internal", None, STAMP)
    h.record(project, secret, m1, m2)  # 2: both pending
    m1.approve(STAMP)
    m2.approve(STAMP)
    project.add_machine(m1.machine_id, STAMP)
    project.add_machine(m2.machine_id, STAMP)
    secret.grant(m1.machine_id, STAMP)
    h.record(m1, m2, project, secret)  # 3: m1 could, m2 has no grant
    secret.replace(version(2), None, STAMP)
    m1.disable(STAMP)
    h.record(secret, m1)  # 4: m1 disabled
    m1.enable(STAMP)
    project.remove_machine(m1.machine_id, STAMP)
    h.record(m1, project)  # 5: m1 not in project
    project.add_machine(m1.machine_id, STAMP)
    vault.enable_allowlist(STAMP)
    h.record(project, vault)  # 6: allowlist enabled and empty: nobody
    vault.add_allowlist_entry("ip_1", "10.0.0.0/8", "office", STAMP)
    h.record(vault)  # 7: m1 could, on condition of the allowlist
    secret.delete(T0, STAMP)
    h.record(secret)  # 8: in the trash
    secret.restore(T0, STAMP)
    secret.revoke_grant(m1.machine_id, STAMP)
    m2.revoke(STAMP)
    h.record(secret, m2)  # 9: m1 no grant, m2 revoked
    return h, {"vault": vault, "project": project, "secret": secret, "m1": m1, "m2": m2}


def verdicts(h: History, step: int, secret_id: str = "sk_aaaaaaaaaa") -> dict[str, Any]:
    answer = who_could_read(fold(h.events, h.at(step)), secret_id)
    return {m["name"]: m["failedCondition"] for m in answer["machines"]}


def test_before_the_vault_existed_the_state_is_empty(scripted: Any) -> None:
    h, _ = scripted
    state = as_of(fold(h.events, T0))
    assert state["vaultExists"] is False and state["events"] == 0
    assert state["projects"] == state["secrets"] == state["machines"] == []
    assert state["ipAllowlist"] == {"enabled": False, "entries": []}
    assert state["frozenProjects"] == []
    assert who_could_read(fold(h.events, T0), "sk_aaaaaaaaaa")["machines"] == []


def test_state_between_steps(scripted: Any) -> None:
    h, a = scripted
    m1 = a["m1"].machine_id
    two = as_of(fold(h.events, h.at(2) + 30_000))
    assert [m["status"] for m in two["machines"]] == ["pending", "pending"]
    assert two["memberships"] == [] and two["grants"] == []
    assert two["secrets"][0]["version"] == 1 and "ciphertext" not in str(two)
    four = as_of(fold(h.events, h.at(4)))  # exactly at the step: included
    assert four["secrets"][0]["version"] == 2
    assert {m["name"]: m["status"] for m in four["machines"]}["web-1"] == "disabled"
    assert four["grants"] == [{"machineId": m1, "secretId": "sk_aaaaaaaaaa"}]
    five = as_of(fold(h.events, h.at(5)))
    assert {"machineId": m1, "projectId": "proj_aaaaaaaaaa"} not in five["memberships"]
    seven = as_of(fold(h.events, h.at(7)))
    assert seven["ipAllowlist"] == {
        "enabled": True,
        "entries": [{"id": "ip_1", "cidr": "10.0.0.0/8", "label": "office"}],
    }
    assert as_of(fold(h.events, h.at(8)))["secrets"][0]["state"] == "trash"
    nine = as_of(fold(h.events, h.at(9)))
    assert nine["grants"] == [] and nine["secrets"][0]["state"] == "live"


def test_each_gate_condition_fails_in_turn(scripted: Any) -> None:
    h, _ = scripted
    assert verdicts(h, 1) == {}
    assert verdicts(h, 2) == {"web-1": "machine is pending", "web-2": "machine is pending"}
    assert verdicts(h, 3) == {"web-1": None, "web-2": "no grant"}
    assert verdicts(h, 4)["web-1"] == "machine is disabled"
    assert verdicts(h, 5)["web-1"] == "machine not in project"
    assert verdicts(h, 6)["web-1"] == "IP allowlist enabled with no entries"
    seven = who_could_read(fold(h.events, h.at(7)), "sk_aaaaaaaaaa")
    web1 = next(m for m in seven["machines"] if m["name"] == "web-1")
    assert web1["couldRead"] is True
    assert web1["conditions"] == ["source IP on the vault allowlist (10.0.0.0/8)"]
    assert verdicts(h, 8)["web-1"] == "secret is in the trash"
    assert verdicts(h, 9) == {"web-1": "no grant", "web-2": "machine is revoked"}
    unknown = who_could_read(fold(h.events, h.at(9)), "sk_bbbbbbbbbb")
    assert unknown["secretState"] == "absent"
    assert {m["failedCondition"] for m in unknown["machines"]} == {
        "secret did not exist",
        "machine is revoked",
    }


def test_a_freeze_is_folded_and_refuses_until_unfrozen(scripted: Any) -> None:
    h, a = scripted
    project, secret, m1 = a["project"], a["secret"], a["m1"]
    secret.grant(m1.machine_id, STAMP)
    granted = h.record(secret)  # 10
    project.freeze(STAMP)
    frozen = h.record(project)  # 11
    project.unfreeze(STAMP)
    thawed = h.record(project)  # 12
    assert verdicts(h, granted)["web-1"] is None
    assert verdicts(h, frozen)["web-1"] == "project is frozen"
    assert as_of(fold(h.events, h.at(frozen)))["frozenProjects"] == ["proj_aaaaaaaaaa"]
    assert as_of(fold(h.events, h.at(frozen)))["projects"][0]["frozen"] is True
    assert verdicts(h, thawed)["web-1"] is None
    assert as_of(fold(h.events, h.at(thawed)))["frozenProjects"] == []


def test_a_late_event_cuts_its_aggregate_only(scripted: Any) -> None:
    """Log order is commit order: an event committed after a later-stamped one of the
    same aggregate (clock skew) must not be applied past the gap."""
    h, a = scripted
    m1 = a["m1"]
    m1.disable(STAMP)
    h.record(m1)  # 10
    m1.enable(STAMP)
    h.record(m1)  # 11
    late, later = h.events[-2], h.events[-1]
    object.__setattr__(late, "timestamp", datetime.fromtimestamp(h.at(20) / 1000, tz=UTC))
    state = as_of(fold(h.events, h.at(12)))
    web1 = next(m for m in state["machines"] if m["name"] == "web-1")
    assert web1["status"] == "approved"  # as after step 9: neither later event applied
    assert state["events"] == len(h.events) - 2
    assert later.timestamp < late.timestamp


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-01T02:14Z", T0),
        ("2026-11-01T02:14:00Z", T0),
        ("2026-11-01T02:14:00.250Z", T0 + 250),
        ("2026-11-01T04:14+02:00", T0),
        ("2026-11-01T02:14", T0),
        (str(T0), T0),
    ],
)
def test_times_iso_or_epoch_ms(text: str, ms: int) -> None:
    assert parse_instant(text) == ms


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00Z", "", "1e12", "-5"])
def test_malformed_times_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_instant(text)


def test_checkpoints_answer_exactly_as_a_fold_from_scratch(scripted: Any) -> None:
    """Checkpoints every 3 events (thinned past 4), shared copy-on-write between folds,
    against a fresh fold from the first event, at every step, just before and between
    steps; with one event stamped late, so a checkpoint holding it must not serve the
    instants before it."""
    h, _ = scripted
    object.__setattr__(h.events[5], "timestamp", instant(h.at(6) + 1))  # a late stamp
    ledger = Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"}, cast(Any, None), cast(Any, None))
    ledger.recorder.insert_events([ledger.mapper.to_stored_event(e) for e in h.events])
    nothing = cast(SecretReads, None)
    checkpointed = PointInTime(ledger, nothing, Checkpoints(every=3, keep=4))
    checkpointed.state_at(h.at(h.step))  # takes them, all the way along the log
    assert 2 <= len(checkpointed.checkpoints) <= 4
    assert checkpointed.checkpoints.start(h.at(h.step))[1] > 1  # a late T starts past 1
    for step in range(h.step + 1):
        for at in (h.at(step) - 1, h.at(step), h.at(step) + 1, h.at(step) + 30_000):
            plain = PointInTime(ledger, nothing, Checkpoints(every=10**9))  # folds from 1
            assert as_of(checkpointed.state_at(at)) == as_of(plain.state_at(at)), (step, at)
