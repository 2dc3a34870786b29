"""A Docker bundle: a machine identity made by the server, handed over once.

The server makes the key pair for this path only. The private key lives in the
`Created` event only as ciphertext, sealed under a key of the bundle's own that is
destroyed when the bundle ends (downloaded or expired), so nothing can open it
afterwards. The link's token is stored only as a hash: the aggregate id derives
from it, so a download is a lookup, and two racing downloads write version 2 of the
same aggregate: the store lets one win.
"""

from __future__ import annotations

import hashlib
import re
from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.audit import AuditStamp
from domain.errors import Gone, InvalidInput
from domain.ids import index_id
from domain.values import SealedValue

BUNDLE_TTL_MS = 15 * 60 * 1000
DEFAULT_MOUNT = "/etc/keyledger"
MOUNT_PATTERN = re.compile(r"^/[A-Za-z0-9._/-]{1,255}$")


class BundleStatus(str, Enum):
    PENDING = "pending"
    DOWNLOADED = "downloaded"
    EXPIRED = "expired"


def bundle_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bundle_aggregate_id(token: str) -> UUID:
    return index_id("docker-bundle", bundle_digest(token))


def validate_mount_path(path: str) -> str:
    """Where the container mounts the unzipped bundle: absolute, plain characters."""
    path = path.rstrip("/")
    if not MOUNT_PATTERN.fullmatch(path) or "/../" in f"{path}/" or "//" in path:
        raise InvalidInput("mountPath must be an absolute path of letters, digits, ._-/")
    return path


class DockerBundle(Aggregate):
    TOPIC = "keyledger.bundle.DockerBundle"

    class Event(Aggregate.Event):
        TOPIC = "keyledger.bundle.Event"

    @staticmethod
    def create_id(digest: str) -> UUID:
        return index_id("docker-bundle", digest)

    @event("Created", topic="keyledger.bundle.Created")
    def __init__(
        self,
        digest: str,
        bundle_id: str,
        machine_id: str,
        project_id: str,
        mount_path: str,
        key_ref: str,
        sealed: SealedValue,
        expires_ms: int,
        audit: AuditStamp,
    ) -> None:
        self.digest = digest
        self.bundle_id = bundle_id
        self.machine_id = machine_id
        self.project_id = project_id
        self.mount_path = mount_path
        self.key_ref = key_ref
        self.sealed = sealed
        self.expires_ms = expires_ms
        self.status = BundleStatus.PENDING

    def is_due(self, now_ms: int) -> bool:
        return self.status is BundleStatus.PENDING and now_ms >= self.expires_ms

    def require_pending(self) -> None:
        if self.status is not BundleStatus.PENDING:
            raise Gone(f"This Docker bundle was already {self.status.value}")

    def download(self, audit: AuditStamp) -> None:
        self.require_pending()
        self._downloaded(audit)

    def expire(self, audit: AuditStamp) -> None:
        self.require_pending()
        self._expired(audit)

    @event("Downloaded", topic="keyledger.bundle.Downloaded")
    def _downloaded(self, audit: AuditStamp) -> None:
        self.status = BundleStatus.DOWNLOADED

    @event("Expired", topic="keyledger.bundle.Expired")
    def _expired(self, audit: AuditStamp) -> None:
        self.status = BundleStatus.EXPIRED
