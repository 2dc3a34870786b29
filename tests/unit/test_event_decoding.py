"""The rebuild's fast decoder gives exactly what eventsourcing's mapper gives.

Every topic of the audit table (domain.audit.TOPIC_ACTIONS) is built with values of
every custom type an event carries (audit stamps, enums, sealed bytes, versions,
policies, UUIDs, datetimes), stored through the ledger's own mapper, and decoded both
ways; `repr` is compared as well as `==`, so 1 for True or str for bytes would fail.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from eventsourcing.domain import AggregateCreated
from eventsourcing.persistence import StoredEvent, TranscodingNotRegisteredError
from eventsourcing.utils import resolve_topic

import domain.bundle
import domain.enrollment
import domain.machine
import domain.policy
import domain.share
import domain.temptokens
import domain.tokens
import domain.vault
from application.ledger import Ledger
from domain.audit import TOPIC_ACTIONS, ActorKind, AuditStamp
from domain.policyrules import PolicyRules
from domain.rotation import ManagedSpec, PendingRotation, RotationPolicy
from domain.values import CanaryOptions, Charset, SealedValue, SecretType, SecretVersion
from infrastructure.eventstore.decoding import EventDecoder

# The aggregates whose events are looked up by topic (importing them registers the topics).
AGGREGATE_MODULES = (
    domain.bundle,
    domain.enrollment,
    domain.machine,
    domain.policy,
    domain.share,
    domain.temptokens,
    domain.tokens,
    domain.vault,
)

SEALED = SealedValue(bytes(range(256)), b"\x00\xff" * 6, "dek_0123456789", 2)
VERSION = SecretVersion(3, SEALED, 1_764_000_000_123, rolled_back_from=2, field_names=("u", "p"))
MACHINE = AuditStamp(ActorKind.MACHINE, "2001:db8::7", None, "mch_aaaaaaaaaa", None, 'a "q" ✓')
USER = AuditStamp(ActorKind.USER, "198.51.100.4", user_id="usr_bbbbbbbbbb", detail="")

# One value per annotation the events use; a new annotation fails `value_for` loudly.
FULL: dict[str, Any] = {
    "str": 'näme \\ "quoted" \u2028 ✓',
    "int": 1_764_000_000_999,
    "bool": True,
    "bytes": b"\x01\x02\xfe\xff" * 8,
    "AuditStamp": MACHINE,
    "SecretType": SecretType.STRUCTURED,
    "tuple[str, ...] | None": ("user", "password"),
    "SecretVersion": VERSION,
    "SealedValue": SEALED,
    "RotationPolicy": RotationPolicy(3600, 24, Charset.ALPHANUMERIC, ("password",)),
    "ManagedSpec | None": ManagedSpec("postgresql", "svc", SEALED),
    "PendingRotation": PendingRotation("rot_x", VERSION, 1_764_000_000_555, "scheduled"),
    "str | None": "optional",
    "CanaryOptions | None": CanaryOptions(armed=False, freeze_project=False, freeze_related=True),
    "dict[str, Any]": PolicyRules(
        ip_allowlist_enabled=True,
        ip_allowlist_cidrs=("10.0.0.0/8", "2001:db8::/32"),
        time_window_days=("mon", "sun"),
        ttl_expires_at=1_764_000_000_999,
    ).as_dict(),
    "list[str]": ["proj_aaaaaaaaaa", "10.0.0.0/8"],
}
# The same with every optional value absent and the other values' simplest forms.
SPARSE: dict[str, Any] = FULL | {
    "str": "",
    "int": 0,
    "bool": False,
    "AuditStamp": USER,
    "SecretType": SecretType.STANDARD,
    "tuple[str, ...] | None": None,
    "SecretVersion": replace(VERSION, rolled_back_from=None, field_names=None),
    "RotationPolicy": RotationPolicy(300),
    "ManagedSpec | None": None,
    "str | None": None,
    "CanaryOptions | None": None,
    "dict[str, Any]": PolicyRules().as_dict(),
    "list[str]": [],
}


def value_for(annotation: str, values: dict[str, Any]) -> Any:
    assert annotation in values, f"add a sample value for {annotation!r}"
    return values[annotation]


def build_event(topic: str, values: dict[str, Any]) -> Any:
    cls = resolve_topic(topic)
    fields = {
        name: value_for(annotation, values)
        for name, annotation in vars(cls).get("__annotations__", {}).items()
    }
    if issubclass(cls, AggregateCreated):
        fields["originator_topic"] = "domain.example:Aggregate"
    return cls(
        originator_id=uuid.uuid4(),
        originator_version=7,
        timestamp=datetime(2026, 12, 1, 2, 14, 5, 123456, tzinfo=UTC),
        **fields,
    )


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(None, keys=cast(Any, None), clock=cast(Any, None))


def decode_both(ledger: Ledger, decoder: EventDecoder, stored: StoredEvent) -> tuple[Any, Any]:
    slow = ledger.mapper.to_domain_event(stored)
    fast = decoder(stored.topic, stored.state, stored.originator_id, stored.originator_version)
    return slow, fast


def assert_same(slow: Any, fast: Any) -> None:
    assert type(fast) is type(slow)
    assert fast.__dict__ == slow.__dict__
    assert repr(fast.__dict__) == repr(slow.__dict__)
    assert [type(v) for v in fast.__dict__.values()] == [type(v) for v in slow.__dict__.values()]


@pytest.mark.parametrize("topic", sorted(TOPIC_ACTIONS))
@pytest.mark.parametrize("values", [FULL, SPARSE], ids=["full", "sparse"])
def test_fast_decode_equals_the_mappers_for_every_topic(
    ledger: Ledger, topic: str, values: dict[str, Any]
) -> None:
    decoder = EventDecoder(ledger.mapper)
    assert decoder.fast
    stored = ledger.mapper.to_stored_event(build_event(topic, values))
    assert stored.topic == topic
    # PostgreSQL hands back a UUID, SQLite the id as text; the mapper converts it.
    as_text = replace(stored, originator_id=str(stored.originator_id))
    for row in (stored, as_text, stored):  # the third: audit stamps now from the memo
        slow, fast = decode_both(ledger, decoder, row)
        assert_same(slow, fast)
        assert isinstance(fast.originator_id, uuid.UUID)
    assert decoder.fallbacks == 0, "the fast path must handle every catalogued topic"


def test_custom_types_come_back_as_their_types(ledger: Ledger) -> None:
    decoder = EventDecoder(ledger.mapper)
    stored = ledger.mapper.to_stored_event(build_event("keyledger.secret.Created", FULL))
    assert b"_type_" in stored.state  # the tags really are in the stored JSON
    event = decoder(stored.topic, stored.state, stored.originator_id, stored.originator_version)
    assert event.first_version == VERSION
    assert type(event.first_version.sealed.ciphertext) is bytes  # ciphertext stays bytes
    assert event.first_version.field_names == ("u", "p")
    assert event.audit == MACHINE and event.audit.actor_kind is ActorKind.MACHINE
    assert event.timestamp == datetime(2026, 12, 1, 2, 14, 5, 123456, tzinfo=UTC)


def test_memoised_stamps_are_keyed_by_exact_values(ledger: Ledger) -> None:
    """`1 == True` must not let one stamp stand for another."""
    audit = EventDecoder(ledger.mapper).tags["audit"]
    kind = {"_type_": "actor_kind", "_data_": "user"}
    base = {"actor_kind": kind, "source_ip": "ip", "user_id": None, "ai_agent_id": None}
    first = audit({**base, "machine_id": None, "detail": "d"})
    assert first.actor_kind is ActorKind.USER
    assert audit({**base, "machine_id": None, "detail": "d"}) is first
    one = audit({**base, "machine_id": 1, "detail": "d"})
    true = audit({**base, "machine_id": True, "detail": "d"})
    assert one.machine_id is 1 and true.machine_id is True  # noqa: F632


def stored_with(ledger: Ledger, state: bytes) -> StoredEvent:
    stored = ledger.mapper.to_stored_event(build_event("keyledger.record.Recorded", FULL))
    return replace(stored, state=state)


def test_json_msgspec_reads_otherwise_falls_back_to_the_mapper(ledger: Ledger) -> None:
    decoder = EventDecoder(ledger.mapper)
    good = ledger.mapper.to_stored_event(build_event("keyledger.record.Recorded", FULL)).state
    # NaN and a lone surrogate: the standard library accepts them, msgspec does not.
    odd = good.replace(b'"action":"', b'"action":NaN,"x":"\\ud800","y":"')
    stored = stored_with(ledger, odd)
    slow, fast = decode_both(ledger, decoder, stored)
    assert repr(fast.__dict__) == repr(slow.__dict__)
    assert decoder.fallbacks == 1


def test_an_unknown_tag_raises_the_mappers_error(ledger: Ledger) -> None:
    decoder = EventDecoder(ledger.mapper)
    state = b'{"timestamp":{"_type_":"no_such_type","_data_":"x"}}'
    with pytest.raises(Exception, match="no_such_type") as raised:
        decoder("keyledger.vault.Sealed", state, uuid.uuid4(), 1)
    assert isinstance(raised.value.__cause__, TranscodingNotRegisteredError)


def test_a_compressed_store_is_left_to_the_mapper() -> None:
    env = {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
    compressed = Ledger(env, keys=cast(Any, None), clock=cast(Any, None))
    decoder = EventDecoder(compressed.mapper)
    assert not decoder.fast
    stored = compressed.mapper.to_stored_event(build_event("keyledger.secret.Created", FULL))
    event = decoder(stored.topic, stored.state, stored.originator_id, stored.originator_version)
    assert event.first_version == VERSION and decoder.fallbacks == 1
