"""A machine's local identity: $KEYLEDGER_HOME/vaults/<vaultId>/{identity.json,private.pem}.

The layout and the JSON keys are the ones the official SDKs read, so an identity
written by `keyledger connect` also works with `SikkerKey("/path/identity.json")`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from interfaces.cli.plain import keyledger_home, stop, usage_error
from interfaces.cli.signing import MachineClient

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

VAULT_ID = re.compile(r"^vault_[A-Za-z0-9]{1,64}$")
# PKCS#8 of an Ed25519 key as OpenSSL and `keyledger connect` write it: this prefix, then
# the 32-byte seed. Reading it directly spares every `get` the PEM/ASN.1 loaders.
_ED25519_PKCS8 = bytes.fromhex("302e020100300506032b657004220420")


class IdentityError(Exception):
    """The identity or its key cannot be used (the message says why)."""


class Identity(NamedTuple):
    """A NamedTuple, not a dataclass: `dataclasses` alone costs `get` ~8 ms to import."""

    path: Path
    machine_id: str
    machine_name: str
    vault_id: str
    api_url: str
    private_key_path: Path

    def seed(self) -> bytes:
        """The key's 32-byte Ed25519 seed (the offline cache derives its key from it)."""
        try:
            pem = self.private_key_path.read_bytes()
        except OSError as exc:
            raise IdentityError(
                f"Cannot read the private key {self.private_key_path}: {exc.strerror}"
            ) from None
        return _seed(pem, self.private_key_path)

    def key(self) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.seed())

    def summary(self) -> dict[str, Any]:
        return {
            "identity": str(self.path),
            "machineId": self.machine_id,
            "machineName": self.machine_name,
            "vaultId": self.vault_id,
            "apiUrl": self.api_url,
        }


def _seed(pem: bytes, where: Path) -> bytes:
    lines = pem.strip().splitlines()
    if len(lines) >= 3 and lines[0] == b"-----BEGIN PRIVATE KEY-----":
        try:
            der = base64.b64decode(b"".join(lines[1:-1]), validate=True)
        except ValueError:
            der = b""
        if len(der) == 48 and der.startswith(_ED25519_PKCS8):
            return der[16:]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    try:
        loaded = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"Cannot load the private key {where}: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise IdentityError(f"{where} is not an Ed25519 private key")
    return loaded.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def vaults_dir() -> Path:
    return keyledger_home() / "vaults"


def find_identity_path(identity: Path | None, vault: str | None) -> Path | None:
    """--identity, else --vault, else $KEYLEDGER_IDENTITY, else the only vault; None: none.

    Several vaults and nothing to choose between them is a usage error (exit 2).
    """
    if identity is not None:
        return identity.expanduser()
    if vault is not None:
        vault_id = vault if vault.startswith("vault_") else f"vault_{vault}"
        if not VAULT_ID.fullmatch(vault_id):
            usage_error(f"Not a vault id: {vault!r}")
        path = vaults_dir() / vault_id / "identity.json"
        if not path.exists():
            stop(f"No identity for {vault_id} (expected {path}): run `keyledger connect` first")
        return path
    from_env = os.environ.get("KEYLEDGER_IDENTITY")
    if from_env:
        return Path(from_env).expanduser()
    try:
        found = sorted(
            d / "identity.json" for d in vaults_dir().iterdir() if (d / "identity.json").is_file()
        )
    except OSError:
        return None
    if len(found) > 1:
        names = ", ".join(p.parent.name for p in found)
        usage_error(f"Several vaults are registered here ({names}): pick one with --vault")
    return found[0] if found else None


def load_identity(path: Path) -> Identity:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise IdentityError(f"Cannot read the identity {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise IdentityError(f"The identity {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise IdentityError(f"The identity {path} is not a JSON object")
    missing = [k for k in ("machineId", "apiUrl", "privateKeyPath") if not data.get(k)]
    if missing:
        raise IdentityError(f"The identity {path} lacks {', '.join(missing)}")
    key_path = Path(str(data["privateKeyPath"])).expanduser()
    if not key_path.is_absolute():
        key_path = path.parent / key_path
    return Identity(
        path=path,
        machine_id=str(data["machineId"]),
        machine_name=str(data.get("machineName") or ""),
        vault_id=str(data.get("vaultId") or ""),
        api_url=str(data["apiUrl"]).rstrip("/"),
        private_key_path=key_path,
    )


def require_identity(identity: Path | None, vault: str | None) -> Identity:
    """The identity a host command uses, or exit with what to do about it."""
    path = find_identity_path(identity, vault)
    if path is None:
        stop(f"No machine identity found in {vaults_dir()}: run `keyledger connect` first")
    try:
        return load_identity(path)
    except IdentityError as exc:
        stop(str(exc))


def machine_client(identity: Path | None, vault: str | None, *, retries: int = 3) -> MachineClient:
    found = require_identity(identity, vault)
    try:
        key = found.key()
    except IdentityError as exc:
        stop(str(exc))
    return MachineClient(found.api_url, found.machine_id, key, retries=retries)


# -- writing ------------------------------------------------------------------


def private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def write_private(path: Path, data: bytes) -> None:
    """Write a 0600 file atomically: a temp file in the same directory, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def prepare_home() -> Path:
    """Create $KEYLEDGER_HOME/vaults (0700) before registering: fail early, not after."""
    home = keyledger_home()
    private_dir(home)
    private_dir(vaults_dir())
    return vaults_dir()


def write_identity(
    key: Ed25519PrivateKey, machine_id: str, machine_name: str, vault_id: str, api_url: str
) -> Path:
    """Store the key and identity.json for `vault_id`, replacing any earlier one."""
    if not VAULT_ID.fullmatch(vault_id):
        raise IdentityError(f"The server answered with an unusable vault id {vault_id[:80]!r}")
    directory = prepare_home() / vault_id
    private_dir(directory)
    key_path = (directory / "private.pem").absolute()
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    write_private(key_path, pem)
    identity = {
        "machineId": machine_id,
        "machineName": machine_name,
        "vaultId": vault_id,
        "apiUrl": api_url.rstrip("/"),
        "privateKeyPath": str(key_path),
    }
    path = directory / "identity.json"
    write_private(path, (json.dumps(identity, indent=2) + "\n").encode())
    return path


def replacement_proof(vaults: Path, server: str, token: str, public_key: str) -> dict[str, str]:
    """If this host already holds an identity on `server`, prove it with the old key so
    the server retires that machine (re-registering replaces the old identity)."""
    found = []
    for path in sorted(vaults.glob("*/identity.json")):
        try:
            identity = load_identity(path)
        except IdentityError:
            continue
        if identity.api_url == server:
            found.append(identity)
    if len(found) != 1:
        return {}
    try:
        key = found[0].key()
    except IdentityError:
        return {}
    payload = f"keyledger-replace:{token}:{public_key}".encode()
    return {
        "replaces": found[0].machine_id,
        "replacesSignature": base64.b64encode(key.sign(payload)).decode(),
    }
