"""Public identifiers (`vault_…`, `proj_…`, `sk_…`) and the aggregate ids behind them.

Operators and machines only ever see the short public ids. The event store keys
aggregates by UUID, so each public id maps to a UUID with uuid5: a lookup by public
id needs no index and cannot collide across kinds (the prefix is part of the name).
"""

from __future__ import annotations

import functools
import re
import secrets
import string
import uuid

from domain.errors import NotFound

_ALPHABET = string.ascii_lowercase + string.digits
_NAMESPACE = uuid.UUID("6f1c7a52-39a4-4c55-9a53-6b2f1f3a0c11")

VAULT = "vault_"
PROJECT = "proj_"
SECRET = "sk_"  # noqa: S105 - an id prefix, not a password
USER = "usr_"
ROTATION = "rot_"
WEBHOOK = "wh_"
SHARE = "shr_"
POLICY = "pol_"
DOCKER_BUNDLE = "dkb_"
ENROLLMENT = "enr_"

_KINDS = {
    VAULT: "Vault",
    PROJECT: "Project",
    SECRET: "Secret",
    USER: "User",
    ROTATION: "Rotation",
    WEBHOOK: "Webhook",
    SHARE: "Share",
    POLICY: "Policy",
    DOCKER_BUNDLE: "Docker bundle",
    ENROLLMENT: "Enrollment token",
}
_PATTERNS = {prefix: re.compile(rf"^{prefix}[a-z0-9]{{10}}$") for prefix in _KINDS}


def new_public_id(prefix: str) -> str:
    """A fresh `prefix` + 10 random lower-case alphanumerics (about 52 bits)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def is_public_id(prefix: str, value: str) -> bool:
    return isinstance(value, str) and bool(_PATTERNS[prefix].fullmatch(value))


def require(prefix: str, value: str) -> str:
    """`value` if it is an id of this kind, else NotFound like any unknown id.

    A `proj_…` where a secret is meant must never load the project's aggregate as if it
    were a secret: checked here, before any lookup, by every service that takes an id.
    """
    if not is_public_id(prefix, value):
        raise NotFound(f"{_KINDS[prefix]} {str(value)[:40]} not found")
    return value


@functools.lru_cache(maxsize=65536)
def aggregate_id(public_id: str) -> uuid.UUID:
    """The event-store id of the aggregate a public id names (cached: every read asks)."""
    return uuid.uuid5(_NAMESPACE, public_id)


def index_id(*parts: str) -> uuid.UUID:
    """The id of an index aggregate (e.g. a secret-name claim) keyed by `parts`."""
    return uuid.uuid5(_NAMESPACE, "\x00".join(("index", *parts)))


VAULT_SINGLETON = uuid.uuid5(_NAMESPACE, "the-vault")
