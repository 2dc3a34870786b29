"""The hash chain over every stored event: tamper evidence for the audit log.

Each event row gets a chain row `hash = SHA-256(prev_hash ‖ id ‖ originator ‖ version
‖ topic ‖ state)`, fields length-prefixed, written in the same transaction. Rows link
to the previous *row* (ids may skip), and `prev_hash` is UNIQUE so a fork cannot
commit. `verify_chain` re-walks both tables and names the first bad event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

GENESIS = b"\x00" * 32


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(8, "big") + value


def originator_text(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)


def link_hash(
    prev_hash: bytes,
    notification_id: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes | str,
) -> bytes:
    digest = hashlib.sha256(b"keyledger-chain-v1")
    digest.update(_field(prev_hash))
    digest.update(_field(str(notification_id).encode()))
    digest.update(_field(originator_text(originator_id).encode()))
    digest.update(_field(str(originator_version).encode()))
    digest.update(_field(topic.encode()))
    # A hand-edited row may come back as text: hash what is there, never crash.
    raw = state.encode() if isinstance(state, str) else bytes(state)
    digest.update(_field(raw))
    return digest.digest()


@dataclass(frozen=True)
class ChainRow:
    notification_id: int
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class EventRow:
    notification_id: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes


class ChainSource(Protocol):
    def iter_events(self) -> Iterator[EventRow]: ...

    def iter_chain(self) -> Iterator[ChainRow]: ...


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_id: int | None
    head_hash: str | None
    first_bad_id: int | None = None
    reason: str = ""
    seen: dict[int, str] = field(default_factory=dict)  # wanted id → its hash (hex)


def verify_chain(source: ChainSource, wanted: Collection[int] = frozenset()) -> ChainReport:
    """Walk events and chain rows together in id order; stop at the first mismatch.

    The hashes at the `wanted` ids (signed checkpoints' positions) are reported."""
    events = source.iter_events()
    chain = source.iter_chain()
    expected_prev = GENESIS
    checked = 0
    seen: dict[int, str] = {}
    head: ChainRow | None = None
    event = next(events, None)
    link = next(chain, None)
    while event is not None or link is not None:
        if link is None:
            assert event is not None
            return _bad(checked, head, event.notification_id, "event has no chain row (added)")
        if event is None or event.notification_id > link.notification_id:
            return _bad(checked, head, link.notification_id, "event row is missing (deleted)")
        if event.notification_id < link.notification_id:
            return _bad(checked, head, event.notification_id, "event has no chain row (added)")
        if link.prev_hash != expected_prev:
            return _bad(checked, head, link.notification_id, "chain link broken (reordered)")
        recomputed = link_hash(
            expected_prev,
            event.notification_id,
            event.originator_id,
            event.originator_version,
            event.topic,
            event.state,
        )
        if recomputed != link.hash:
            return _bad(checked, head, event.notification_id, "event content changed (edited)")
        expected_prev = link.hash
        head = link
        if link.notification_id in wanted:
            seen[link.notification_id] = link.hash.hex()
        checked += 1
        event = next(events, None)
        link = next(chain, None)
    return ChainReport(
        ok=True,
        checked=checked,
        head_id=head.notification_id if head else None,
        head_hash=head.hash.hex() if head else None,
        seen=seen,
    )


def _bad(checked: int, head: ChainRow | None, bad_id: int, reason: str) -> ChainReport:
    return ChainReport(
        ok=False,
        checked=checked,
        head_id=head.notification_id if head else None,
        head_hash=head.hash.hex() if head else None,
        first_bad_id=bad_id,
        reason=reason,
    )
