"""PostgreSQL: rotate a login role's password with CREATE ROLE / ALTER ROLE.

The password is hashed on the client (libpq's PQencryptPasswordConn, with the
server's `password_encryption`) and sent as a `sql.Literal` verifier, so the
plaintext never appears in the server's statement log. Identifiers always go
through `sql.Identifier`; no statement is built by string formatting.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from application.ports import ProviderError
from domain.managed import Connection
from infrastructure.providers.common import CONNECT_TIMEOUT_S, checked_username, fail

_DEFAULT_DB = "postgres"


class PostgresProvider:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    @property
    def _dbname(self) -> str:
        return self._c.database or _DEFAULT_DB

    def _connect(self, user: str, password: str) -> psycopg.Connection[tuple[object, ...]]:
        """Keyword arguments, not a DSN string: no quoting rules to get wrong."""
        try:
            return psycopg.connect(
                host=self._c.host,
                port=self._c.port,
                dbname=self._dbname,
                user=user,
                password=password,
                connect_timeout=CONNECT_TIMEOUT_S,
                sslmode=self._c.options.get("sslmode", "prefer"),
                application_name="keyledger-agent",
                autocommit=True,
            )
        except psycopg.Error as exc:
            raise fail(
                f"PostgreSQL refused the connection as {user!r} to "
                f"{self._c.host}:{self._c.port}/{self._dbname}",
                exc,
                password,
                self._c.admin_pass,
            ) from None

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return self._connect(self._c.admin_user, self._c.admin_pass)

    def test_admin(self) -> None:
        with self._admin() as conn:
            row = conn.execute(
                "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        if row is None or not (row[0] or row[1]):
            raise ProviderError(
                f"PostgreSQL role {self._c.admin_user!r} can log in but has neither "
                "SUPERUSER nor CREATEROLE, so it cannot create roles or change passwords"
            )

    def user_exists(self, username: str) -> bool:
        name = checked_username(username)
        with self._admin() as conn:
            row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        return row is not None

    def create_user(self, username: str, password: str) -> None:
        name = checked_username(username)
        self._apply(
            name, password, "CREATE ROLE {} WITH LOGIN PASSWORD {}", f"create role {name!r}"
        )

    def set_password(self, username: str, password: str) -> None:
        name = checked_username(username)
        self._apply(
            name, password, "ALTER ROLE {} WITH PASSWORD {}", f"set the password of {name!r}"
        )

    def _apply(self, name: str, password: str, template: str, what: str) -> None:
        if not password:
            raise ProviderError("refusing an empty password")
        with self._admin() as conn:
            verifier = self._verifier(conn, name, password)
            statement = sql.SQL(template).format(sql.Identifier(name), sql.Literal(verifier))
            try:
                conn.execute(statement)
            except psycopg.Error as exc:
                # The server message never echoes the statement, but stay safe: code only
                # plus the primary message, scrubbed of both the password and verifier.
                raise fail(
                    f"PostgreSQL could not {what} (SQLSTATE {exc.sqlstate})",
                    exc,
                    password,
                    verifier,
                ) from None

    @staticmethod
    def _verifier(conn: psycopg.Connection[tuple[object, ...]], name: str, password: str) -> str:
        """SCRAM (or md5) verifier per the server's password_encryption setting."""
        try:
            encrypted = conn.pgconn.encrypt_password(password.encode(), name.encode())
        except psycopg.Error:
            raise ProviderError("PostgreSQL could not hash the new password") from None
        return encrypted.decode()

    def verify(self, username: str, password: str) -> None:
        name = checked_username(username)
        with self._connect(name, password) as conn:
            conn.execute("SELECT 1").fetchone()
