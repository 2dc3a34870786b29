"""The server key ring: the root of the envelope, held only in process memory.

The first key wraps; any key in the ring unwraps (found by its id), so the server
key can be rotated by adding a new first key and rewrapping project keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import IntegrityFailure, InvalidInput

KEY_BYTES = 32
IV_BYTES = 12
_FORMAT = b"\x01"


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"keyledger-server-key-id\x00" + key).digest()[:8]


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys or any(len(k) != KEY_BYTES for k in self.keys):
            raise InvalidInput("A server key is 32 bytes (base64 encoded, one per line)")

    @classmethod
    def generate(cls) -> KeyRing:
        return cls((secrets.token_bytes(KEY_BYTES),))

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keys = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                keys.append(base64.b64decode(line, validate=True))
            except ValueError:
                raise InvalidInput("Server key file is not base64, one key per line") from None
        return cls(tuple(keys))

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        return cls.parse(path.read_text())

    def dump(self) -> str:
        return "".join(base64.b64encode(k).decode() + "\n" for k in self.keys)

    def write(self, path: Path) -> None:
        """Write the ring to a new 0600 file (refuses to overwrite)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.dump())

    def wrap(self, key: bytes, aad: bytes) -> bytes:
        active = self.keys[0]
        iv = secrets.token_bytes(IV_BYTES)
        return _FORMAT + key_id(active) + iv + AESGCM(active).encrypt(iv, key, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 1 + 8 + IV_BYTES + 16 or blob[:1] != _FORMAT:
            raise IntegrityFailure()
        wanted, iv, body = blob[1:9], blob[9 : 9 + IV_BYTES], blob[9 + IV_BYTES :]
        for key in self.keys:
            if secrets.compare_digest(key_id(key), wanted):
                try:
                    return AESGCM(key).decrypt(iv, body, aad)
                except InvalidTag:
                    raise IntegrityFailure() from None
        raise IntegrityFailure()
