"""Point-in-time audit answers: the vault at T, who could read a secret at T, who did.

State at T is folded from the ledger's events (vaultstate.py), read in log order
and filtered by topic in the store; reads come from the machine access records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from application.ledger import Ledger
from application.statecheckpoints import Checkpoints
from application.vaultstate import STATE_TOPICS, VaultState, as_of, who_could_read
from domain import ids
from domain.errors import InvalidInput, NotFound

BATCH = 1000
# Events are stamped when built and numbered when committed; a writer can wait for
# the store's lock (at most 10 s) in between, so the log is read this far past T.
COMMIT_SLACK_MS = 10_000
EARLIEST_MS = -62_135_596_800_000  # 0001-01-01T00:00Z
LATEST_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_MS = re.compile(r"^[0-9]{1,16}$")


def parse_instant(text: str, what: str = "time") -> int:
    """ISO-8601 (`2026-11-01T02:14Z`, seconds, fractions, offsets; no offset = UTC)
    or epoch milliseconds, as epoch ms. Anything else is a 400 naming the input."""
    text = text.strip()
    malformed = InvalidInput(
        f"{what} {text[:40]!r} is not an ISO-8601 time (2026-11-01T02:14Z) or epoch ms"
    )
    if _EPOCH_MS.fullmatch(text):
        ms = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            ms = (moment - EPOCH) // timedelta(milliseconds=1)  # exact: no float
        except (ValueError, OverflowError):
            raise malformed from None
    if not EARLIEST_MS <= ms <= LATEST_MS:
        raise InvalidInput(f"{what} {text[:40]!r} is outside the years 1 to 9999")
    return ms


@dataclass(frozen=True)
class ReadTally:
    machine_id: str
    reads: int
    first_ms: int
    last_ms: int


class SecretReads(Protocol):
    """Answered reads of one secret in the machine access records."""

    def tally(self, secret_id: str, from_ms: int, to_ms: int) -> list[ReadTally]: ...


class PointInTime:
    def __init__(
        self, ledger: Ledger, reads: SecretReads, checkpoints: Checkpoints | None = None
    ) -> None:
        self.ledger = ledger
        self.reads = reads
        self.checkpoints = checkpoints if checkpoints is not None else Checkpoints()

    def _events(self, start: int, stop_after_ms: int) -> Iterator[tuple[int, Any]]:
        """(notification id, event) of vault, project, secret and machine events in log
        order from `start`, until one is stamped after `stop_after_ms`."""
        stop = datetime.fromtimestamp(stop_after_ms / 1000, tz=UTC)
        while True:
            batch = self.ledger.recorder.select_notifications(start, BATCH, topics=STATE_TOPICS)
            for notification in batch:
                event: Any = self.ledger.mapper.to_domain_event(notification)
                if event.timestamp > stop:
                    return
                yield notification.id, event
            if len(batch) < BATCH:
                return
            start = batch[-1].id + 1

    def state_at(self, at_ms: int) -> VaultState:
        folding, start, latest = self.checkpoints.start(at_ms)
        last_id = None
        for notification_id, event in self._events(start, min(at_ms + COMMIT_SLACK_MS, LATEST_MS)):
            if folding.apply(event) and folding.clean:
                latest = event.timestamp if latest is None else max(latest, event.timestamp)
                last_id = notification_id
                self.checkpoints.offer(notification_id, latest, folding, final=False)
        if last_id is not None and latest is not None and folding.clean:
            self.checkpoints.offer(last_id, latest, folding, final=True)
        return folding.state()

    def prepare(self) -> None:
        """Fold up to now, so checkpoints (and stored snapshots) follow the ledger and
        the next question, in this process or a restarted one, folds only what is new."""
        self.state_at(self.ledger.clock.now_ms())

    def as_of(self, at: str) -> dict[str, Any]:
        return as_of(self.state_at(parse_instant(at, "at")))

    def _require_secret(self, secret_id: str) -> str:
        """A secret that ever existed (purged ones too: their history still counts)."""
        what = f"Secret {secret_id[:40]} not found"
        aggregate_id = ids.aggregate_id(ids.require(ids.SECRET, secret_id))
        if not self.ledger.recorder.select_events(aggregate_id, limit=1):
            raise NotFound(what)
        return secret_id

    def who_could_read(self, secret_id: str, at: str) -> dict[str, Any]:
        at_ms = parse_instant(at, "at")
        return who_could_read(self.state_at(at_ms), self._require_secret(secret_id))

    def who_read(self, secret_id: str, start: str | None, end: str | None) -> dict[str, Any]:
        from_ms = parse_instant(start, "from") if start else 0
        to_ms = parse_instant(end, "to") if end else self.ledger.clock.now_ms()
        if from_ms > to_ms:
            raise InvalidInput("from must not be after to")
        tallies = self.reads.tally(self._require_secret(secret_id), from_ms, to_ms)
        return {
            "secretId": secret_id,
            "from": from_ms,
            "to": to_ms,
            "reads": sum(t.reads for t in tallies),
            "machines": [
                {
                    "machineId": t.machine_id,
                    "reads": t.reads,
                    "firstRead": t.first_ms,
                    "lastRead": t.last_ms,
                }
                for t in sorted(tallies, key=lambda t: (t.first_ms, t.machine_id))
            ],
        }
