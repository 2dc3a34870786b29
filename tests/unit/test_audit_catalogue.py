"""Every audit action the code can emit is in the one catalogue, with one severity.

The code is read, not imported: every call that records an action with a literal
name (`records.entry("…")`, `.write("…")`, `.submit("…")`, `ledger.record("…")`,
`AuditRecord(action="…")`, `AccessEntry.of("…")`) is found in the source tree, and
every event topic's action comes from domain.audit's topic table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from domain.audit import ACTIONS, RECORD_ACTIONS, RECORD_SEVERITY, TOPIC_ACTIONS, action_for
from domain.auditcatalogue import BY_ACTION, CATALOGUE, SEVERITY_RANK, ActorKind, Severity

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "application", "infrastructure", "interfaces")
RECORDING_CALLS = {"entry", "write", "submit", "record", "of", "AuditRecord"}
ACTION_NAME = re.compile(r"^[a-z]+(_[a-z]+)+$")
CATEGORIES = {
    "Vault",
    "Projects",
    "Secrets",
    "Machines",
    "Rotation",
    "Authentication",
    "Sessions",
    "Integrations",
    "Policies",
}
# Catalogued for records that nothing emits yet (kept: stores may hold them from before).
NOT_EMITTED_TODAY = {"session_revoke", "trash_purge_expired"}


def _name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def emitted_actions() -> dict[str, str]:
    """action -> where it is recorded (file:line), from the source tree."""
    found: dict[str, str] = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or _name(node) not in RECORDING_CALLS:
                    continue
                candidates = node.args[:1] + [k.value for k in node.keywords if k.arg == "action"]
                for arg in candidates:
                    value = arg.value if isinstance(arg, ast.Constant) else None
                    if isinstance(value, str) and ACTION_NAME.match(value):
                        found.setdefault(value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


EMITTED = emitted_actions()


def test_the_scan_finds_the_known_call_sites() -> None:
    # Guards the scan itself: if it found nothing, the next test would pass vacuously.
    assert {
        "secret_read",
        "secret_read_denied",
        "auth_failure",
        "agent_sync",
        "agent_denied",
        "user_login",
        "user_logout",
    } <= set(EMITTED)


def test_every_emitted_action_is_catalogued() -> None:
    missing = {a: where for a, where in EMITTED.items() if a not in BY_ACTION}
    assert not missing, f"add these to domain/auditcatalogue.py: {missing}"


def test_every_event_topic_action_is_catalogued() -> None:
    for topic, action in TOPIC_ACTIONS.items():
        if action not in (None, "*"):
            assert action in BY_ACTION, topic


def test_every_catalogued_action_is_emitted_somewhere() -> None:
    from_topics = {a for a in TOPIC_ACTIONS.values() if a not in (None, "*")}
    strays = set(BY_ACTION) - from_topics - set(EMITTED)
    assert strays == NOT_EMITTED_TODAY


def test_severities_come_from_the_catalogue() -> None:
    for topic, found in ACTIONS.items():
        if found is not None and found[0] != "*":
            assert found[1] is BY_ACTION[found[0]].severity, topic
    assert set(RECORD_SEVERITY) == set(RECORD_ACTIONS)
    for action, severity in RECORD_SEVERITY.items():
        assert severity is BY_ACTION[action].severity
    assert action_for("keyledger.record.Recorded", "agent_denied") == (
        "agent_denied",
        Severity.HIGH,
    )
    assert action_for("keyledger.secret.Deleted") == ("secret_delete", Severity.HIGH)


def test_catalogue_rows_are_well_formed() -> None:
    names = [e.action for e in CATALOGUE]
    assert len(names) == len(set(names))
    for entry in CATALOGUE:
        assert ACTION_NAME.match(entry.action), entry
        assert isinstance(entry.severity, Severity)
        assert entry.category in CATEGORIES, entry
        assert entry.actor_kinds and all(isinstance(k, ActorKind) for k in entry.actor_kinds)
    assert list(SEVERITY_RANK) == ["critical", "high", "medium", "low", "info"]
