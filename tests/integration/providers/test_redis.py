"""Redis specifics: ACL SAVE to the aclfile, rules kept on rotation, the managed
user's ACL rules (never an admin), requirepass mode."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import redis

from application.ports import ProviderError
from domain.errors import InvalidInput
from domain.managed import Connection, ProviderType
from infrastructure.providers import provider_for
from tests.databases import RedisStarter, Server, new_password

REDIS = ProviderType.REDIS


def _sha(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def test_rotation_is_saved_to_the_aclfile(redis_acl_server: Server, username: str) -> None:
    provider = provider_for(redis_acl_server.connection(REDIS))
    old, new = new_password(), new_password()
    provider.create_user(username, old)
    provider.set_password(username, new)
    saved = Path(redis_acl_server.extra).read_text()
    line = next(x for x in saved.splitlines() if x.startswith(f"user {username} "))
    assert f"#{_sha(new)}" in line and _sha(old) not in saved
    assert old not in saved and new not in saved  # only hashes are written
    provider.verify(username, new)
    with pytest.raises(ProviderError):
        provider.verify(username, old)


def test_rotation_keeps_the_users_rules(redis_acl_server: Server, username: str) -> None:
    provider = provider_for(redis_acl_server.connection(REDIS))
    provider.create_user(username, "pw-r-1")
    admin = redis.Redis(
        port=redis_acl_server.port,
        username=redis_acl_server.admin[0],
        password=redis_acl_server.admin[1],
        decode_responses=True,
    )
    narrow = ("resetkeys", "~app:*", "-@all", "+get")
    admin.execute_command("ACL", "SETUSER", username, *narrow)  # type: ignore[no-untyped-call]
    before: Any = admin.acl_getuser(username)
    provider.set_password(username, "pw-r-2")
    after: Any = admin.acl_getuser(username)
    admin.close()
    assert before["passwords"] != after["passwords"]
    assert before["commands"] == after["commands"] and before["keys"] == after["keys"]
    assert "on" in after["flags"]
    provider.verify(username, "pw-r-2")


def _as(server: Server, username: str, password: str) -> redis.Redis:
    return redis.Redis(port=server.port, username=username, password=password)


def test_the_managed_user_cannot_administer_redis(redis_acl_server: Server, username: str) -> None:
    """A leaked app credential must not mint a user that outlives every rotation."""
    provider = provider_for(redis_acl_server.connection(REDIS))
    password = new_password()
    provider.create_user(username, password)
    app = _as(redis_acl_server, username, password)
    backdoor = f"kl_backdoor_{username[-6:]}"
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command("ACL", "SETUSER", backdoor, "on", ">x", "~*", "+@all")  # type: ignore[no-untyped-call]
    for command in (("CONFIG", "SET", "requirepass", "x"), ("FLUSHALL",), ("ACL", "SAVE")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.execute_command(*command)  # type: ignore[no-untyped-call]
    app.set(f"{username}:k", "v")  # an ordinary application still works
    assert app.get(f"{username}:k") == b"v"
    app.close()
    admin = _as(redis_acl_server, *redis_acl_server.admin)
    assert admin.acl_getuser(backdoor) is None
    admin.close()


def test_custom_acl_rules_are_applied(redis_acl_server: Server, username: str) -> None:
    provider = provider_for(redis_acl_server.connection(REDIS, aclRules="+get ~app:*"))
    password = new_password()
    provider.create_user(username, password)
    provider.verify(username, password)
    app = _as(redis_acl_server, username, password)
    assert app.get("app:x") is None
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.set("app:x", "v")
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.get("other:x")  # outside ~app:*
    app.close()


@pytest.mark.parametrize(
    "rules",
    [
        "",
        "+@all >hunter2-secret",
        "+@all <hunter2-secret",
        "~* hunter2-secret",
        "+@all #" + "0" * 64,
        "!" + "0" * 64,
        "nopass",
        "resetpass",
        "on",
        "off",
        "reset",
        "clearselectors",
        "(+get ~x)",
        "+@all ~* ON",
        "+ get",
    ],
)
def test_acl_rules_that_touch_passwords_or_state_are_refused(rules: str) -> None:
    with pytest.raises(InvalidInput, match="aclRules") as info:
        Connection(REDIS, "127.0.0.1", 6379, "", "admin", "pw", {"aclRules": rules})
    assert "hunter2" not in str(info.value)  # a mistyped rule may be a password


def test_acl_rules_only_apply_to_acl_mode() -> None:
    with pytest.raises(InvalidInput, match="mode acl"):
        Connection(
            REDIS, "127.0.0.1", 6379, "", "admin", "pw", {"mode": "requirepass", "aclRules": "~*"}
        )


@pytest.fixture
def requirepass_server(redis_start: RedisStarter) -> Server:
    """A fresh server per test: rotating requirepass changes the whole server's state."""
    admin = ("admin", new_password())
    old = new_password()
    return redis_start(
        "--requirepass", old,
        "--user", admin[0], "on", f">{admin[1]}", "~*", "&*", "+@all",
        admin=admin,
        plain=("", old),
    )  # fmt: skip


def test_requirepass_mode(requirepass_server: Server) -> None:
    old, new = requirepass_server.plain[1], "new pass ' \" \\ ä"
    provider = provider_for(requirepass_server.connection(REDIS, mode="requirepass"))
    provider.test_admin()
    assert provider.user_exists("default") is True
    with pytest.raises(ProviderError, match="nothing to create"):
        provider.create_user("default", new)
    provider.verify("default", old)
    provider.set_password("default", new)
    provider.verify("default", new)
    with pytest.raises(ProviderError) as info:
        provider.verify("default", old)
    assert old not in str(info.value) and new not in str(info.value)
    provider.set_password("default", old)  # restore
    provider.verify("default", old)


def test_requirepass_with_a_password_only_admin(requirepass_server: Server) -> None:
    """Legacy: no admin user, the admin is the default user and its password rotates too."""
    old, new = requirepass_server.plain[1], new_password()
    legacy = provider_for(requirepass_server.connection(REDIS, admin=("", old), mode="requirepass"))
    legacy.test_admin()
    legacy.set_password("default", new)
    legacy.verify("default", new)
    with pytest.raises(ProviderError) as info:
        legacy.test_admin()  # the stale admin password is refused now
    assert old not in str(info.value)
    rotated = provider_for(
        requirepass_server.connection(REDIS, admin=("", new), mode="requirepass")
    )
    rotated.set_password("default", old)
    legacy.test_admin()


def test_unknown_mode_is_refused(redis_acl_server: Server) -> None:
    with pytest.raises(ProviderError, match="mode"):
        provider_for(redis_acl_server.connection(REDIS, mode="sentinel"))
