"""Argon2id password hashing (cryptography's implementation, PHC strings)."""

from __future__ import annotations

import secrets
import threading

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

# OWASP's Argon2id recommendation: t=3, m=64 MiB, p=2 (as the product documents).
ITERATIONS = 3
MEMORY_KIB = 64 * 1024
LANES = 2

# One Argon2id computation at a time per process: OpenSSL's multi-lane Argon2id, run
# from several threads at once, fails (MemoryError) or hangs (seen with concurrent
# share-link opens). Each is tens of milliseconds; callers are throttled anyway.
_ONE_AT_A_TIME = threading.Lock()


class Argon2idHasher:
    def __init__(
        self, iterations: int = ITERATIONS, memory_kib: int = MEMORY_KIB, lanes: int = LANES
    ) -> None:
        self.iterations = iterations
        self.memory_kib = memory_kib
        self.lanes = lanes

    def hash(self, password: str) -> str:
        kdf = Argon2id(
            salt=secrets.token_bytes(16),
            length=32,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        with _ONE_AT_A_TIME:
            return kdf.derive_phc_encoded(password.encode())

    def verify(self, password: str, encoded: str) -> bool:
        try:
            with _ONE_AT_A_TIME:
                Argon2id.verify_phc_encoded(password.encode(), encoded)
        except (InvalidKey, ValueError):
            return False
        return True
