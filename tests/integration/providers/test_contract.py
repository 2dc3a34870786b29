"""The DatabaseProvider contract, run against every real database kind.

Each server really refuses a wrong password, so "verify raises" means the
rotation would have been caught, not that a trust rule let it through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from application.ports import DatabaseProvider, ProviderError
from domain.managed import Connection, ProviderType
from infrastructure.providers import provider_for
from tests.databases import Server, free_port, new_password

# Quotes, backslashes, dollar-quoting, a statement break, spaces and non-ASCII.
TRICKY = "it's a \"q\" \\ $$x$$ ; DROP ROLE postgres; -- 'OR '1'='1 ä€✓"
BAD_NAMES = [
    'x"; DROP ROLE postgres; --',
    "a' OR '1'='1",
    "bob@%",
    "user name",
    "a" * 64,
    "1abc",
    "",
    "ü",
    "x\x00y",
]


@dataclass(frozen=True)
class Case:
    kind: ProviderType
    server: Server
    options: dict[str, str]

    def connection(self, **overrides: object) -> Connection:
        return self.server.connection(self.kind, **overrides, **self.options)  # type: ignore[arg-type]

    def provider(self, **overrides: object) -> DatabaseProvider:
        return provider_for(self.connection(**overrides))


@pytest.fixture(params=[p.value for p in ProviderType])
def case(request: pytest.FixtureRequest) -> Case:
    kind = ProviderType(request.param)
    server: Server = request.getfixturevalue(
        {
            ProviderType.POSTGRESQL: "pg_server",
            ProviderType.MYSQL: "mysql_server",
            ProviderType.REDIS: "redis_acl_server",
            ProviderType.MONGODB: "mongo_server",
        }[kind]
    )
    options = {"authDatabase": "admin"} if kind is ProviderType.MONGODB else {}
    return Case(kind, server, options)


def refused(call: object, *args: str, secrets: tuple[str, ...] = ()) -> ProviderError:
    """The call raised ProviderError, and its message names none of `secrets`."""
    with pytest.raises(ProviderError) as info:
        call(*args)  # type: ignore[operator]
    message = str(info.value)
    for secret in secrets:
        assert secret not in message, f"password leaked into: {message}"
    assert info.value.__cause__ is None
    return info.value


def test_admin_ok(case: Case) -> None:
    case.provider().test_admin()


def test_wrong_admin_password_is_refused(case: Case) -> None:
    wrong = "wrong-" + new_password()
    provider = case.provider(admin=(case.server.admin[0], wrong))
    refused(provider.test_admin, secrets=(wrong, case.server.admin[1]))
    refused(provider.create_user, "whoever", "pw-x", secrets=(wrong, "pw-x"))


def test_admin_without_user_rights_is_named(case: Case) -> None:
    plain = case.server.plain
    error = refused(case.provider(admin=plain).test_admin, secrets=(plain[1],))
    assert case.server.plain[0] in str(error) or "ACL" in str(error)


def test_create_rotate_restore(case: Case, username: str) -> None:
    provider = case.provider()
    first, second = new_password(), new_password()
    assert provider.user_exists(username) is False
    provider.create_user(username, first)
    assert provider.user_exists(username) is True
    provider.verify(username, first)
    refused(provider.verify, username, second, secrets=(first, second))

    provider.set_password(username, second)
    provider.verify(username, second)
    refused(provider.verify, username, first, secrets=(first, second))

    provider.set_password(username, first)  # restore
    provider.verify(username, first)
    refused(provider.verify, username, second, secrets=(first, second))


def test_tricky_password_is_a_literal(case: Case, username: str) -> None:
    provider = case.provider()
    provider.create_user(username, TRICKY)
    provider.verify(username, TRICKY)
    refused(provider.verify, username, TRICKY[:-1], secrets=(TRICKY, TRICKY[:-1]))
    rotated = TRICKY[::-1] + " \\'"
    provider.set_password(username, rotated)
    provider.verify(username, rotated)
    refused(provider.verify, username, TRICKY, secrets=(TRICKY, rotated))
    provider.test_admin()  # nothing the password said was executed


def test_create_existing_user_is_refused(case: Case, username: str) -> None:
    provider = case.provider()
    provider.create_user(username, "pw-one-" + username)
    refused(provider.create_user, username, "pw-two-x", secrets=("pw-two-x",))
    provider.verify(username, "pw-one-" + username)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_usernames_are_refused_before_any_statement(case: Case, bad: str) -> None:
    # A closed port: had anything been sent, the error would be "refused the connection".
    offline = case.provider(port=free_port())
    for provider in (offline, case.provider()):
        for method, args in (
            (provider.user_exists, (bad,)),
            (provider.create_user, (bad, "pw-secret-1")),
            (provider.set_password, (bad, "pw-secret-1")),
            (provider.verify, (bad, "pw-secret-1")),
        ):
            error = refused(method, *args, secrets=("pw-secret-1",))
            assert "Managed username" in str(error)
    case.provider().test_admin()  # the database is untouched


def test_unreachable_database_fails_fast(case: Case, username: str) -> None:
    provider = case.provider(port=free_port())
    started = time.monotonic()
    for method, args in (
        (provider.test_admin, ()),
        (provider.user_exists, (username,)),
        (provider.set_password, (username, "pw-secret-2")),
        (provider.verify, (username, "pw-secret-2")),
    ):
        refused(method, *args, secrets=("pw-secret-2", case.server.admin[1]))
    assert time.monotonic() - started < 10


def test_set_password_of_missing_user_is_refused(case: Case, username: str) -> None:
    provider = case.provider()
    refused(provider.set_password, username, "pw-secret-3", secrets=("pw-secret-3",))
    assert provider.user_exists(username) is False
