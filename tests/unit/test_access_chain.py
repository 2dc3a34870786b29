"""The access chain's hash covers every field of a record, its lane and its place."""

from __future__ import annotations

import dataclasses

import pytest

from domain.accesschain import AccessEntry, chain, lane_genesis, link_hash

ENTRY = AccessEntry(
    timestamp_ms=1,
    action="secret_read",
    severity="info",
    actor_kind="machine",
    source_ip="10.0.0.1",
    detail="version 1",
    machine_id="m",
    nonce="n",
    user_id="u",
    ai_agent_id="a",
    secret_id="s",
    project_id="p",
    secret_version=1,
)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(AccessEntry)])
def test_every_field_is_covered(name: str) -> None:
    value = getattr(ENTRY, name)
    changed = dataclasses.replace(
        ENTRY, **{name: value + 1 if isinstance(value, int) else value + "x"}
    )
    assert link_hash(b"p", "lane", 1, changed) != link_hash(b"p", "lane", 1, ENTRY)


def test_none_is_not_the_empty_string() -> None:
    empty = dataclasses.replace(ENTRY, nonce="")
    unset = dataclasses.replace(ENTRY, nonce=None)
    assert link_hash(b"p", "lane", 1, empty) != link_hash(b"p", "lane", 1, unset)


def test_lane_place_and_predecessor_are_covered() -> None:
    base = link_hash(b"p", "lane", 1, ENTRY)
    assert base != link_hash(b"q", "lane", 1, ENTRY)
    assert base != link_hash(b"p", "other", 1, ENTRY)
    assert base != link_hash(b"p", "lane", 2, ENTRY)


def test_a_chain_links_each_entry_to_the_one_before() -> None:
    rows = chain("lane", 1, lane_genesis("lane"), [ENTRY, ENTRY, ENTRY])
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == lane_genesis("lane")
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert len({r.hash for r in rows}) == 3
