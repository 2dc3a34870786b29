"""MySQL/MariaDB specifics: the account's host part, and what the admin needs."""

from __future__ import annotations

import pymysql
import pytest

from application.ports import ProviderError
from domain.managed import ProviderType
from infrastructure.providers import provider_for
from tests.databases import PREFIX, Server, new_password

MY = ProviderType.MYSQL


def test_user_host_option_names_the_account(mysql_server: Server, username: str) -> None:
    local = provider_for(mysql_server.connection(MY, userHost="127.0.0.1"))
    local.create_user(username, "pw-host-1")
    assert local.user_exists(username) is True
    local.verify(username, "pw-host-1")
    anywhere = provider_for(mysql_server.connection(MY))  # default "%": a different account
    assert anywhere.user_exists(username) is False
    with pytest.raises(ProviderError):
        anywhere.set_password(username, "pw-host-2")
    local.verify(username, "pw-host-1")


@pytest.mark.parametrize("host", ["a'b", "x y", "h`", "@", "a" * 256, "1.2.3.4/8"])
def test_bad_user_host_is_refused_up_front(mysql_server: Server, host: str) -> None:
    with pytest.raises(ProviderError, match="userHost"):
        provider_for(mysql_server.connection(MY, userHost=host))


def test_admin_without_mysql_user_read_is_told_so(mysql_server: Server) -> None:
    name, password = f"{PREFIX}_noread", new_password()
    root = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with root.cursor() as cur:  # dropped with every other PREFIX account at session end
        cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, "%", password))
        cur.execute("GRANT CREATE USER ON *.* TO %s@%s", (name, "%"))
    root.close()
    provider = provider_for(mysql_server.connection(MY, admin=(name, password)))
    with pytest.raises(ProviderError, match=r"SELECT ON mysql\.user") as info:
        provider.test_admin()
    assert password not in str(info.value)


def test_no_create_user_privilege_is_named(mysql_server: Server) -> None:
    provider = provider_for(mysql_server.connection(MY, admin=mysql_server.plain))
    with pytest.raises(ProviderError, match="CREATE USER"):
        provider.test_admin()
