"""MySQL / MariaDB: rotate `'user'@'host'` with CREATE USER / ALTER USER.

User, host and password are bound as parameters: pymysql quotes them as string
literals, which both servers accept in account names and IDENTIFIED BY. Passwords
are sent as UTF-8 bytes (pymysql would otherwise encode a str as latin-1 at login).
Server errors on password-bearing statements are reported by code only, since a
syntax error message quotes the statement text near the failure.
"""

from __future__ import annotations

import re
import ssl
from typing import Any, ClassVar, cast

import pymysql
from pymysql.connections import Connection as MyConnection

from application.ports import ProviderError
from domain.managed import Connection
from infrastructure.providers.common import CONNECT_TIMEOUT_S, checked_username, fail


class _Connection(MyConnection):  # type: ignore[misc]  # pymysql ships no types
    """pymysql's connection, with its "TLS if the server offers it" context built once.

    Without TLS options pymysql builds a default SSL context (loading the system CA
    store, ~20 ms) on every connect; a rotation makes two or three connections.
    """

    _preferred: ClassVar[ssl.SSLContext | None] = None

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        if sslp != {}:
            return cast(ssl.SSLContext, super()._create_ssl_ctx(sslp))
        if _Connection._preferred is None:
            _Connection._preferred = cast(ssl.SSLContext, super()._create_ssl_ctx(sslp))
        return _Connection._preferred


_HOST_PART = re.compile(r"^[A-Za-z0-9.%_:\-]{1,255}$")
_USER_ROW = "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s"
_GRANTEE_IS_ME = (
    "SELECT 1 FROM information_schema.USER_PRIVILEGES "
    "WHERE PRIVILEGE_TYPE = 'CREATE USER' AND GRANTEE = CONCAT("
    "'''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
    "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')"
)


def _code(exc: pymysql.MySQLError) -> int:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0


class MySQLProvider:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        host_part = connection.options.get("userHost") or "%"
        if not _HOST_PART.fullmatch(host_part):
            raise ProviderError("userHost may hold only letters, digits and . % _ : - (≤ 255)")
        self._host_part = host_part

    def _connect(self, user: str, password: str) -> MyConnection:
        try:
            return _Connection(
                host=self._c.host,
                port=self._c.port,
                user=user,
                password=password.encode(),
                database=None,  # user management is server-wide
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=15,
                write_timeout=15,
                charset="utf8mb4",
                autocommit=True,
            )
        except pymysql.MySQLError as exc:
            raise fail(
                f"MySQL refused the connection as {user!r} to {self._c.host}:{self._c.port}",
                exc,
                password,
                self._c.admin_pass,
            ) from None

    def _admin(self) -> MyConnection:
        return self._connect(self._c.admin_user, self._c.admin_pass)

    def test_admin(self) -> None:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(_GRANTEE_IS_ME)
                allowed = cur.fetchone() is not None
                if allowed:
                    cur.execute(_USER_ROW, ("", ""))
        except pymysql.MySQLError as exc:
            raise ProviderError(
                f"MySQL account {self._c.admin_user!r} cannot read mysql.user (error "
                f"{_code(exc)}): grant it SELECT ON mysql.user to check users exist"
            ) from None
        finally:
            conn.close()
        if not allowed:
            raise ProviderError(
                f"MySQL account {self._c.admin_user!r} can log in but lacks the global "
                "CREATE USER privilege, so it cannot create users or change passwords"
            )

    def user_exists(self, username: str) -> bool:
        """Needs SELECT on mysql.user (SHOW CREATE USER would need the whole mysql db)."""
        name = checked_username(username)
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(_USER_ROW, (name, self._host_part))
                return cur.fetchone() is not None
        except pymysql.MySQLError as exc:
            raise fail(f"MySQL could not look up {name!r} in mysql.user", exc) from None
        finally:
            conn.close()

    def create_user(self, username: str, password: str) -> None:
        name = checked_username(username)
        self._apply("CREATE USER %s@%s IDENTIFIED BY %s", name, password, "create")

    def set_password(self, username: str, password: str) -> None:
        name = checked_username(username)
        self._apply("ALTER USER %s@%s IDENTIFIED BY %s", name, password, "set the password of")

    def _apply(self, statement: str, name: str, password: str, verb: str) -> None:
        if not password:
            raise ProviderError("refusing an empty password")
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, (name, self._host_part, password))
        except pymysql.MySQLError as exc:
            raise ProviderError(
                f"MySQL could not {verb} {name!r}@{self._host_part!r} (error {_code(exc)})"
            ) from None
        finally:
            conn.close()

    def verify(self, username: str, password: str) -> None:
        name = checked_username(username)
        conn = self._connect(name, password)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()
