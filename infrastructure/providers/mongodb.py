"""MongoDB: rotate a SCRAM user's password with createUser / updateUser.

The managed user lives in `options["authDatabase"]` (default "admin"); the admin
authenticates against "admin". createUser grants `readWrite` on `database` (or on
the auth database when empty): enough for an application, nothing administrative.
updateUser changes only `pwd`, so roles granted later by an operator survive.
Commands are documents, so there is no string building to inject into.
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from application.ports import ProviderError
from domain.managed import Connection
from infrastructure.providers.common import (
    CONNECT_TIMEOUT_S,
    checked_username,
    ensure_reachable,
    fail,
)

_ADMIN_DB = "admin"
_ANY_DB_ROLES = {"root", "userAdminAnyDatabase", "__system"}
_ONE_DB_ROLES = {"userAdmin", "dbOwner"}


class MongoProvider:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._auth_db = connection.options.get("authDatabase") or _ADMIN_DB

    def _client(self, username: str, password: str, auth_source: str) -> MongoClient[Any]:
        return MongoClient(
            host=self._c.host,
            port=self._c.port,
            username=username,
            password=password,
            authSource=auth_source,
            directConnection=True,
            connectTimeoutMS=CONNECT_TIMEOUT_S * 1000,
            serverSelectionTimeoutMS=CONNECT_TIMEOUT_S * 1000,
            socketTimeoutMS=15_000,
            maxPoolSize=1,
            appname="keyledger-agent",
        )

    def _command(
        self, username: str, password: str, auth_source: str, db: str, what: str, cmd: Any
    ) -> dict[str, Any]:
        """One command on a fresh client; a refusal names the step, never a password."""
        ensure_reachable("MongoDB", self._c.host, self._c.port)
        client = self._client(username, password, auth_source)
        try:
            result: dict[str, Any] = client[db].command(cmd)
            return result
        except OperationFailure as exc:
            raise ProviderError(
                f"MongoDB could not {what} as {username!r} (code {exc.code}: "
                f"{(exc.details or {}).get('codeName', 'error')})"
            ) from None
        except PyMongoError as exc:
            raise fail(
                f"MongoDB at {self._c.host}:{self._c.port} failed to {what}",
                exc,
                password,
                self._c.admin_pass,
            ) from None
        finally:
            client.close()

    def _admin(self, what: str, db: str, cmd: Any) -> dict[str, Any]:
        return self._command(self._c.admin_user, self._c.admin_pass, _ADMIN_DB, db, what, cmd)

    def test_admin(self) -> None:
        status = self._admin(
            "read its connection status",
            _ADMIN_DB,
            {"connectionStatus": 1, "showPrivileges": True},
        )
        info = status.get("authInfo") or {}
        if not self._can_create_users(info):
            raise ProviderError(
                f"MongoDB user {self._c.admin_user!r} can log in but may not create users in "
                f"{self._auth_db!r} (needs root, userAdminAnyDatabase, or userAdmin/dbOwner "
                "there)"
            )

    def _can_create_users(self, info: dict[str, Any]) -> bool:
        for privilege in info.get("authenticatedUserPrivileges") or []:
            resource = privilege.get("resource") or {}
            on_db = resource.get("anyResource") or resource.get("db") in ("", self._auth_db)
            if on_db and "createUser" in (privilege.get("actions") or []):
                return True
        for role in info.get("authenticatedUserRoles") or []:
            name, db = role.get("role"), role.get("db")
            if name in _ANY_DB_ROLES or (name in _ONE_DB_ROLES and db == self._auth_db):
                return True
        return False

    def user_exists(self, username: str) -> bool:
        name = checked_username(username)
        reply = self._admin(
            f"look up {name!r}",
            self._auth_db,
            {"usersInfo": {"user": name, "db": self._auth_db}},
        )
        return bool(reply.get("users"))

    def create_user(self, username: str, password: str) -> None:
        name = checked_username(username)
        _nonempty(password)
        role = {"role": "readWrite", "db": self._c.database or self._auth_db}
        cmd = {"createUser": name, "pwd": password, "roles": [role]}
        self._admin(f"create user {name!r}", self._auth_db, cmd)

    def set_password(self, username: str, password: str) -> None:
        name = checked_username(username)
        _nonempty(password)
        cmd = {"updateUser": name, "pwd": password}
        self._admin(f"set the password of {name!r}", self._auth_db, cmd)

    def verify(self, username: str, password: str) -> None:
        """connectionStatus needs a session; `ping` alone is allowed before auth."""
        name = checked_username(username)
        status = self._command(
            name, password, self._auth_db, self._auth_db, "log in", {"connectionStatus": 1}
        )
        users = (status.get("authInfo") or {}).get("authenticatedUsers") or []
        if {"user": name, "db": self._auth_db} not in [
            {"user": u.get("user"), "db": u.get("db")} for u in users
        ]:
            raise ProviderError(f"MongoDB did not authenticate {name!r}")


def _nonempty(password: str) -> None:
    if not password:
        raise ProviderError("refusing an empty password")
