"""Argon2id hashing with a small memory cost (tests only)."""

from __future__ import annotations

import pytest

from infrastructure.crypto.passwords import Argon2idHasher

PASSWORD = "correct horse 9 battery!"


@pytest.fixture(scope="module")
def hasher() -> Argon2idHasher:
    return Argon2idHasher(memory_kib=8192)


@pytest.fixture(scope="module")
def encoded(hasher: Argon2idHasher) -> str:
    return hasher.hash(PASSWORD)


def test_phc_string_format(encoded: str) -> None:
    assert encoded.startswith("$argon2id$")
    assert "m=8192" in encoded
    assert "t=3" in encoded
    assert "p=2" in encoded
    assert PASSWORD not in encoded


def test_verify_right_password(hasher: Argon2idHasher, encoded: str) -> None:
    assert hasher.verify(PASSWORD, encoded) is True


@pytest.mark.parametrize(
    "wrong", ["", "correct horse 9 battery", "Correct horse 9 battery!", PASSWORD + " "]
)
def test_verify_wrong_password(hasher: Argon2idHasher, encoded: str, wrong: str) -> None:
    assert hasher.verify(wrong, encoded) is False


def test_hashes_are_salted(hasher: Argon2idHasher, encoded: str) -> None:
    again = hasher.hash(PASSWORD)
    assert again != encoded
    assert hasher.verify(PASSWORD, again)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda e: "garbage",
        lambda e: "",
        lambda e: e.replace("$argon2id$", "$argon2i$"),
        lambda e: e[:-4],
        lambda e: e[:-2] + ("AA" if not e.endswith("AA") else "BB"),
    ],
)
def test_verify_malformed_or_altered_hash_is_false(hasher: Argon2idHasher, encoded: str, mangle):
    assert hasher.verify(PASSWORD, mangle(encoded)) is False


def test_parameters_are_honoured() -> None:
    custom = Argon2idHasher(iterations=1, memory_kib=8192, lanes=1)
    encoded = custom.hash(PASSWORD)
    assert "t=1" in encoded
    assert "p=1" in encoded
    # Verification reads the parameters from the PHC string, not from the hasher.
    assert Argon2idHasher(memory_kib=8192).verify(PASSWORD, encoded)
