"""The checkpoint signing key: Ed25519, derived from the server key with HKDF (ADR 0016).

Nothing new to keep or back up: whoever holds the server key can re-derive it, and
a sealed server cannot sign. Every key in the ring yields one; the first signs, all
are trusted, so checkpoints signed before a server-key rotation still verify.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from infrastructure.crypto.envelope import Envelope

INFO = b"keyledger checkpoint signing key v1"


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signature_holds(public_key: bytes, data: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


class CheckpointKey:
    def __init__(self, envelope: Envelope) -> None:
        self._envelope = envelope

    def _keys(self) -> list[Ed25519PrivateKey]:
        return [Ed25519PrivateKey.from_private_bytes(k) for k in self._envelope.derive(INFO)]

    def public_key(self) -> bytes:
        return raw_public(self._keys()[0])

    def trusted_keys(self) -> list[bytes]:
        return [raw_public(k) for k in self._keys()]

    def sign(self, data: bytes) -> bytes:
        return self._keys()[0].sign(data)

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        return signature_holds(public_key, data, signature)


class PinnedKey:
    """Offline checks of a store copy: trust only the key an off-box checkpoint names
    (that file is the trusted anchor); signing is the server's job, never done here."""

    def __init__(self, public_key: bytes) -> None:
        self._public = public_key

    def public_key(self) -> bytes:
        return self._public

    def trusted_keys(self) -> list[bytes]:
        return [self._public]

    def sign(self, data: bytes) -> bytes:
        raise RuntimeError("an offline verify signs nothing")

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        return signature_holds(public_key, data, signature)
