"""The server key ring and envelope encryption over a real SQLite key table."""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from domain.errors import IntegrityFailure, InvalidInput, Sealed
from infrastructure.crypto.envelope import CHECK_REF, Envelope, value_aad
from infrastructure.crypto.keyring import KEY_BYTES, KeyRing
from infrastructure.database import make_engine
from infrastructure.keystore import KeyStore

PLAINTEXT = b"postgres://app:S3cr3t-Pa55w0rd@db.internal:5432/payments"
OPAQUE = "Stored value failed its integrity check"


# -- key ring ---------------------------------------------------------------------------


def test_generate_makes_one_32_byte_key() -> None:
    ring = KeyRing.generate()
    assert len(ring.keys) == 1
    assert len(ring.keys[0]) == KEY_BYTES
    assert KeyRing.generate().keys != ring.keys


def test_parse_dump_round_trip() -> None:
    ring = KeyRing((os.urandom(32), os.urandom(32)))
    text = ring.dump()
    assert text.count("\n") == 2
    assert KeyRing.parse(text) == ring


def test_parse_skips_comments_and_blank_lines() -> None:
    key = os.urandom(32)
    text = "# server key\n\n  " + base64.b64encode(key).decode() + "  \n# end\n"
    assert KeyRing.parse(text).keys == (key,)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_parse_rejects_wrong_key_length(length: int) -> None:
    with pytest.raises(InvalidInput):
        KeyRing.parse(base64.b64encode(os.urandom(length)).decode() + "\n")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "not base64!!\n"])
def test_parse_rejects_empty_or_invalid(text: str) -> None:
    with pytest.raises(InvalidInput):
        KeyRing.parse(text)


def test_constructor_rejects_wrong_lengths() -> None:
    with pytest.raises(InvalidInput):
        KeyRing(())
    with pytest.raises(InvalidInput):
        KeyRing((os.urandom(32), os.urandom(16)))


def test_write_is_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    path = tmp_path / "keys" / "server.key"
    ring.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing.load(path) == ring
    with pytest.raises(FileExistsError):
        KeyRing.generate().write(path)
    assert KeyRing.load(path) == ring


def test_wrap_unwrap() -> None:
    ring = KeyRing.generate()
    key = os.urandom(32)
    blob = ring.wrap(key, b"aad")
    assert key not in blob
    assert ring.unwrap(blob, b"aad") == key
    assert ring.wrap(key, b"aad") != blob  # fresh IV every time


def test_unwrap_with_wrong_aad_fails() -> None:
    ring = KeyRing.generate()
    blob = ring.wrap(os.urandom(32), b"aad-1")
    with pytest.raises(IntegrityFailure):
        ring.unwrap(blob, b"aad-2")


def test_unwrap_with_a_different_ring_fails() -> None:
    blob = KeyRing.generate().wrap(os.urandom(32), b"aad")
    with pytest.raises(IntegrityFailure):
        KeyRing.generate().unwrap(blob, b"aad")


@pytest.mark.parametrize("position", [0, 1, 9, 21, -1])
def test_unwrap_of_tampered_blob_fails(position: int) -> None:
    ring = KeyRing.generate()
    blob = bytearray(ring.wrap(os.urandom(32), b"aad"))
    blob[position] ^= 0x01
    with pytest.raises(IntegrityFailure):
        ring.unwrap(bytes(blob), b"aad")


def test_unwrap_of_truncated_blob_fails() -> None:
    ring = KeyRing.generate()
    blob = ring.wrap(os.urandom(32), b"aad")
    for cut in (0, 1, 20, len(blob) - 1):
        with pytest.raises(IntegrityFailure):
            ring.unwrap(blob[:cut], b"aad")


def test_rotation_new_ring_unwraps_old_blobs_and_wraps_with_new_key() -> None:
    old = KeyRing.generate()
    key = os.urandom(32)
    old_blob = old.wrap(key, b"aad")
    rotated = KeyRing((os.urandom(32), old.keys[0]))
    assert rotated.unwrap(old_blob, b"aad") == key
    new_blob = rotated.wrap(key, b"aad")
    # The new first key wraps, so the old ring alone cannot read the rewrapped blob.
    with pytest.raises(IntegrityFailure):
        old.unwrap(new_blob, b"aad")
    assert KeyRing((rotated.keys[0],)).unwrap(new_blob, b"aad") == key


