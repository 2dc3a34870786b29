"""Database providers the sync agent uses to create users and rotate their passwords."""

from __future__ import annotations

from application.ports import DatabaseProvider
from domain.managed import Connection, ProviderType
from infrastructure.providers.mongodb import MongoProvider
from infrastructure.providers.mysql import MySQLProvider
from infrastructure.providers.postgresql import PostgresProvider
from infrastructure.providers.redis import RedisProvider

__all__ = ["provider_for"]


def provider_for(connection: Connection) -> DatabaseProvider:
    """The provider for `connection.provider`; options are checked here, not mid-rotation."""
    match connection.provider:
        case ProviderType.POSTGRESQL:
            return PostgresProvider(connection)
        case ProviderType.MYSQL:
            return MySQLProvider(connection)
        case ProviderType.REDIS:
            return RedisProvider(connection)
        case ProviderType.MONGODB:
            return MongoProvider(connection)
