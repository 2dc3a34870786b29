"""Every service checks an id's kind before it loads anything by it."""

from __future__ import annotations

import pytest

from domain import ids
from domain.errors import NotFound


@pytest.mark.parametrize("prefix", [ids.VAULT, ids.PROJECT, ids.SECRET, ids.USER, ids.ROTATION])
def test_a_fresh_id_is_of_its_own_kind_only(prefix: str) -> None:
    value = ids.new_public_id(prefix)
    assert ids.require(prefix, value) == value
    for other in {ids.VAULT, ids.PROJECT, ids.SECRET, ids.USER, ids.ROTATION} - {prefix}:
        with pytest.raises(NotFound, match="not found"):
            ids.require(other, value)


@pytest.mark.parametrize(
    "value", ["", "sk_", "sk_ABCDEFGHIJ", "sk_0000000000\n", "sk_00000000000", " sk_0000000000", 7]
)
def test_malformed_ids_are_unknown(value: object) -> None:
    with pytest.raises(NotFound):
        ids.require(ids.SECRET, value)  # type: ignore[arg-type]