# -- envelope ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path}/s.sqlite")
    yield KeyStore(engine)
    engine.dispose()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def envelope(store: KeyStore, ring: KeyRing) -> Envelope:
    envelope = Envelope(store)
    envelope.establish(ring)
    return envelope


@pytest.fixture
def project_key(envelope: Envelope) -> str:
    return envelope.new_project_key("proj_aaaaaaaaaa")


def test_seal_open_round_trip(envelope: Envelope, project_key: str) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    assert sealed.written_version == 1
    assert len(sealed.iv) == 12
    assert sealed.dek_ref.startswith("dk_")
    assert envelope.open_value(project_key, "sk_aaaaaaaaaa", sealed) == PLAINTEXT


def test_empty_and_maximum_values_round_trip(envelope: Envelope, project_key: str) -> None:
    for plaintext in (b"", os.urandom(12 * 1024)):
        sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 3, plaintext)
        assert envelope.open_value(project_key, "sk_aaaaaaaaaa", sealed) == plaintext


def test_plaintext_never_appears_in_the_sealed_value(envelope: Envelope, project_key: str) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    blob = sealed.ciphertext + sealed.iv + sealed.dek_ref.encode()
    assert PLAINTEXT not in blob
    for chunk in (PLAINTEXT[:8], PLAINTEXT[8:16], PLAINTEXT[-8:], b"S3cr3t-Pa55w0rd"):
        assert chunk not in blob
    assert base64.b64encode(PLAINTEXT) not in blob
    assert len(sealed.ciphertext) == len(PLAINTEXT) + 16  # GCM tag, no plaintext copy


def test_each_write_uses_a_fresh_data_key_and_iv(envelope: Envelope, project_key: str) -> None:
    a = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    b = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    assert a.dek_ref != b.dek_ref
    assert a.iv != b.iv
    assert a.ciphertext != b.ciphertext


def test_key_table_holds_no_plaintext_and_no_raw_key(
    envelope: Envelope, ring: KeyRing, store: KeyStore, project_key: str, tmp_path: Path
) -> None:
    envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    blob = store.get(project_key)
    assert blob is not None
    master = ring.unwrap(blob, b"keyledger/project-key/v1\x00" + project_key.encode())
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("s.sqlite*"))
    assert blob in raw  # the scan does see the key table
    assert PLAINTEXT not in raw
    assert b"S3cr3t-Pa55w0rd" not in raw
    assert master not in raw
    assert ring.keys[0] not in raw


def test_aad_binds_the_secret_id(envelope: Envelope, project_key: str) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    with pytest.raises(IntegrityFailure):
        envelope.open_value(project_key, "sk_bbbbbbbbbb", sealed)


def test_aad_binds_the_written_version(envelope: Envelope, project_key: str) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    with pytest.raises(IntegrityFailure):
        envelope.open_value(project_key, "sk_aaaaaaaaaa", replace(sealed, written_version=2))
    assert value_aad("sk_aaaaaaaaaa", 1) != value_aad("sk_aaaaaaaaaa", 2)


def test_ciphertext_moved_to_another_secret_with_its_data_key_fails(
    envelope: Envelope, project_key: str
) -> None:
    a = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    b = envelope.seal_value(project_key, "sk_bbbbbbbbbb", 1, b"other")
    # Secret b's event pointing at a's data key and ciphertext must not open.
    forged = replace(b, ciphertext=a.ciphertext, iv=a.iv, dek_ref=a.dek_ref)
    with pytest.raises(IntegrityFailure):
        envelope.open_value(project_key, "sk_bbbbbbbbbb", forged)


