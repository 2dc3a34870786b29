"""MongoDB specifics: the auth database, the roles createUser grants, rotation keeps them."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient

from application.ports import ProviderError
from domain.managed import ProviderType
from infrastructure.providers import provider_for
from tests.databases import Server

MONGO = ProviderType.MONGODB


def _user(server: Server, db: str, name: str) -> dict[str, Any]:
    client: MongoClient[Any] = MongoClient(
        port=server.port,
        username=server.admin[0],
        password=server.admin[1],
        authSource="admin",
        directConnection=True,
    )
    try:
        users = client[db].command("usersInfo", {"user": name, "db": db})["users"]
        assert len(users) == 1
        return dict(users[0])
    finally:
        client.close()


def test_create_grants_read_write_on_the_database(mongo_server: Server, username: str) -> None:
    provider_for(mongo_server.connection(MONGO, database="appdb")).create_user(username, "pw-m-1")
    roles = _user(mongo_server, "admin", username)["roles"]
    assert roles == [{"role": "readWrite", "db": "appdb"}]


def test_auth_database_option(mongo_server: Server, username: str) -> None:
    provider = provider_for(mongo_server.connection(MONGO, authDatabase="tenantdb"))
    provider.create_user(username, "pw-m-2")
    assert provider.user_exists(username) is True
    assert provider_for(mongo_server.connection(MONGO)).user_exists(username) is False
    assert _user(mongo_server, "tenantdb", username)["roles"] == [
        {"role": "readWrite", "db": "tenantdb"}
    ]
    provider.verify(username, "pw-m-2")
    provider.set_password(username, "pw-m-3")
    provider.verify(username, "pw-m-3")
    with pytest.raises(ProviderError):
        provider.verify(username, "pw-m-2")


def test_rotation_keeps_roles_an_operator_added(mongo_server: Server, username: str) -> None:
    provider = provider_for(mongo_server.connection(MONGO, database="appdb"))
    provider.create_user(username, "pw-m-4")
    added = [{"role": "readWrite", "db": "appdb"}, {"role": "read", "db": "reports"}]
    client: MongoClient[Any] = MongoClient(
        port=mongo_server.port,
        username=mongo_server.admin[0],
        password=mongo_server.admin[1],
        directConnection=True,
    )
    client["admin"].command("updateUser", username, roles=added)
    client.close()
    provider.set_password(username, "pw-m-5")
    assert _user(mongo_server, "admin", username)["roles"] == added
    provider.verify(username, "pw-m-5")


def test_plain_user_cannot_be_admin(mongo_server: Server) -> None:
    provider = provider_for(mongo_server.connection(MONGO, admin=mongo_server.plain))
    with pytest.raises(ProviderError, match="may not create users"):
        provider.test_admin()
