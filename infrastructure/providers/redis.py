"""Redis: rotate an ACL user's password (mode "acl") or `requirepass` (mode "requirepass").

Choices, so a rotation never widens or narrows what a client may do:
- create_user: `ACL SETUSER u on >pw` + the secret's `aclRules`, by default
  `+@all -@admin -@dangerous ~* &*`: an application credential must not be able to
  create users or rewrite ACLs (a leaked one would outlive every rotation); an
  operator may narrow it at creation or afterwards, because
- set_password: `ACL SETUSER u resetpass >pw` keeps every other rule of the user.
- After a change, `ACL SAVE` when the server has an `aclfile`, so a restart keeps it.
- mode "requirepass": the managed user is the `default` user; `CONFIG SET requirepass`
  (in memory only: redis.conf is not rewritten).
  With an empty admin_user the admin *is* that user: after a rotation the caller must
  use the new password as admin_pass (prefer a dedicated ACL admin).
Commands go through `execute_command` with one argument per rule, never a built string;
server error text is not shown for password-bearing commands (it quotes the rule).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError
from redis.retry import Retry

from application.ports import ProviderError
from domain.managed import Connection
from domain.redis_acl import rules_for
from infrastructure.providers.common import CONNECT_TIMEOUT_S, checked_username, fail

_MODES = ("acl", "requirepass")
T = TypeVar("T")


class RedisProvider:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._mode = connection.options.get("mode") or "acl"
        if self._mode not in _MODES:
            raise ProviderError("redis mode must be 'acl' or 'requirepass'")

    def _client(self, username: str | None, password: str) -> redis.Redis:
        """A single connection, AUTHed on connect, so a refusal surfaces here."""
        client: redis.Redis | None = None
        try:
            # single_connection_client connects (and AUTHs) in the constructor.
            client = redis.Redis(
                host=self._c.host,
                port=self._c.port,
                db=0,
                username=username or None,
                password=password or None,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=10,
                decode_responses=True,
                single_connection_client=True,
                retry=Retry(NoBackoff(), 0),  # the agent decides about retries, not the driver
            )
            with suppress(NoPermissionError):  # AUTH passed; the user may just not PING
                client.ping()
        except redis.RedisError as exc:
            if client is not None:
                client.close()
            who = repr(username) if username else "the default user"
            raise fail(
                f"Redis refused the connection as {who} to {self._c.host}:{self._c.port}",
                exc,
                password,
                self._c.admin_pass,
            ) from None
        return client

    def _admin(self) -> redis.Redis:
        return self._client(self._c.admin_user, self._c.admin_pass)

    def _run(self, action: str, call: Callable[[], T]) -> T:
        """Run a command whose arguments hold no password; show the server's reason."""
        try:
            return call()
        except redis.RedisError as exc:
            raise fail(f"Redis could not {action}", exc, self._c.admin_pass) from None

    def test_admin(self) -> None:
        client = self._admin()
        try:
            if self._mode == "acl":
                self._run("list ACL users (the admin needs @admin)", client.acl_users)
            else:
                self._run("run CONFIG (needed to set requirepass)", client.config_get)
        finally:
            client.close()

    def user_exists(self, username: str) -> bool:
        name = checked_username(username)
        if self._mode == "requirepass":
            return True  # the default user always exists
        client = self._admin()
        try:
            return self._run(f"look up {name!r}", lambda: client.acl_getuser(name)) is not None
        finally:
            client.close()

    def create_user(self, username: str, password: str) -> None:
        name = checked_username(username)
        if self._mode == "requirepass":
            raise ProviderError("requirepass mode manages the default user: nothing to create")
        if self.user_exists(name):
            raise ProviderError(f"Redis ACL user {name!r} already exists")
        rules = rules_for(self._c.options)
        self._acl_change(name, password, "on", f">{password}", *rules)

    def set_password(self, username: str, password: str) -> None:
        name = checked_username(username)
        if not password:
            raise ProviderError("refusing an empty password")
        if self._mode == "requirepass":
            client = self._admin()
            try:
                client.execute_command("CONFIG", "SET", "requirepass", password)  # type: ignore[no-untyped-call]
            except redis.RedisError as exc:
                raise ProviderError(
                    f"Redis could not set requirepass ({type(exc).__name__})"
                ) from None
            finally:
                client.close()
            return
        if not self.user_exists(name):
            raise ProviderError(f"Redis ACL user {name!r} does not exist")
        self._acl_change(name, password, "resetpass", f">{password}")

    def _acl_change(self, name: str, password: str, *rules: str) -> None:
        if not password:
            raise ProviderError("refusing an empty password")
        client = self._admin()
        try:
            try:
                client.execute_command("ACL", "SETUSER", name, *rules)  # type: ignore[no-untyped-call]
            except redis.RedisError as exc:
                raise ProviderError(
                    f"Redis could not update ACL user {name!r} ({type(exc).__name__})"
                ) from None
            self._persist(client)
        finally:
            client.close()

    def _persist(self, client: redis.Redis) -> None:
        """ACL SAVE when an aclfile is configured; without one, memory is all there is."""
        config = self._run("read the aclfile setting", lambda: client.config_get("aclfile"))
        if config.get("aclfile"):
            self._run("save the ACL file (the change is live, not persisted)", client.acl_save)

    def verify(self, username: str, password: str) -> None:
        name = checked_username(username)
        user = None if self._mode == "requirepass" else name
        self._client(user, password).close()
