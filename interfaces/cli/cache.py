"""The host CLI's opt-in offline cache (product-facts §6.2).

With `keyledger cache enable`, every value `keyledger get` reads is also kept in
$KEYLEDGER_HOME/vaults/<vaultId>/cache/<secretId>.skc, sealed with AES-256-GCM under a
key derived (HKDF-SHA256) from the machine's own Ed25519 seed, so only this machine's
key opens it. It is served only when the server cannot answer (no connection,
502/503/504/520–527/530), never when it refuses: a 401/403/404 drops the entry instead.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from interfaces.cli.identity import VAULT_ID, Identity, private_dir, vaults_dir, write_private
from interfaces.cli.plain import keyledger_home

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

INFO = b"sikkerkey-cache-v1"
SETTINGS = "cli_global.json"
# The server could not answer (status 0: no connection at all).
SERVABLE = frozenset({0, 502, 503, 504, *range(520, 528), 530})
# The server answered "no": whatever was cached must not outlive that answer.
REVOKED = frozenset({401, 403, 404})


def _settings_path() -> Path:
    return keyledger_home() / SETTINGS


def _settings() -> dict[str, object]:
    try:
        data = json.loads(_settings_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def enabled() -> bool:
    return _settings().get("cache_enabled") is True


def set_enabled(on: bool) -> None:
    """Switch caching on or off (off also deletes every cached entry)."""
    private_dir(keyledger_home())
    data = {**_settings(), "cache_enabled": on}
    write_private(_settings_path(), (json.dumps(data, indent=2) + "\n").encode())
    if not on:
        clear()


def entries() -> list[Path]:
    try:
        return sorted(vaults_dir().glob("vault_*/cache/*.skc"))
    except OSError:
        return []


def clear() -> int:
    """Delete every cached entry on this host; how many there were."""
    found = entries()
    for path in found:
        with contextlib.suppress(OSError):
            path.unlink()
    return len(found)


class Cached(NamedTuple):
    value: str
    cached_at: int  # epoch ms


class OfflineCache:
    """One machine's entries: sealed per secret, bound (AAD) to vault, machine, secret, time."""

    def __init__(self, directory: Path, vault_id: str, machine_id: str, seed: bytes) -> None:
        self.directory = directory
        self.vault_id = vault_id
        self.machine_id = machine_id
        self._seed = seed

    @classmethod
    def of(cls, identity: Identity, seed: bytes) -> OfflineCache | None:
        if not VAULT_ID.fullmatch(identity.vault_id):
            return None  # nowhere safe to put it
        directory = vaults_dir() / identity.vault_id / "cache"
        return cls(directory, identity.vault_id, identity.machine_id, seed)

    def _aead(self) -> AESGCM:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        hkdf = HKDF(hashes.SHA256(), 32, salt=self.vault_id.encode(), info=INFO)
        return AESGCM(hkdf.derive(self._seed))

    def _aad(self, secret_id: str, cached_at: int) -> bytes:
        parts = (INFO.decode(), self.vault_id, self.machine_id, secret_id, str(cached_at))
        return "\0".join(parts).encode()

    def path(self, secret_id: str) -> Path:
        return self.directory / f"{secret_id}.skc"

    def store(self, secret_id: str, value: str) -> None:
        """Best effort: a cache that cannot be written must not fail the read it follows."""
        cached_at = int(time.time() * 1000)
        nonce = os.urandom(12)
        plain = json.dumps({"value": value}).encode()
        sealed = self._aead().encrypt(nonce, plain, self._aad(secret_id, cached_at))
        entry = {
            "v": 1,
            "nonce": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(sealed).decode(),
            "cachedAt": cached_at,
        }
        with contextlib.suppress(OSError):
            private_dir(self.directory)
            write_private(self.path(secret_id), json.dumps(entry).encode())

    def load(self, secret_id: str) -> Cached | None:
        """The entry, or None when there is none or it does not open (tampered, other key)."""
        from cryptography.exceptions import InvalidTag

        try:
            entry = json.loads(self.path(secret_id).read_bytes())
            cached_at = int(entry["cachedAt"])
            nonce = base64.b64decode(entry["nonce"], validate=True)
            sealed = base64.b64decode(entry["ct"], validate=True)
            plain = self._aead().decrypt(nonce, sealed, self._aad(secret_id, cached_at))
            return Cached(str(json.loads(plain)["value"]), cached_at)
        except (OSError, ValueError, KeyError, TypeError, InvalidTag):
            return None

    def forget(self, secret_id: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path(secret_id))
