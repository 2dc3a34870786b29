"""Ed25519 verification through libsodium (PyNaCl): about twice as fast as the
`cryptography` backend on this path, and the hot path verifies every request."""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError
from nacl.signing import VerifyKey


@lru_cache(maxsize=4096)
def _verify_key(public_key: bytes) -> VerifyKey:
    return VerifyKey(public_key)


class NaclVerifier:
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64 or len(public_key) != 32:
            return False
        try:
            _verify_key(public_key).verify(message, signature)
        except (BadSignatureError, NaclValueError, ValueError):
            return False
        return True


class Ed25519KeyMaker:
    """Server-made key pairs, for the one path that needs them (Docker bundles).

    The PEM is what `openssl genpkey -algorithm Ed25519` writes: what the SDKs load."""

    def new_ed25519(self) -> tuple[bytes, bytes]:
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return public, pem
