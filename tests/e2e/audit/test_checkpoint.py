"""Signed checkpoints catch what a hash chain alone cannot: deleted newest records and
a chain rewritten with recomputed hashes. Each case shows the chain walk alone calls
the tampered store intact, and the off-box checkpoint file does not.

One server per store (conftest); the CLI runs in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.checkpoint import SignedCheckpoint
from infrastructure.crypto.checkpointkey import raw_public
from tests.e2e.audit.conftest import Store


def take(store: Store, path: Path) -> SignedCheckpoint:
    result = store.cli("audit", "checkpoint", "--out", str(path))
    assert result.exit_code == 0, result.output
    return SignedCheckpoint.from_json(json.loads(path.read_text()))


def test_checkpoint_file_and_public_key(store: Store, tmp_path: Path) -> None:
    signed = take(store, tmp_path / "cp.json")
    logs = {h.log for h in signed.checkpoint.heads}
    assert "ledger" in logs and any(log.startswith("access:") for log in logs)
    printed = store.cli("audit", "checkpoint", "--public-key")
    assert printed.exit_code == 0
    assert (
        printed.stdout.strip()
        == "ed25519:" + json.loads((tmp_path / "cp.json").read_text())["publicKey"]
    )
    again = take(store, tmp_path / "again.json")  # nothing moved: the same heads
    assert again.checkpoint.heads == signed.checkpoint.heads
    report = store.report("--checkpoint", str(tmp_path / "cp.json"))
    assert report["intact"] is True and report["checkpoints"]["checked"] >= 2


def test_foreign_or_malformed_checkpoint_is_refused(store: Store, tmp_path: Path) -> None:
    take(store, tmp_path / "cp.json")
    good = json.loads((tmp_path / "cp.json").read_text())
    other = Ed25519PrivateKey.generate()
    signed = SignedCheckpoint.from_json(good)
    forged = SignedCheckpoint(
        signed.checkpoint, raw_public(other), other.sign(signed.checkpoint.canonical())
    )
    (tmp_path / "forged.json").write_text(json.dumps(forged.as_json()))
    (tmp_path / "broken.json").write_text(json.dumps({**good, "heads": [{"log": "x"}]}))
    (tmp_path / "text.json").write_text("not json")
    before = store.raw.run("access", "SELECT COUNT(*) FROM kl_checkpoints")
    for name, words in (
        ("forged.json", "not signed by this server"),
        ("broken.json", "log must be"),
        ("text.json", "not JSON"),
    ):
        for copy in ((), store.copy()):
            result = store.cli("audit", "verify", *copy, "--checkpoint", str(tmp_path / name))
            assert result.exit_code == 1, (name, result.output)
            assert words in result.stderr and "intact" not in result.output
    assert store.raw.run("access", "SELECT COUNT(*) FROM kl_checkpoints") == before


def test_deleted_newest_records_are_caught_by_the_checkpoint(store: Store, tmp_path: Path) -> None:
    take(store, tmp_path / "cp.json")
    lane, count = store.raw.busiest_lane()
    with store.raw.deleted_records(lane, count - 1, count):
        report = store.report(code=1)  # the recorded checkpoint still names the lost rows
        assert report["firstBad"] == f"record {lane}:{count - 1}"
        assert "truncated" in report["reason"]
        with store.raw.no_checkpoints():
            assert store.report()["intact"] is True  # the chains alone cannot tell
            caught = store.report("--checkpoint", str(tmp_path / "cp.json"), code=1)
            assert caught["firstBad"] == f"record {lane}:{count - 1}"
            assert "truncated" in caught["reason"]
            offline = store.report(*store.copy(), "--checkpoint", str(tmp_path / "cp.json"), code=1)
            assert offline["firstBad"] == caught["firstBad"]
    assert store.report("--checkpoint", str(tmp_path / "cp.json"))["intact"] is True


def test_rewritten_chain_is_caught_by_the_checkpoint(store: Store, tmp_path: Path) -> None:
    take(store, tmp_path / "cp.json")
    lane, count = store.raw.busiest_lane()
    with store.raw.rewritten_lane(lane, 2):
        assert store.report(code=1)["firstBad"] == f"record {lane}:{count}"
        with store.raw.no_checkpoints():
            assert store.report()["intact"] is True  # every hash was recomputed
            caught = store.report("--checkpoint", str(tmp_path / "cp.json"), code=1)
            assert caught["firstBad"] == f"record {lane}:{count}"
            assert "rewritten" in caught["reason"]
            human = store.cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"))
            assert human.exit_code == 1 and f"{lane}:{count}" in human.stderr
    assert store.report("--checkpoint", str(tmp_path / "cp.json"))["intact"] is True


def test_deleted_newest_events_are_caught_by_the_checkpoint(store: Store, tmp_path: Path) -> None:
    signed = take(store, tmp_path / "cp.json")
    (signed_head,) = [h.position for h in signed.checkpoint.heads if h.log == "ledger"]
    with store.raw.truncated_ledger(3) as head, store.raw.no_checkpoints():
        assert store.report()["intact"] is True  # the chain alone ends cleanly at `head`
        caught = store.report("--checkpoint", str(tmp_path / "cp.json"), code=1)
        assert caught["firstBad"] == f"event #{signed_head}"
        assert f"after #{head}" in caught["reason"] and "truncated" in caught["reason"]
    assert store.report("--checkpoint", str(tmp_path / "cp.json"))["intact"] is True
