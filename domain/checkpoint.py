"""Signed checkpoints: what the server signs about its logs, and in which bytes.

A hash chain proves every row follows from the one before; it cannot tell that its
newest rows were deleted, nor that the whole chain was recomputed after an edit.
A checkpoint pins each log's head (the ledger's newest notification id, each access
lane's newest seq) and its hash at a time, under the server's signature. Kept
off-box, it lets `verify` catch both.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput

FORMAT = "keyledger-checkpoint-v1"
LEDGER = "ledger"
_LOG = re.compile(r"ledger|access:[A-Za-z0-9_.-]{1,64}")
_HASH = re.compile(r"[0-9a-f]{64}")


def access_log(lane: str) -> str:
    return f"access:{lane}"


@dataclass(frozen=True)
class Head:
    """A log's newest position and its chain hash (hex)."""

    log: str
    position: int
    hash: str

    def where(self) -> str:
        """How verify names this position: `event #N` or `record lane:seq`."""
        if self.log == LEDGER:
            return f"event #{self.position}"
        return f"record {self.log.removeprefix('access:')}:{self.position}"


@dataclass(frozen=True)
class Checkpoint:
    time_ms: int
    heads: tuple[Head, ...]

    def __post_init__(self) -> None:  # one order, so equal checkpoints compare equal
        object.__setattr__(self, "heads", tuple(sorted(self.heads, key=_order)))

    def canonical(self) -> bytes:
        """The signed bytes: one spelling of (log, position, hash)… and time."""
        body = {
            "format": FORMAT,
            "time": self.time_ms,
            "heads": [[h.log, h.position, h.hash] for h in sorted(self.heads, key=_order)],
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def total(self) -> int:
        return sum(h.position for h in self.heads)


def _order(head: Head) -> str:
    return head.log


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    public_key: bytes  # Ed25519, raw 32 bytes
    signature: bytes  # Ed25519, 64 bytes
    number: int | None = None  # its row in the server's checkpoint table

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "number": self.number,
            "time": self.checkpoint.time_ms,
            "heads": [
                {"log": h.log, "position": h.position, "hash": h.hash}
                for h in sorted(self.checkpoint.heads, key=_order)
            ],
            "publicKey": b64(self.public_key),
            "signature": b64(self.signature),
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedCheckpoint:
        """Parse a checkpoint file's object; anything off is `InvalidInput` naming it."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"Not a keyledger checkpoint (format {FORMAT} expected)")
        time_ms = _int(data.get("time"), "time", 0)
        raw_heads = data.get("heads")
        if not isinstance(raw_heads, list) or not raw_heads or len(raw_heads) > 10_000:
            raise InvalidInput("A checkpoint's heads must be a non-empty list")
        heads = tuple(_head(h) for h in raw_heads)
        if len({h.log for h in heads}) != len(heads):
            raise InvalidInput("A checkpoint names each log once")
        number = data.get("number")
        return cls(
            Checkpoint(time_ms, heads),
            _bytes(data.get("publicKey"), "publicKey", 32),
            _bytes(data.get("signature"), "signature", 64),
            _int(number, "number", 1) if number is not None else None,
        )


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 2**63:
        raise InvalidInput(f"A checkpoint's {name} must be a whole number ≥ {low}")
    return value


def _bytes(value: Any, name: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise InvalidInput(f"A checkpoint's {name} must be {size} bytes, base64")
    return raw


def _head(value: Any) -> Head:
    if not isinstance(value, dict):
        raise InvalidInput("A checkpoint head is an object: log, position, hash")
    log, digest = value.get("log"), value.get("hash")
    if not isinstance(log, str) or not _LOG.fullmatch(log):
        raise InvalidInput("A checkpoint head's log must be 'ledger' or 'access:<lane>'")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise InvalidInput("A checkpoint head's hash must be 64 lower-case hex digits")
    return Head(log, _int(value.get("position"), "position", 1), digest)
