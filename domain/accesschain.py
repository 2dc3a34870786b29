"""Access records and their hash chains ("lanes").

A machine read, a refusal or a failed login changes nothing in the vault, yet must be
in the audit log before the request is answered. Access records therefore live in a
plain append-only log beside the ledger, written in batches. Each writer (one per API
process run) appends to its own *lane*: a hash chain that starts from a genesis
derived from the lane's id and numbers its records 1, 2, 3, … without gaps. Lanes never
contend, so API processes never queue behind each other's commits; `verify` walks every
lane (see ADR 0014).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from domain.audit import RECORD_SEVERITY, AuditStamp, Severity

CHAIN_TAG = b"keyledger-access-v1"
GENESIS_TAG = b"keyledger-access-lane-v1"


@dataclass(frozen=True)
class AccessEntry:
    """One access record's content (what the chain hash covers, with lane and seq)."""

    timestamp_ms: int
    action: str
    severity: str
    actor_kind: str
    source_ip: str
    detail: str
    machine_id: str | None = None
    nonce: str | None = None
    user_id: str | None = None
    ai_agent_id: str | None = None
    secret_id: str | None = None
    project_id: str | None = None
    secret_version: int | None = None

    @classmethod
    def of(
        cls,
        action: str,
        audit: AuditStamp,
        timestamp_ms: int,
        *,
        secret_id: str | None = None,
        project_id: str | None = None,
        nonce: str | None = None,
        secret_version: int | None = None,
    ) -> AccessEntry:
        return cls(
            timestamp_ms=timestamp_ms,
            action=action,
            severity=RECORD_SEVERITY.get(action, Severity.INFO).value,
            actor_kind=audit.actor_kind.value,
            source_ip=audit.source_ip,
            detail=audit.detail,
            machine_id=audit.machine_id,
            nonce=nonce,
            user_id=audit.user_id,
            ai_agent_id=audit.ai_agent_id,
            secret_id=secret_id,
            project_id=project_id,
            secret_version=secret_version,
        )


@dataclass(frozen=True)
class ChainedEntry:
    """An entry at its place in a lane."""

    lane: str
    seq: int
    entry: AccessEntry
    prev_hash: bytes
    hash: bytes


def _field(value: str | int | bytes | None) -> bytes:
    if value is None:
        return b"\xff" * 8  # distinct from every length prefix, so None != ""
    raw = value if isinstance(value, bytes) else str(value).encode()
    return len(raw).to_bytes(8, "big") + raw


def lane_genesis(lane: str) -> bytes:
    return hashlib.sha256(GENESIS_TAG + _field(lane)).digest()


def entry_values(e: AccessEntry) -> tuple[str | int | None, ...]:
    """An entry's fields in their one fixed order: the chain hashes them in this order
    and the store's columns follow it."""
    return (
        e.timestamp_ms,
        e.action,
        e.severity,
        e.actor_kind,
        e.source_ip,
        e.detail,
        e.machine_id,
        e.nonce,
        e.user_id,
        e.ai_agent_id,
        e.secret_id,
        e.project_id,
        e.secret_version,
    )


def link_hash(prev_hash: bytes, lane: str, seq: int, e: AccessEntry) -> bytes:
    parts = (prev_hash, lane, seq, *entry_values(e))
    return hashlib.sha256(CHAIN_TAG + b"".join(_field(p) for p in parts)).digest()


def chain(
    lane: str, next_seq: int, prev_hash: bytes, entries: list[AccessEntry]
) -> list[ChainedEntry]:
    """Place `entries` after (next_seq - 1, prev_hash) in `lane`."""
    out = []
    for offset, entry in enumerate(entries):
        seq = next_seq + offset
        digest = link_hash(prev_hash, lane, seq, entry)
        out.append(ChainedEntry(lane, seq, entry, prev_hash, digest))
        prev_hash = digest
    return out
