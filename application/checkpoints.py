"""Making signed checkpoints, and checking them against the chains as walked.

The server signs its logs' heads every N records or M minutes (settings), and on
demand for an operator who keeps the newest off-box. `check_checkpoints` is pure:
given what the walk saw at each signed position, it names the first checkpoint the
store no longer matches (rows deleted after it, or a chain rewritten before it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from domain.checkpoint import LEDGER, Checkpoint, Head, SignedCheckpoint


class Clock(Protocol):
    def now_ms(self) -> int: ...


class CheckpointSigner(Protocol):
    """The checkpoint key (infrastructure); raises `Sealed` while the server is sealed."""

    def public_key(self) -> bytes: ...

    def trusted_keys(self) -> list[bytes]: ...

    def sign(self, data: bytes) -> bytes: ...

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool: ...


class CheckpointLog(Protocol):
    """The append-only checkpoint table and the logs' current heads."""

    def heads(self) -> list[Head]: ...

    def append(self, signed: SignedCheckpoint) -> SignedCheckpoint: ...

    def newest(self) -> SignedCheckpoint | None: ...

    def all(self) -> Iterator[SignedCheckpoint]: ...

    def close(self) -> None: ...


class Checkpoints:
    def __init__(
        self,
        log: CheckpointLog,
        signer: CheckpointSigner,
        clock: Clock,
        every_records: int,
        every_ms: int,
    ) -> None:
        self.log = log
        self.signer = signer
        self._clock = clock
        self._every_records = every_records
        self._every_ms = every_ms

    def _sign(self, heads: list[Head]) -> SignedCheckpoint:
        checkpoint = Checkpoint(self._clock.now_ms(), tuple(heads))
        signature = self.signer.sign(checkpoint.canonical())
        return self.log.append(SignedCheckpoint(checkpoint, self.signer.public_key(), signature))

    def tick(self) -> SignedCheckpoint | None:
        """Sign now if N records were added or M minutes passed with any change."""
        heads = self.log.heads()
        if not heads:
            return None
        newest = self.log.newest()
        if newest is None:
            return self._sign(heads)
        then = newest.checkpoint
        moved = Checkpoint(then.time_ms, tuple(heads)).canonical() != then.canonical()
        added = sum(h.position for h in heads) - then.total()
        elapsed = self._clock.now_ms() - then.time_ms
        if added >= self._every_records or (moved and elapsed >= self._every_ms):
            return self._sign(heads)
        return None

    def fresh(self) -> SignedCheckpoint | None:
        """The newest checkpoint, signed now if the logs moved since (None: empty logs)."""
        heads = self.log.heads()
        newest = self.log.newest()
        if newest is not None:
            same = Checkpoint(newest.checkpoint.time_ms, tuple(heads)).canonical()
            if same == newest.checkpoint.canonical():
                return newest
        return self._sign(heads) if heads else newest


def name(signed: SignedCheckpoint) -> str:
    return f"checkpoint #{signed.number}" if signed.number is not None else "the checkpoint file"


def check_checkpoints(
    checkpoints: Iterable[SignedCheckpoint],
    signer: CheckpointSigner,
    seen: Mapping[tuple[str, int], str],
    tips: Mapping[str, int],
) -> tuple[str, str] | None:
    """(first bad, reason), or None when every checkpoint holds.

    `seen`: the hash the walk found at each signed (log, position); `tips`: each
    log's newest position. Only meaningful once both chains walked intact.
    """
    trusted = set(signer.trusted_keys())
    for signed in checkpoints:
        label = name(signed)
        body = signed.checkpoint.canonical()
        if signed.public_key not in trusted:
            return label, "signed by another key, not this server's checkpoint key"
        if not signer.verify(signed.public_key, body, signed.signature):
            return label, "signature does not match its content (checkpoint altered)"
        for head in signed.checkpoint.heads:
            found = seen.get((head.log, head.position))
            if found is None:
                tip = tips.get(head.log, 0)
                if head.log == LEDGER:  # ids may skip: name the signed one
                    return head.where(), (
                        f"missing, though {label} signed it: the newest events after "
                        f"#{tip} were deleted (truncated)"
                    )
                gone = Head(head.log, tip + 1, head.hash)  # lanes count 1, 2, 3, …
                return gone.where(), (
                    f"missing, though {label} signed the lane up to {head.position}: "
                    "the newest records were deleted (truncated)"
                )
            if found != head.hash:
                return head.where(), (
                    f"hash differs from the one {label} signed: the chain was "
                    "rewritten at or before this position"
                )
    return None
