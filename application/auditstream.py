"""The live audit stream's cursor: where a client is in both logs, as an SSE event id.

A stream reads like the SIEM exporter (`siemexport.pending`): after a `Position` (last
ledger notification id, last seq per access lane), both logs merged by time. Every
event's id is the position *after* that record, so a client that reconnects with
`Last-Event-ID` resumes with the next record: nothing skipped, nothing sent twice,
whichever API process it reaches. The id is base64url of a small JSON object; lanes
still at seq 0 are left out (0 is where an unnamed lane starts anyway).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Protocol

from application.siemexport import AuditSource, Position
from domain.errors import InvalidInput

MAX_CURSOR = 8192  # characters of an event id we accept back: one header line (~120 lanes)
LANE = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
BAD = "Last-Event-ID is not a cursor this server issued"


class StreamSource(AuditSource, Protocol):
    def head(self) -> Position:
        """The position after the newest record of every log (where "only new" starts)."""
        ...

    def since(self, since_ms: int) -> Position:
        """Just before the first record stamped at or after `since_ms`, in every log."""
        ...

    def back(self, count: int) -> Position:
        """Just before the newest `count` records of both logs together."""
        ...


def encode_cursor(position: Position) -> str:
    lanes = {lane: seq for lane, seq in sorted(position.lanes.items()) if seq > 0}
    body = json.dumps({"l": position.ledger, "a": lanes}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise InvalidInput(BAD)
    return value


def decode_cursor(text: str) -> Position:
    """The position an event id names; anything else (altered, cut, oversize) is a 400."""
    text = text.strip()
    if len(text) > MAX_CURSOR:
        raise InvalidInput(f"Last-Event-ID is longer than {MAX_CURSOR} characters")
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise InvalidInput(BAD)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(BAD) from None
    if not isinstance(data, dict) or set(data) != {"l", "a"} or not isinstance(data["a"], dict):
        raise InvalidInput(BAD)
    lanes = {}
    for lane, seq in data["a"].items():
        if not LANE.fullmatch(lane):
            raise InvalidInput(BAD)
        lanes[lane] = _count(seq)
    return Position(_count(data["l"]), lanes)
