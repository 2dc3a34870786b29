"""The stream cursor (an SSE event id) round-trips and refuses anything it did not make."""

from __future__ import annotations

import pytest

from application.auditstream import MAX_CURSOR, decode_cursor, encode_cursor
from application.siemexport import Position
from domain.errors import InvalidInput

LANE_A, LANE_B = "0f" * 16, "a1" * 16


def test_a_cursor_round_trips_and_leaves_out_lanes_at_zero() -> None:
    position = Position(41, {LANE_A: 7, LANE_B: 0})
    cursor = encode_cursor(position)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor) == Position(41, {LANE_A: 7})
    assert decode_cursor(encode_cursor(Position())) == Position()


def test_a_cursor_is_small_enough_for_a_header_with_a_hundred_lanes() -> None:
    lanes = {f"{n:032x}": 10**9 + n for n in range(100)}
    cursor = encode_cursor(Position(10**9, lanes))
    assert len(cursor) <= MAX_CURSOR
    assert decode_cursor(cursor).lanes == lanes


@pytest.mark.parametrize(
    "cursor",
    ["", "   ", "a b", "eyJsIjoxfQ", "eyJsIjotMSwiYSI6e319", "W10", "A" * (MAX_CURSOR + 1)],
)
def test_anything_else_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)
