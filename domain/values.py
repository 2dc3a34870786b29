"""Value objects carried inside events: sealed ciphertext and secret versions.

A plaintext value never enters an event. A version carries the AES-GCM ciphertext,
its IV and a *reference* to the wrapped data key (kept in the key table, so a purge
can shred it while the event chain stays intact).
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass
from enum import Enum

from domain.errors import InvalidInput


class SecretType(Enum):
    STANDARD = "standard"
    STRUCTURED = "structured"
    CANARY = "canary"  # a tripwire: machines see it as "standard"

    @property
    def machine_facing(self) -> str:
        """The type a machine is told: a canary must look like any standard secret."""
        return SecretType.STANDARD.value if self is SecretType.CANARY else self.value


@dataclass(frozen=True)
class SealedValue:
    ciphertext: bytes
    iv: bytes
    dek_ref: str
    written_version: int  # bound into the AAD; a rollback reuses it unchanged


@dataclass(frozen=True)
class SecretVersion:
    number: int
    sealed: SealedValue
    created_ms: int
    rolled_back_from: int | None = None
    # A structured version's field names: a rollback must bring them back too.
    field_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CanaryOptions:
    """What a canary does when a granted machine reads it (product defaults)."""

    armed: bool = True
    freeze_project: bool = True
    freeze_related: bool = False  # also projects sharing a machine with this one


class Charset(str, Enum):
    SYMBOLS = "symbols"
    ALPHANUMERIC = "alphanumeric"
    NUMBERS = "numbers"
    UUID = "uuid"


_CHARSETS = {
    Charset.SYMBOLS: string.ascii_letters + string.digits + "!#$%&*+-.:=?@^_~",
    Charset.ALPHANUMERIC: string.ascii_letters + string.digits,
    Charset.NUMBERS: string.digits,
}

DEFAULT_LENGTH = 32
CANARY_LENGTH = 64


def generate_value(length: int = DEFAULT_LENGTH, charset: Charset = Charset.SYMBOLS) -> str:
    """A random value for a blank field or a rotation (length 1–1024)."""
    if charset is Charset.UUID:
        return str(uuid.uuid4())
    if not 1 <= length <= 1024:
        raise InvalidInput("length must be between 1 and 1024")
    alphabet = _CHARSETS[charset]
    return "".join(secrets.choice(alphabet) for _ in range(length))
