"""Throwaway database servers that really check passwords (a pytest plugin + helpers).

Loaded by tests/conftest.py as a plugin, so provider, e2e and bench code share it; the
context managers (`scram_postgres`, `mariadb_accounts`, `redis_servers`, `secantus`)
work without pytest too (bench/rotation.py uses them).

The machine's PostgreSQL trusts every local login and the shared Redis has no auth,
so a refused-password assertion against them would prove nothing. Instead:
PostgreSQL is a fresh scram-sha-256 cluster (initdb as the `postgres` OS user),
Redis runs as private `redis-server` processes, MongoDB is SecantusDB in-process
with auth required; MariaDB is the shared server with per-session accounts.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pymysql
import pytest
import redis
from psycopg import sql

from domain.managed import Connection, ProviderType

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SESSION = secrets.token_hex(3)
PREFIX = f"kl{SESSION}"  # every account this session creates starts with it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Server:
    """Where a throwaway server listens and the accounts it was seeded with."""

    port: int
    admin: tuple[str, str]  # may create users
    plain: tuple[str, str]  # may log in, may not manage users
    extra: str = ""  # a path the tests look at (the Redis aclfile)
    others: dict[str, tuple[str, str]] = field(default_factory=dict)

    def connection(
        self,
        provider: ProviderType,
        *,
        database: str = "",
        admin: tuple[str, str] | None = None,
        port: int | None = None,
        **options: str,
    ) -> Connection:
        user, password = admin or self.admin
        return Connection(
            provider=provider,
            host="127.0.0.1",
            port=port or self.port,
            database=database,
            admin_user=user,
            admin_pass=password,
            options=dict(options),
        )


@pytest.fixture
def username() -> str:
    return f"{PREFIX}_{secrets.token_hex(3)}"


# --- PostgreSQL: a private scram-sha-256 cluster ------------------------------------


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    with scram_postgres() as server:
        yield server


@contextmanager
def scram_postgres() -> Iterator[Server]:
    """A fresh scram-sha-256 cluster on a free port (initdb/pg_ctl as the postgres user)."""
    root = Path(tempfile.mkdtemp(prefix="kl-pg-"))
    owner = pwd.getpwnam("postgres")
    os.chown(root, owner.pw_uid, owner.pw_gid)
    super_pw, creator_pw, plain_pw = new_password(), new_password(), new_password()
    pwfile = root / "pwfile"
    pwfile.write_text(super_pw + "\n")
    os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", free_port()
    _as_postgres(
        str(PG_BIN / "initdb"),
        "-D",
        str(data),
        "-U",
        "kl_super",
        "--auth=scram-sha-256",
        f"--pwfile={pwfile}",
        "--no-sync",
        "--no-instructions",
        "-E",
        "UTF8",
        "--no-locale",
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c log_statement=all"
    pg_ctl = str(PG_BIN / "pg_ctl")
    _as_postgres(pg_ctl, "start", "-w", "-D", str(data), "-l", str(root / "log"), "-o", options)
    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user="kl_super",
            password=super_pw,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            for name, pw, attrs in (
                ("kl_creator", creator_pw, "LOGIN CREATEROLE"),
                ("kl_plain", plain_pw, "LOGIN"),
            ):
                conn.execute(
                    sql.SQL("CREATE ROLE {} WITH " + attrs + " PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(pw)
                    )
                )
        creator = {"creator": ("kl_creator", creator_pw)}
        log = str(root / "log")  # log_statement=all: tests check no password lands in it
        yield Server(port, ("kl_super", super_pw), ("kl_plain", plain_pw), log, creator)
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", pg_ctl, "stop", "-m", "immediate", "-D", str(data)],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


# --- MariaDB: per-session accounts on the shared server -----------------------------


def _maria_root() -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[Server]:
    with mariadb_accounts() as server:
        yield server


@contextmanager
def mariadb_accounts() -> Iterator[Server]:
    """Admin (CREATE USER) and plain password accounts on the shared MariaDB."""
    admin, plain = (f"{PREFIX}_admin", new_password()), (f"{PREFIX}_plain", new_password())
    root = _maria_root()
    try:
        with root.cursor() as cur:
            for name, pw in (admin, plain):
                cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, "%", pw))
            cur.execute("GRANT CREATE USER ON *.* TO %s@%s WITH GRANT OPTION", (admin[0], "%"))
            cur.execute("GRANT SELECT ON mysql.user TO %s@%s", (admin[0], "%"))
        yield Server(3306, admin, plain)
    finally:
        with root.cursor() as cur:
            cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (PREFIX + "%",))
            for user, host in cur.fetchall():
                cur.execute("DROP USER %s@%s", (user, host))
        root.close()


# --- Redis: private redis-server processes ------------------------------------------


RedisStarter = Callable[..., Server]


@pytest.fixture(scope="session")
def redis_start() -> Iterator[RedisStarter]:
    with redis_servers() as start:
        yield start


@contextmanager
def redis_servers() -> Iterator[RedisStarter]:
    """Start redis-servers with extra args; every one is killed on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    root = Path(tempfile.mkdtemp(prefix="kl-redis-"))

    def start(*args: str, admin: tuple[str, str], plain: tuple[str, str], acl: str = "") -> Server:
        port = free_port()
        workdir = root / str(port)
        workdir.mkdir()
        extra: list[str] = []
        aclfile = ""
        if acl:
            aclfile = str(workdir / "users.acl")
            Path(aclfile).write_text(acl)
            extra = ["--aclfile", aclfile]
        procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                    *extra,
                    *args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, username=admin[0] or None, password=admin[1]).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return Server(port, admin, plain, aclfile)

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_acl_server(redis_start: RedisStarter) -> Server:
    return redis_acl(redis_start)


def redis_acl(redis_start: RedisStarter) -> Server:
    """A redis-server with an ACL file: admin, a limited user, default off."""
    admin, plain = ("admin", new_password()), ("plain", new_password())
    acl = (
        f"user {admin[0]} on >{admin[1]} ~* &* +@all\n"
        f"user {plain[0]} on >{plain[1]} ~* +@read +@connection\n"
        "user default off\n"
    )
    return redis_start(admin=admin, plain=plain, acl=acl)


# --- MongoDB wire: SecantusDB in-process with SCRAM required ------------------------


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[Server]:
    with secantus() as server:
        yield server


@contextmanager
def secantus() -> Iterator[Server]:
    """SecantusDB in-process, SCRAM required, seeded with an admin and a plain user."""
    from secantus import SecantusDBServer
    from secantus.auth import derive_credentials

    root = tempfile.mkdtemp(prefix="kl-mongo-")
    server = SecantusDBServer(
        host="127.0.0.1", port=0, storage_path=root, require_auth=True, ttl_sweep_seconds=3600
    )
    admin, plain = ("kl_admin", new_password()), ("kl_plain", new_password())
    for (name, pw), roles in (
        (admin, [{"role": "root", "db": "admin"}]),
        (plain, [{"role": "read", "db": "appdb"}]),
    ):
        server.storage.add_user(  # what createUser stores; there is no localhost exception
            "admin",
            name,
            {
                "_id": f"admin.{name}",
                "user": name,
                "db": "admin",
                "roles": roles,
                "credentials": derive_credentials(pw, username=name).to_doc(),
                "mechanisms": ["SCRAM-SHA-256"],
            },
        )
    server.start()
    try:
        yield Server(server.port, admin, plain)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
