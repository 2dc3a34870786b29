"""PostgreSQL specifics: CREATEROLE is enough, and the plaintext never reaches the server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from application.ports import ProviderError
from domain.managed import ProviderType
from infrastructure.providers import provider_for
from tests.databases import Server, new_password

PG = ProviderType.POSTGRESQL


def test_createrole_admin_is_enough(pg_server: Server, username: str) -> None:
    provider = provider_for(pg_server.connection(PG, admin=pg_server.others["creator"]))
    provider.test_admin()
    first, second = new_password(), new_password()
    provider.create_user(username, first)
    provider.set_password(username, second)
    provider.verify(username, second)


def test_admin_without_createrole_says_what_is_missing(pg_server: Server) -> None:
    provider = provider_for(pg_server.connection(PG, admin=pg_server.plain))
    with pytest.raises(ProviderError, match="neither SUPERUSER nor CREATEROLE"):
        provider.test_admin()


def test_only_a_scram_verifier_reaches_the_server(pg_server: Server, username: str) -> None:
    """Hashed client-side: not in pg_authid as text, not in the log_statement=all log."""
    password = "plain-" + new_password()
    provider_for(pg_server.connection(PG)).create_user(username, password)
    with psycopg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        dbname="postgres",
        user=pg_server.admin[0],
        password=pg_server.admin[1],
    ) as conn:
        row = conn.execute(
            "SELECT rolpassword, rolcanlogin FROM pg_authid WHERE rolname = %s", (username,)
        ).fetchone()
    assert row is not None
    assert str(row[0]).startswith("SCRAM-SHA-256$") and row[1] is True
    log = Path(pg_server.extra).read_text(errors="replace")
    assert username in log  # the statement was logged…
    assert password not in log  # …without the password


def test_mixed_case_name_is_one_quoted_identifier(pg_server: Server) -> None:
    provider = provider_for(pg_server.connection(PG))
    provider.create_user("Mixed_Case_Role", "pw-mixed-1")
    assert provider.user_exists("Mixed_Case_Role") is True
    assert provider.user_exists("mixed_case_role") is False
    provider.verify("Mixed_Case_Role", "pw-mixed-1")


def test_verify_uses_the_configured_database(pg_server: Server, username: str) -> None:
    provider_for(pg_server.connection(PG)).create_user(username, "pw-db-1")
    provider_for(pg_server.connection(PG, database="template1")).verify(username, "pw-db-1")
    missing = provider_for(pg_server.connection(PG, database="no_such_db"))
    with pytest.raises(ProviderError, match="no_such_db"):
        missing.verify(username, "pw-db-1")
