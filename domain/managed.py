"""Managed secrets: a database credential keyledger rotates through a local agent.

The connection details (how the agent reaches the database as an admin) are sealed
like any value; only `ManagedSpec` metadata (provider, managed username) is plain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from domain import redis_acl
from domain.errors import InvalidInput

# Letters, digits, underscore; at most 63 (PostgreSQL's identifier limit).
_USERNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_HOST = re.compile(r"^[A-Za-z0-9_.:%\-\[\]]{1,253}$")


class ProviderType(str, Enum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    REDIS = "redis"
    MONGODB = "mongodb"


DEFAULT_PORTS = {
    ProviderType.POSTGRESQL: 5432,
    ProviderType.MYSQL: 3306,
    ProviderType.REDIS: 6379,
    ProviderType.MONGODB: 27017,
}


def validate_username(username: str) -> str:
    """A managed role name: letters, digits, underscores, ≤ 63, not starting with a digit."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidInput(
            "Managed username must be 1–63 letters, digits or underscores "
            "and must not start with a digit"
        )
    return username


def parse_provider(value: str) -> ProviderType:
    try:
        return ProviderType(value)
    except ValueError:
        names = ", ".join(p.value for p in ProviderType)
        raise InvalidInput(f"Unknown provider {value[:40]!r}: use one of {names}") from None


@dataclass(frozen=True)
class Connection:
    """How the agent reaches the database with admin rights (never stored in plain).

    `options` carries provider specifics: mysql `userHost` (default "%"), mongodb
    `authDatabase` (default "admin"), redis `mode` ("acl" default | "requirepass")
    and `aclRules` (the new user's rules, see `domain.redis_acl`).
    """

    provider: ProviderType
    host: str
    port: int
    database: str
    admin_user: str
    admin_pass: str
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _HOST.fullmatch(self.host or ""):
            raise InvalidInput("host must be a hostname or an IP address")
        if not 1 <= int(self.port) <= 65535:
            raise InvalidInput("port must be between 1 and 65535")
        if len(self.database) > 128 or any(ord(c) < 32 for c in self.database):
            raise InvalidInput("database must be at most 128 printable characters")
        if self.provider is not ProviderType.REDIS and not self.admin_user:
            raise InvalidInput("admin user is required")
        if len(self.admin_user) > 128 or len(self.admin_pass) > 1024:
            raise InvalidInput("admin user or password is too long")
        if redis_acl.OPTION in self.options:
            if self.provider is not ProviderType.REDIS or self.options.get("mode") not in (
                None,
                "",
                "acl",
            ):
                raise InvalidInput("aclRules applies to redis in mode acl only")
            redis_acl.parse_rules(self.options[redis_acl.OPTION])

    def to_wire(self) -> dict[str, Any]:
        """The `connection` object of sync-config (and of the sealed blob)."""
        return {
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "adminUser": self.admin_user,
            "adminPass": self.admin_pass,
            "options": dict(self.options),
        }

    @classmethod
    def from_wire(cls, provider: ProviderType, data: dict[str, Any]) -> Connection:
        try:
            return cls(
                provider=provider,
                host=str(data["host"]),
                port=int(data.get("port") or DEFAULT_PORTS[provider]),
                database=str(data.get("database") or ""),
                admin_user=str(data.get("adminUser") or ""),
                admin_pass=str(data.get("adminPass") or ""),
                options={str(k): str(v) for k, v in (data.get("options") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InvalidInput("connection needs host, port, adminUser and adminPass") from None

    def __repr__(self) -> str:  # never print the admin password
        return (
            f"Connection({self.provider.value}://{self.admin_user}@{self.host}:{self.port}"
            f"/{self.database})"
        )
