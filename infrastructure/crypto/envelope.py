"""Envelope encryption: the one module that composes AES-GCM keys for values.

Three layers: a fresh 32-byte data key per write encrypts the value (AES-256-GCM,
random 12-byte IV, AAD = secret id + written version); the project master key wraps
the data key; the server key ring wraps the master key. Wrapped keys live in the key
table, so shredding a secret or project is deleting rows, not rewriting events.
Every failure to open is the same opaque `IntegrityFailure`.
"""

from __future__ import annotations

import contextlib
import secrets
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import IntegrityError

from domain.errors import IntegrityFailure, Sealed
from domain.values import SealedValue
from infrastructure.crypto.keyring import IV_BYTES, KEY_BYTES, KeyRing
from infrastructure.keystore import KeyStore

CHECK_REF = "server-key-check"
_CHECK_PLAINTEXT = b"keyledger server key check v1"


def value_aad(secret_id: str, written_version: int) -> bytes:
    return f"keyledger/value/v1\x00{secret_id}\x00{written_version}".encode()


def _dek_aad(secret_id: str, dek_ref: str) -> bytes:
    return f"keyledger/dek/v1\x00{secret_id}\x00{dek_ref}".encode()


def _project_aad(key_ref: str) -> bytes:
    return f"keyledger/project-key/v1\x00{key_ref}".encode()


def _wipe(buffer: bytearray) -> None:
    for i in range(len(buffer)):
        buffer[i] = 0


