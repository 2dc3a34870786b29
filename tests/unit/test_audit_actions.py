"""Every event an aggregate can emit has an audit action; the table has no strays."""

from __future__ import annotations

import pytest
from eventsourcing.domain import Aggregate

from application.projection import HANDLERS
from domain.audit import ACTIONS, RECORD_SEVERITY, ActorKind, AuditStamp, Severity, action_for
from domain.bundle import DockerBundle
from domain.enrollment import EnrollmentBook, EnrollmentToken
from domain.machine import Machine
from domain.names import SecretNameClaim
from domain.policy import AccessPolicy
from domain.project import Project
from domain.records import AuditRecord
from domain.rotation import RotationSchedule
from domain.secret import Secret
from domain.share import Share
from domain.temptokens import TempToken
from domain.tokens import BootstrapToken
from domain.vault import Vault

AGGREGATES = (
    Vault,
    Project,
    Secret,
    SecretNameClaim,
    AuditRecord,
    Machine,
    BootstrapToken,
    TempToken,
    EnrollmentToken,
    EnrollmentBook,
    RotationSchedule,
    Share,
    AccessPolicy,
    DockerBundle,
)


def event_classes() -> list[type]:
    """Nested event classes that declare their own TOPIC, except each base `Event`."""
    found = []
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            if (
                isinstance(value, type)
                and issubclass(value, Aggregate.Event)
                and "TOPIC" in vars(value)
                and value is not aggregate.Event
                and name != "Event"
            ):
                found.append(value)
    return found


EVENT_CLASSES = event_classes()
EVENT_TOPICS = sorted(cls.TOPIC for cls in EVENT_CLASSES)


def test_the_walk_finds_the_known_events() -> None:
    # Guards the walk itself: if it found nothing, the next test would pass vacuously.
    assert len(EVENT_CLASSES) >= 16
    assert "keyledger.secret.RolledBack" in EVENT_TOPICS
    assert "keyledger.record.Recorded" in EVENT_TOPICS
    assert "keyledger.name.Claimed" in EVENT_TOPICS
    assert len(EVENT_TOPICS) == len(set(EVENT_TOPICS))


@pytest.mark.parametrize("topic", EVENT_TOPICS)
def test_every_event_topic_has_an_audit_entry(topic: str) -> None:
    assert topic in ACTIONS, f"{topic} has no entry in domain.audit.ACTIONS"


def test_no_stale_actions() -> None:
    assert set(ACTIONS) == set(EVENT_TOPICS)


def test_base_event_topics_are_not_actions() -> None:
    for aggregate in AGGREGATES:
        assert aggregate.Event.TOPIC not in ACTIONS
        with pytest.raises(LookupError):
            action_for(aggregate.Event.TOPIC)


def test_every_projection_handler_is_for_an_audited_topic() -> None:
    assert set(HANDLERS) <= set(ACTIONS)


def test_action_for_unknown_topic_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match=r"keyledger\.secret\.Exploded"):
        action_for("keyledger.secret.Exploded")
    with pytest.raises(LookupError):
        action_for("")


def test_action_names_and_severities_are_valid() -> None:
    for topic, entry in ACTIONS.items():
        if entry is None:
            bookkeeping = (
                "keyledger.name.",
                "keyledger.token.Redeemed",
                "keyledger.temptoken.Redeemed",
                "keyledger.enrollment.Used",  # the machine's machine_enroll names the token
                "keyledger.enrollment.BookOpened",
                "keyledger.enrollment.Listed",
                "keyledger.rotation.Advanced",
                "keyledger.policy.Secret",  # the secret's own event is the audit
                "keyledger.project.Policy",
            )
            assert topic.startswith(bookkeeping), topic
            continue
        action, severity = entry
        assert isinstance(severity, Severity), topic
        assert severity.value in {"critical", "high", "medium", "low", "info"}
        assert action == "*" or action.replace("_", "").isalpha(), action
        assert action == action.lower()
    for action, severity in RECORD_SEVERITY.items():
        assert isinstance(severity, Severity), action


def test_specific_actions() -> None:
    assert action_for("keyledger.secret.Created") == ("secret_create", Severity.INFO)
    assert action_for("keyledger.secret.Replaced") == ("secret_update", Severity.MEDIUM)
    assert action_for("keyledger.secret.RolledBack") == ("secret_update", Severity.MEDIUM)
    assert action_for("keyledger.secret.Deleted") == ("secret_delete", Severity.HIGH)
    assert action_for("keyledger.secret.Purged") == ("secret_purge", Severity.HIGH)
    assert action_for("keyledger.project.Created") == ("project_create", Severity.INFO)
    assert action_for("keyledger.vault.Created") == ("vault_create", Severity.HIGH)


def test_bookkeeping_events_are_not_actions() -> None:
    for topic in ("keyledger.name.Claimed", "keyledger.name.Released", "keyledger.name.Reclaimed"):
        assert action_for(topic) is None


def test_records_carry_their_action() -> None:
    topic = "keyledger.record.Recorded"
    assert action_for(topic, "auth_failure") == ("auth_failure", Severity.MEDIUM)
    assert action_for(topic, "user_login") == ("user_login", Severity.INFO)
    assert action_for(topic, "trash_purge_expired") == ("trash_purge_expired", Severity.MEDIUM)
    assert action_for(topic, "something_new") == ("something_new", Severity.INFO)
    assert action_for(topic, None) == ("unknown", Severity.INFO)


def test_emitted_events_use_the_declared_topics() -> None:
    stamp = AuditStamp.system("t")
    record = AuditRecord(action="auth_failure", audit=stamp)
    (event,) = record.collect_events()
    assert type(event).TOPIC == "keyledger.record.Recorded"
    assert event.action == "auth_failure"
    assert action_for(type(event).TOPIC, event.action) == ("auth_failure", Severity.MEDIUM)


def test_audit_stamp_helpers() -> None:
    stamp = AuditStamp(ActorKind.USER, "10.0.0.1", user_id="usr_aaaaaaaaaa", detail="a")
    other = stamp.with_detail("b")
    assert other.detail == "b"
    assert (other.actor_kind, other.source_ip, other.user_id) == (
        ActorKind.USER,
        "10.0.0.1",
        "usr_aaaaaaaaaa",
    )
    assert stamp.detail == "a"
    system = AuditStamp.system("sweep")
    assert (system.actor_kind, system.source_ip, system.detail) == (
        ActorKind.SYSTEM,
        "system",
        "sweep",
    )
