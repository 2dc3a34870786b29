"""Upgrade: the access log of releases before ADR 0014 into the new access records.

Those releases kept machine reads as eventsourcing events in their own application
(`keyledger_access_events`, hash-chained like the ledger). On first start of this
release their chain is verified and every record is copied, in order, into one lane
of its own (id `legacy…`); its origin line names the old chain's head and whether it
was intact, binding the two. The old table is left as it was. Nonces come along (the
old record key carried them), so a request answered before the upgrade stays refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder

from application.transcodings import register_ledger_transcodings
from domain.accesschain import AccessEntry, ChainedEntry, chain, lane_genesis

LEGACY_PREFIX = "legacy"
RECORDED = "keyledger.record.Recorded"  # AuditRecord's one event
BATCH = 1000


class AccessLog(Application[UUID]):
    """The old access log, opened read-only for the upgrade."""

    name = "keyledger_access"

    def __init__(self, env: Mapping[str, str] | None) -> None:
        super().__init__(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_ledger_transcodings(transcoder)


def legacy_entries(app: Application[UUID]) -> Iterator[AccessEntry]:
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, BATCH)
        for n in notifications:
            event = app.mapper.to_domain_event(n)
            if getattr(type(event), "TOPIC", None) != RECORDED:
                continue
            yield _entry(event)
        if len(notifications) < BATCH:
            return
        start = notifications[-1].id + 1


def _entry(event: Any) -> AccessEntry:
    key: str | None = getattr(event, "record_key", None)
    nonce = key.split("\x00", 2)[2] if key and key.startswith("nonce\x00") else None
    return AccessEntry.of(
        event.action,
        event.audit,
        int(event.timestamp.timestamp() * 1000),
        secret_id=event.secret_id,
        nonce=nonce,
    )


Append = Callable[[list[ChainedEntry]], None]


def migrate(entries: Iterator[AccessEntry], append: Append) -> tuple[str, int]:
    """Copy `entries` into a new legacy lane, in batches; returns (lane, count)."""
    lane = LEGACY_PREFIX + uuid.uuid4().hex[: 32 - len(LEGACY_PREFIX)]
    prev, seq, count = lane_genesis(lane), 1, 0
    batch: list[AccessEntry] = []

    def flush() -> None:
        nonlocal prev, seq
        rows = chain(lane, seq, prev, batch)
        append(rows)
        prev, seq = rows[-1].hash, rows[-1].seq + 1
        batch.clear()

    for entry in entries:
        batch.append(entry)
        count += 1
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return lane, count
