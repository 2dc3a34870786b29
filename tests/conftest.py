"""Shared fixtures: a fresh PostgreSQL database per test, settings for both modes."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infrastructure.settings import Settings

pytest_plugins = ["tests.databases"]

# Test files whose fixtures are package-scoped: `make test` keeps them on one xdist worker.
SHARED_PACKAGES = ("tests/e2e/audit/",)
STORE_ID = re.compile(r"[\[-](sqlite|postgres)[\]-]")  # the store in a test id

if os.environ.get("PYTEST_XDIST_WORKER"):
    # xdist workers start with COLUMNS=80 and LINES=24 set; rich reads them once, when
    # the CLI's consoles are created at import, which would pin every in-process CLI
    # run to 80 columns whatever COLUMNS a test passes. A plain pytest run has neither.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)

PG_ADMIN_URL = os.environ.get("KEYLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
FAST_ARGON2_KIB = 8 * 1024  # tests only: keeps logins fast; production uses 64 MiB


def _pg_admin() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, except that a package sharing servers (see SHARED_PACKAGES)
    goes to one worker as a whole (split up, each worker would start its servers), and
    a file's (or that package's) SQLite and PostgreSQL halves may go to two workers:
    a store-parametrised shared server is set up once per store anyway, and the
    largest e2e files would otherwise keep one worker busy long after the other."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadSharedPackage(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            package = next((p for p in SHARED_PACKAGES if nodeid.startswith(p)), None)
            scope = package or super()._split_scope(nodeid)
            store = STORE_ID.search(nodeid)
            return f"{scope}[{store.group(1)}]" if store else scope

    return LoadSharedPackage(config, log)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL to a brand-new database, dropped after the test."""
    with fresh_pg_database() as url:
        yield url


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A brand-new PostgreSQL database for any scope (a module's shared servers too)."""
    name = "kl_test_" + secrets.token_hex(6)
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for the embedded (SQLite) and the distributed (PostgreSQL) store."""
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("pg_url")
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        argon2_memory_kib=FAST_ARGON2_KIB,
    )
