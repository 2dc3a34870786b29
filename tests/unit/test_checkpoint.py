"""The pure parts of signed checkpoints: the signed bytes, the file format, and the
check of checkpoints against what a chain walk saw."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from application.checkpoints import check_checkpoints
from domain.checkpoint import Checkpoint, Head, SignedCheckpoint
from domain.errors import InvalidInput
from infrastructure.crypto.checkpointkey import PinnedKey, raw_public

H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64
KEY = Ed25519PrivateKey.generate()
HEADS = (Head("ledger", 7, H1), Head("access:l1", 3, H2))


def signed_by(key: Ed25519PrivateKey, checkpoint: Checkpoint, number: int = 1) -> SignedCheckpoint:
    return SignedCheckpoint(checkpoint, raw_public(key), key.sign(checkpoint.canonical()), number)


def test_canonical_bytes_ignore_head_order_but_cover_every_field() -> None:
    one = Checkpoint(1000, HEADS)
    assert one.canonical() == Checkpoint(1000, HEADS[::-1]).canonical()
    changed = [
        Checkpoint(1001, HEADS),
        Checkpoint(1000, (Head("ledger", 8, H1), HEADS[1])),
        Checkpoint(1000, (Head("ledger", 7, H3), HEADS[1])),
        Checkpoint(1000, (HEADS[0], Head("access:l2", 3, H2))),
        Checkpoint(1000, HEADS[:1]),
    ]
    assert len({c.canonical() for c in changed} | {one.canonical()}) == len(changed) + 1


def test_file_round_trip() -> None:
    signed = signed_by(KEY, Checkpoint(1000, HEADS), number=4)
    assert SignedCheckpoint.from_json(signed.as_json()) == signed


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"format": "other"}, "Not a keyledger checkpoint"),
        ({"time": True}, "time"),
        ({"heads": []}, "non-empty"),
        ({"heads": [{"log": "ledger", "position": 0, "hash": H1}]}, "position"),
        ({"heads": [{"log": "ledger", "position": 1, "hash": "AB"}]}, "hash"),
        ({"heads": [{"log": "nope", "position": 1, "hash": H1}]}, "log must be"),
        ({"heads": [{"log": "ledger", "position": 1, "hash": H1}] * 2}, "once"),
        ({"publicKey": "AAAA"}, "publicKey"),
        ({"signature": "!!"}, "signature"),
    ],
)
def test_malformed_files_are_named(change: dict[str, object], words: str) -> None:
    data = {**signed_by(KEY, Checkpoint(1000, HEADS)).as_json(), **change}
    with pytest.raises(InvalidInput, match=words):
        SignedCheckpoint.from_json(data)


SEEN = {("ledger", 7): H1, ("access:l1", 3): H2}
TIPS = {"ledger": 9, "access:l1": 5}


def check(signed: SignedCheckpoint, seen: dict[tuple[str, int], str] = SEEN) -> object:
    tips = {log: max([n for (lg, n) in seen if lg == log], default=0) for log in TIPS}
    return check_checkpoints([signed], PinnedKey(raw_public(KEY)), seen, tips)


def test_a_checkpoint_the_chains_still_match_holds() -> None:
    assert check(signed_by(KEY, Checkpoint(1000, HEADS))) is None


def test_truncation_names_the_first_missing_record() -> None:
    seen = {("ledger", 7): H1}  # lane l1 now ends before seq 3
    first, reason = check(signed_by(KEY, Checkpoint(1000, HEADS)), seen)  # type: ignore[misc]
    assert first == "record l1:1" and "truncated" in reason
    first, reason = check(signed_by(KEY, Checkpoint(1000, HEADS)), {("access:l1", 3): H2})  # type: ignore[misc]
    assert first == "event #7" and "truncated" in reason


def test_a_rewritten_chain_is_named_at_the_signed_position() -> None:
    seen = {("ledger", 7): H1, ("access:l1", 3): H3}
    first, reason = check(signed_by(KEY, Checkpoint(1000, HEADS)), seen)  # type: ignore[misc]
    assert first == "record l1:3" and "rewritten" in reason


def test_another_key_or_an_altered_checkpoint_is_refused() -> None:
    other = signed_by(Ed25519PrivateKey.generate(), Checkpoint(1000, HEADS))
    assert check(other) == ("checkpoint #1", other_reason())
    good = signed_by(KEY, Checkpoint(1000, HEADS))
    altered = SignedCheckpoint(Checkpoint(999, HEADS), good.public_key, good.signature, None)
    first, reason = check(altered)  # type: ignore[misc]
    assert first == "the checkpoint file" and "altered" in reason


def other_reason() -> str:
    return "signed by another key, not this server's checkpoint key"