class Envelope:
    """Implements the application's `KeyService` port. Sealed until given a key ring."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._ring: KeyRing | None = None
        self._lock = threading.Lock()
        # Wrapped (still encrypted) key blobs by reference: immutable rows, cached to
        # spare two queries per read; dropped whenever the vault changes (shredding).
        self._blobs: dict[str, bytes] = {}
        # Unwrapped project master keys, only while unsealed: every read needs one,
        # and unwrapping it each time was ~6 % of a read. Dropped with the blobs and
        # on seal; data keys are never cached.
        self._masters: dict[str, bytes] = {}

    def forget_cached(self) -> None:
        self._blobs = {}
        self._masters = {}

    def _blob(self, key_ref: str) -> bytes | None:
        blobs = self._blobs
        blob = blobs.get(key_ref)
        if blob is None:
            blob = self._store.get(key_ref)
            if blob is not None:
                blobs[key_ref] = blob
        return blob

    # -- seal state ------------------------------------------------------------

    @property
    def is_sealed(self) -> bool:
        return self._ring is None

    def has_check(self) -> bool:
        return self._store.get(CHECK_REF) is not None

    def unseal(self, ring: KeyRing) -> None:
        """Accept `ring` only if it opens the stored check blob.

        With no check blob yet this refuses too: the first key is set by `establish`,
        which only callers holding proof may reach (the server's own key file at
        start-up, or the logged-in owner)."""
        with self._lock:
            check = self._store.get(CHECK_REF)
            if check is None or ring.unwrap(check, CHECK_REF.encode()) != _CHECK_PLAINTEXT:
                raise IntegrityFailure()
            self._ring = ring

    def establish(self, ring: KeyRing) -> None:
        """Make `ring` the vault's key if none was set yet, then unseal with it.

        Once a check blob exists this is `unseal`: a different ring is refused. Two
        processes racing to set the first key: the store keeps one, the other must match.
        """
        with self._lock:
            if self._store.get(CHECK_REF) is None:
                blob = ring.wrap(_CHECK_PLAINTEXT, CHECK_REF.encode())
                with contextlib.suppress(IntegrityError):
                    self._store.put(CHECK_REF, "server", "check", blob)
        self.unseal(ring)

    def seal(self) -> None:
        with self._lock:
            self._ring = None
            self._masters = {}

    def derive(self, info: bytes) -> list[bytes]:
        """One 32-byte key per server key, first key first, for another purpose than
        wrapping (HKDF-SHA256, `info` names the purpose); `Sealed` while sealed."""
        return [
            HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(key)
            for key in self._require_ring().keys
        ]

    def seal_setting(self, plaintext: bytes, aad: bytes) -> bytes:
        """A small setting (webhook signing secret, SMTP password) sealed under the
        server key, bound to `aad`; `Sealed` while the server is sealed."""
        return self._require_ring().wrap(plaintext, b"setting\x00" + aad)

    def open_setting(self, blob: bytes, aad: bytes) -> bytes:
        return self._require_ring().unwrap(blob, b"setting\x00" + aad)

    def _require_ring(self) -> KeyRing:
        ring = self._ring
        if ring is None:
            raise Sealed()
        return ring

    # -- project keys ----------------------------------------------------------

    def new_project_key(self, project_id: str) -> str:
        ring = self._require_ring()
        key_ref = "pk_" + secrets.token_hex(12)
        master = bytearray(secrets.token_bytes(KEY_BYTES))
        try:
            blob = ring.wrap(bytes(master), _project_aad(key_ref))
        finally:
            _wipe(master)
        self._store.put(key_ref, project_id, "project", blob)
        return key_ref

    def _project_key(self, key_ref: str) -> bytes:
        ring = self._require_ring()
        masters = self._masters
        master = masters.get(key_ref)
        if master is None:
            blob = self._blob(key_ref)
            if blob is None:
                raise IntegrityFailure()
            master = ring.unwrap(blob, _project_aad(key_ref))
            if self._ring is ring:  # not sealed meanwhile
                masters[key_ref] = master
        return master

    # -- values ----------------------------------------------------------------

    def seal_value(
        self, project_key_ref: str, secret_id: str, written_version: int, plaintext: bytes
    ) -> SealedValue:
        master = self._project_key(project_key_ref)
        dek = bytearray(secrets.token_bytes(KEY_BYTES))
        dek_ref = "dk_" + secrets.token_hex(12)
        try:
            iv = secrets.token_bytes(IV_BYTES)
            ciphertext = AESGCM(bytes(dek)).encrypt(
                iv, plaintext, value_aad(secret_id, written_version)
            )
            dek_iv = secrets.token_bytes(IV_BYTES)
            wrapped = dek_iv + AESGCM(master).encrypt(
                dek_iv, bytes(dek), _dek_aad(secret_id, dek_ref)
            )
        finally:
            _wipe(dek)
        self._store.put(dek_ref, secret_id, "dek", wrapped)
        return SealedValue(
            ciphertext=ciphertext, iv=iv, dek_ref=dek_ref, written_version=written_version
        )

    def open_value(self, project_key_ref: str, secret_id: str, sealed: SealedValue) -> bytes:
        master = self._project_key(project_key_ref)
        wrapped = self._blob(sealed.dek_ref)
        if wrapped is None or len(wrapped) < IV_BYTES + 16:
            raise IntegrityFailure()
        try:
            dek = bytearray(
                AESGCM(master).decrypt(
                    wrapped[:IV_BYTES], wrapped[IV_BYTES:], _dek_aad(secret_id, sealed.dek_ref)
                )
            )
            try:
                return AESGCM(bytes(dek)).decrypt(
                    sealed.iv, sealed.ciphertext, value_aad(secret_id, sealed.written_version)
                )
            finally:
                _wipe(dek)
        except (InvalidTag, ValueError):  # ValueError: a corrupted IV length
            raise IntegrityFailure() from None

    def shred_secret_keys(self, secret_id: str, keep_dek_ref: str | None = None) -> int:
        self.forget_cached()
        shredded = self._store.delete_owned(secret_id, kind="dek", keep=keep_dek_ref)
        self.forget_cached()
        return shredded

    def shred_project_key(self, project_id: str, secret_ids: list[str]) -> int:
        self.forget_cached()
        shredded = self._store.shred_project(project_id, secret_ids)
        self.forget_cached()
        return shredded
