"""Verify the access log: every lane is an unbroken chain numbered 1, 2, 3, …

A lane's first record links to the lane's genesis, each next record to the one
before, and each hash covers the record's content. A record in an unregistered lane
was added; a gap in the numbering is a deleted record; a link to the wrong hash is a
reordering; a hash that no longer matches is an edit. The first problem is named
(`lane:seq`). Truncating a lane's tail is only visible against a signed checkpoint.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from application.ports import AccessLogSource
from domain.accesschain import lane_genesis, link_hash


@dataclass(frozen=True)
class AccessChainReport:
    ok: bool
    checked: int
    lanes: int
    heads: dict[str, str] = field(default_factory=dict)  # lane → newest hash (hex)
    first_bad: str | None = None
    reason: str = ""
    seen: dict[tuple[str, int], str] = field(default_factory=dict)  # wanted → hash (hex)
    tips: dict[str, int] = field(default_factory=dict)  # lane → newest seq


def verify_access_log(
    source: AccessLogSource, wanted: Collection[tuple[str, int]] = frozenset()
) -> AccessChainReport:
    """Walk every lane; the hashes at `wanted` (lane, seq) positions are reported."""
    registered = [info.lane for info in source.lanes()]
    checked = 0
    heads: dict[str, str] = {}
    seen: dict[tuple[str, int], str] = {}
    tips: dict[str, int] = {}

    def bad(where: str, reason: str) -> AccessChainReport:
        return AccessChainReport(False, checked, len(registered), heads, where, reason)

    for lane in sorted(set(source.record_lanes()) - set(registered)):
        return bad(f"{lane}:?", "records in an unregistered lane (added)")
    for lane in registered:
        expected_prev = lane_genesis(lane)
        expected_seq = 1
        for row in source.iter_lane(lane):
            where = f"{lane}:{row.seq}"
            if row.seq != expected_seq:
                return bad(f"{lane}:{expected_seq}", "record is missing (deleted)")
            if row.prev_hash != expected_prev:
                return bad(where, "chain link broken (reordered)")
            if link_hash(expected_prev, lane, row.seq, row.entry) != row.hash:
                return bad(where, "record content changed (edited)")
            if (lane, row.seq) in wanted:
                seen[(lane, row.seq)] = row.hash.hex()
            expected_prev = row.hash
            expected_seq += 1
            checked += 1
        if expected_seq > 1:
            heads[lane] = expected_prev.hex()
            tips[lane] = expected_seq - 1
    return AccessChainReport(True, checked, len(registered), heads, seen=seen, tips=tips)