def test_another_projects_key_cannot_open(envelope: Envelope, project_key: str) -> None:
    other = envelope.new_project_key("proj_bbbbbbbbbb")
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    with pytest.raises(IntegrityFailure):
        envelope.open_value(other, "sk_aaaaaaaaaa", sealed)


def _flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x80
    return bytes(out)


@pytest.mark.parametrize("position", [0, 10, -1])
def test_tampered_ciphertext_fails(envelope: Envelope, project_key: str, position: int) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    tampered = replace(sealed, ciphertext=_flip(sealed.ciphertext, position))
    with pytest.raises(IntegrityFailure) as info:
        envelope.open_value(project_key, "sk_aaaaaaaaaa", tampered)
    assert str(info.value) == OPAQUE


def _failures(envelope: Envelope, store: KeyStore, project_key: str) -> list[IntegrityFailure]:
    """One IntegrityFailure for each way opening can fail."""
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    attempts = [
        lambda: envelope.open_value(
            project_key, "sk_aaaaaaaaaa", replace(sealed, ciphertext=_flip(sealed.ciphertext, 0))
        ),
        lambda: envelope.open_value(project_key, "sk_aaaaaaaaaa", replace(sealed, iv=b"1" * 12)),
        lambda: envelope.open_value(project_key, "sk_zzzzzzzzzz", sealed),
        lambda: envelope.open_value(
            project_key, "sk_aaaaaaaaaa", replace(sealed, written_version=9)
        ),
        lambda: envelope.open_value(
            project_key, "sk_aaaaaaaaaa", replace(sealed, dek_ref="dk_missing")
        ),
        lambda: envelope.open_value("pk_missing", "sk_aaaaaaaaaa", sealed),
        lambda: envelope.open_value(
            project_key, "sk_aaaaaaaaaa", replace(sealed, ciphertext=sealed.ciphertext[:-1])
        ),
        lambda: envelope.open_value(project_key, "sk_aaaaaaaaaa", replace(sealed, ciphertext=b"")),
    ]
    errors = []
    for attempt in attempts:
        with pytest.raises(IntegrityFailure) as info:
            attempt()
        errors.append(info.value)
    # A data key wrapped under a tampered blob in the key table.
    store.put("dk_short", "sk_aaaaaaaaaa", "dek", b"\x00" * 5)
    with pytest.raises(IntegrityFailure) as info:
        envelope.open_value(project_key, "sk_aaaaaaaaaa", replace(sealed, dek_ref="dk_short"))
    errors.append(info.value)
    return errors


def test_every_failure_kind_has_the_same_opaque_message(
    envelope: Envelope, store: KeyStore, project_key: str
) -> None:
    errors = _failures(envelope, store, project_key)
    assert len(errors) == 9
    assert {str(e) for e in errors} == {OPAQUE}
    assert {type(e) for e in errors} == {IntegrityFailure}
    for error in errors:
        assert error.__cause__ is None
        assert error.__suppress_context__ or error.__context__ is None


@pytest.mark.parametrize("iv", [b"", b"1234567"])
def test_truncated_iv_fails_opaquely(envelope: Envelope, project_key: str, iv: bytes) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    with pytest.raises(IntegrityFailure):
        envelope.open_value(project_key, "sk_aaaaaaaaaa", replace(sealed, iv=iv))


def test_first_unseal_stores_a_check_and_same_ring_unseals_again(
    store: KeyStore, ring: KeyRing, envelope: Envelope, project_key: str
) -> None:
    assert envelope.has_check()
    assert store.get(CHECK_REF) is not None
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    restarted = Envelope(store)
    assert restarted.is_sealed
    restarted.unseal(KeyRing.parse(ring.dump()))
    assert not restarted.is_sealed
    assert restarted.open_value(project_key, "sk_aaaaaaaaaa", sealed) == PLAINTEXT


