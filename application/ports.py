"""The ports the application needs from the outside world, as Protocols.

Infrastructure implements them (AES-GCM key service, Argon2id hasher, SQL session
store); tests may substitute in-memory fakes. Nothing here names a framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from domain.accesschain import ChainedEntry
from domain.values import SealedValue


class KeyService(Protocol):
    """Envelope encryption. The only way the application touches key material."""

    @property
    def is_sealed(self) -> bool: ...

    def new_project_key(self, project_id: str) -> str:
        """Generate, wrap and store a project master key; return its reference."""
        ...

    def seal_value(
        self, project_key_ref: str, secret_id: str, written_version: int, plaintext: bytes
    ) -> SealedValue: ...

    def open_value(self, project_key_ref: str, secret_id: str, sealed: SealedValue) -> bytes: ...

    def shred_secret_keys(self, secret_id: str, keep_dek_ref: str | None = None) -> int:
        """Delete a secret's wrapped data keys; its ciphertext becomes unreadable."""
        ...

    def shred_project_key(self, project_id: str, secret_ids: list[str]) -> int:
        """Destroy a project's wrapped master key (rows overwritten and deleted): every
        data key it wrapped, and so every value sealed in the project, is unreadable.
        The data keys of `secret_ids` go too (useless now; not left lying about)."""
        ...

    def forget_cached(self) -> None:
        """Drop cached wrapped-key blobs (the vault changed; a purge may have shredded)."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, encoded: str) -> bool: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    user_id: str
    created_ms: int
    expires_ms: int
    revoked: bool
    # When the dashboard last saw this session; None for a session it did not open (CLI).
    last_seen_ms: int | None = None


class SessionStore(Protocol):
    def add(self, token_hash: str, record: SessionRecord) -> None: ...

    def find(self, token_hash: str) -> SessionRecord | None: ...

    def revoke(self, session_id: str) -> bool: ...

    def revoke_user(self, user_id: str) -> int:
        """Revoke every open session of `user_id`; how many were open."""
        ...

    def seen(self, session_id: str, now_ms: int) -> None:
        """Record dashboard activity on a session (the idle timeout counts from it)."""
        ...


class SetupCodeStore(Protocol):
    def read(self) -> str | None: ...

    def consume(self) -> None: ...


class SignatureVerifier(Protocol):
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...


class KeyPairMaker(Protocol):
    def new_ed25519(self) -> tuple[bytes, bytes]:
        """A fresh key pair: (raw 32-byte public key, PKCS#8 PEM private key)."""
        ...


class NonceStore(Protocol):
    def claim(self, machine_id: str, nonce: str, now_ms: int) -> bool:
        """Record a nonce; False if this machine used it before (a replay)."""
        ...


class FetchLog(Protocol):
    """What version of each secret a machine last fetched (for /v1/secrets/poll)."""

    def record_many(self, fetched: list[tuple[str, str, int]]) -> None:
        """(machine_id, secret_id, version) rows: upsert in one transaction."""
        ...

    def last(self, machine_id: str, secret_ids: list[str]) -> dict[str, int]: ...


@dataclass(frozen=True)
class AppendOutcome:
    """What became of one batch. `replayed`: positions whose (machine, nonce) was used
    before; when any is, nothing was committed. `head`: the ledger head read inside
    the batch's transaction."""

    committed: bool
    replayed: list[int]
    head: object


class AccessStore(Protocol):
    """The append-only access log (see domain/accesschain.py)."""

    def append(
        self,
        rows: list[ChainedEntry],
        fetched: list[tuple[str, str, int]],
        confirm: Callable[[object], bool],
    ) -> AppendOutcome:
        """One transaction: the rows (a lane's first row also registers the lane), then
        the fetch bookkeeping, then `confirm(ledger head)` decides commit or rollback."""
        ...


@dataclass(frozen=True)
class LaneInfo:
    lane: str
    started_ms: int
    origin: str


class AccessLogSource(Protocol):
    """What `verify` walks: every lane, and the lane of every stored record."""

    def lanes(self) -> list[LaneInfo]: ...

    def record_lanes(self) -> list[str]: ...

    def iter_lane(self, lane: str) -> Iterator[ChainedEntry]: ...


class HeadWatch(Protocol):
    """A token that changes whenever anything is committed to the ledger."""

    def token(self) -> object: ...


class ProviderError(Exception):
    """A database provider step failed; the message is safe to show and to audit."""


class DatabaseProvider(Protocol):
    """One database kind the sync agent can manage (infrastructure/providers/*).

    Every method opens its own short-lived connection and raises `ProviderError`
    with a message that never contains a password.
    """

    def test_admin(self) -> None:
        """Connect with the admin credentials and check they may manage users."""
        ...

    def user_exists(self, username: str) -> bool: ...

    def create_user(self, username: str, password: str) -> None: ...

    def set_password(self, username: str, password: str) -> None:
        """Apply (or restore) a password for an existing user."""
        ...

    def verify(self, username: str, password: str) -> None:
        """Open a fresh connection *as the managed user*; raise if it is refused."""
        ...


class HeartbeatStore(Protocol):
    """When each managed secret's agent last sent a heartbeat (not an event: every 30 s)."""

    def beat(self, secret_id: str, machine_id: str, now_ms: int) -> None: ...

    def last(self, secret_id: str, machine_id: str) -> int | None:
        """The last beat of `machine_id` for this secret (another machine's beat: None)."""
        ...


class RotationDirectory(Protocol):
    """Read-model queries the scheduler asks (fast; the aggregates have the final say)."""

    def due(self, now_ms: int) -> list[tuple[str, int]]:
        """(secret_id, next_due_ms) of enabled schedules due by now."""
        ...

    def watched(self) -> list[str]:
        """Managed secrets whose agent health or held state may need updating."""
        ...

    def managed(self) -> list[str]:
        """Every managed secret whose schedule is not cancelled (the dashboard's list)."""
        ...