def test_unseal_never_sets_the_first_key(store: KeyStore) -> None:
    """Without a check blob, `unseal` refuses: only `establish` (with proof) sets it."""
    fresh = Envelope(store)
    with pytest.raises(IntegrityFailure):
        fresh.unseal(KeyRing.generate())
    assert fresh.is_sealed and not fresh.has_check()
    ring = KeyRing.generate()
    fresh.establish(ring)
    assert not fresh.is_sealed and fresh.has_check()
    other = Envelope(store)
    with pytest.raises(IntegrityFailure):
        other.establish(KeyRing.generate())  # a second "first" key is refused
    assert other.is_sealed
    other.establish(ring)  # the same key: just unseals
    assert not other.is_sealed


def test_wrong_server_key_fails_at_unseal(store: KeyStore, envelope: Envelope) -> None:
    second = Envelope(store)
    with pytest.raises(IntegrityFailure) as info:
        second.unseal(KeyRing.generate())
    assert str(info.value) == OPAQUE
    assert second.is_sealed
    with pytest.raises(Sealed):
        second.new_project_key("proj_bbbbbbbbbb")


def test_rotated_ring_unseals_and_opens_old_values(
    store: KeyStore, ring: KeyRing, envelope: Envelope, project_key: str
) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    rotated = Envelope(store)
    rotated.unseal(KeyRing((os.urandom(32), ring.keys[0])))
    assert rotated.open_value(project_key, "sk_aaaaaaaaaa", sealed) == PLAINTEXT


def test_sealed_envelope_refuses_everything(
    store: KeyStore, envelope: Envelope, project_key: str
) -> None:
    sealed = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, PLAINTEXT)
    envelope.seal()
    assert envelope.is_sealed
    with pytest.raises(Sealed):
        envelope.seal_value(project_key, "sk_aaaaaaaaaa", 2, PLAINTEXT)
    with pytest.raises(Sealed):
        envelope.open_value(project_key, "sk_aaaaaaaaaa", sealed)
    with pytest.raises(Sealed):
        envelope.new_project_key("proj_bbbbbbbbbb")
    fresh = Envelope(store)
    assert fresh.is_sealed
    with pytest.raises(Sealed):
        fresh.open_value(project_key, "sk_aaaaaaaaaa", sealed)


def test_shred_secret_keys_makes_open_fail(envelope: Envelope, project_key: str) -> None:
    v1 = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, b"one")
    v2 = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 2, b"two")
    other = envelope.seal_value(project_key, "sk_bbbbbbbbbb", 1, b"other")
    assert envelope.shred_secret_keys("sk_aaaaaaaaaa") == 2
    for sealed in (v1, v2):
        with pytest.raises(IntegrityFailure):
            envelope.open_value(project_key, "sk_aaaaaaaaaa", sealed)
    # Other secrets and the project key are untouched.
    assert envelope.open_value(project_key, "sk_bbbbbbbbbb", other) == b"other"
    assert envelope.shred_secret_keys("sk_aaaaaaaaaa") == 0


def test_shred_can_keep_one_data_key(envelope: Envelope, project_key: str) -> None:
    v1 = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 1, b"one")
    v2 = envelope.seal_value(project_key, "sk_aaaaaaaaaa", 2, b"two")
    assert envelope.shred_secret_keys("sk_aaaaaaaaaa", keep_dek_ref=v2.dek_ref) == 1
    with pytest.raises(IntegrityFailure):
        envelope.open_value(project_key, "sk_aaaaaaaaaa", v1)
    assert envelope.open_value(project_key, "sk_aaaaaaaaaa", v2) == b"two"


def test_project_key_is_stored_wrapped(
    store: KeyStore, ring: KeyRing, envelope: Envelope, project_key: str
) -> None:
    blob = store.get(project_key)
    assert blob is not None
    assert project_key.startswith("pk_")
    # It is wrapped under the server key with the key ref as AAD.
    assert len(blob) == 1 + 8 + 12 + KEY_BYTES + 16  # format, key id, IV, key, tag
    with pytest.raises(IntegrityFailure):
        ring.unwrap(blob, b"some other aad")
    with pytest.raises(IntegrityFailure):
        KeyRing.generate().unwrap(blob, b"keyledger/project-key/v1\x00" + project_key.encode())
    assert len(ring.unwrap(blob, b"keyledger/project-key/v1\x00" + project_key.encode())) == 32
