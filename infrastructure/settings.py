"""One typed settings object, read from the environment when asked (never at import)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from domain.errors import InvalidInput

DEFAULT_PORT = 8420


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "keyledger"


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").lower() in {"1", "true", "yes"}


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{name} must be a whole number ≥ 1")
    return int(raw)


# What may go into the bootstrap script and identity.json: no quotes, spaces or escapes.
_PUBLIC_URL = re.compile(r"https?://[A-Za-z0-9._~:/@%+=,;\[\]-]+")


def _public_url(url: str | None) -> str | None:
    if url is not None and not _PUBLIC_URL.fullmatch(url):
        raise InvalidInput("KEYLEDGER_PUBLIC_URL must be a plain http:// or https:// URL")
    return url


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    server_key_file: Path | None = None
    start_sealed: bool = False
    session_ttl_seconds: int = 12 * 3600  # absolute: a session dies this long after login
    session_idle_seconds: int = 30 * 60  # a dashboard session dies this long after its last page
    argon2_memory_kib: int = 64 * 1024
    trash_sweep_seconds: int = 3600
    trusted_proxies: tuple[str, ...] = ()
    public_url: str | None = None
    broker_url: str | None = None  # redis://… : Dramatiq jobs go to Redis for `keyledger worker`
    access_log: bool = False  # uvicorn's per-request log (token paths redacted)
    allow_open_data_dir: bool = False  # start even if others can read the data dir
    checkpoint_records: int = 10_000  # sign the logs' heads after this many new records…
    checkpoint_seconds: int = 300  # …or this long after the last checkpoint, if any changed
    audit_streams: int = 32  # open live audit streams per server process (429 beyond)
    allow_loopback_webhooks: bool = False  # http:// to 127.0.0.1/::1 (tests, local development)
    outreach_lease_seconds: int = 60  # a delivery handed out and not settled by then is re-sent
    outreach_backoff_ms: int = 2000  # first retry delay; doubles per attempt, capped at 1 h

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        key_file = env.get("KEYLEDGER_SERVER_KEY_FILE")
        settings = cls(
            data_dir=Path(env.get("KEYLEDGER_DATA_DIR") or default_data_dir()).expanduser(),
            database_url=env.get("KEYLEDGER_DATABASE_URL") or None,
            host=env.get("KEYLEDGER_HOST", "127.0.0.1"),
            port=int(env.get("KEYLEDGER_PORT", DEFAULT_PORT)),
            server_key_file=Path(key_file).expanduser() if key_file else None,
            start_sealed=env.get("KEYLEDGER_START_SEALED", "").lower() in {"1", "true", "yes"},
            session_ttl_seconds=int(env.get("KEYLEDGER_SESSION_TTL", 12 * 3600)),
            session_idle_seconds=_positive(env, "KEYLEDGER_SESSION_IDLE_TIMEOUT", 30 * 60),
            argon2_memory_kib=int(env.get("KEYLEDGER_ARGON2_MEMORY_KIB", 64 * 1024)),
            public_url=_public_url(env.get("KEYLEDGER_PUBLIC_URL") or None),
            broker_url=env.get("KEYLEDGER_BROKER_URL") or None,
            access_log=_flag(env, "KEYLEDGER_ACCESS_LOG"),
            allow_open_data_dir=_flag(env, "KEYLEDGER_ALLOW_OPEN_DATA_DIR"),
            checkpoint_records=_positive(env, "KEYLEDGER_CHECKPOINT_RECORDS", 10_000),
            checkpoint_seconds=_positive(env, "KEYLEDGER_CHECKPOINT_SECONDS", 300),
            audit_streams=_positive(env, "KEYLEDGER_AUDIT_STREAMS", 32),
            allow_loopback_webhooks=_flag(env, "KEYLEDGER_ALLOW_LOOPBACK_WEBHOOKS"),
            outreach_lease_seconds=_positive(env, "KEYLEDGER_OUTREACH_LEASE_SECONDS", 60),
            outreach_backoff_ms=_positive(env, "KEYLEDGER_OUTREACH_BACKOFF_MS", 2000),
            trusted_proxies=tuple(
                p.strip() for p in env.get("KEYLEDGER_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def is_distributed(self) -> bool:
        return self.database_url is not None

    def state_db_url(self) -> str:
        if self.database_url is None:
            return f"sqlite:///{self.data_dir / 'state.sqlite'}"
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        raise InvalidInput("KEYLEDGER_DATABASE_URL must be a postgresql:// URL")

    def access_store_env(self) -> dict[str, str]:
        """The access log: its own SQLite file, or its own table in PostgreSQL."""
        env = self.event_store_env()
        for key in ("AGGREGATE_CACHE_MAXSIZE", "AGGREGATE_CACHE_FASTFORWARD"):
            env.pop(key)
        if self.database_url is None:
            env["SQLITE_DBNAME"] = str(self.data_dir / "access.sqlite")
            env["APPLICATION_RECORDER_TOPIC"] = (
                "infrastructure.eventstore.recorders:ChainedSQLiteAccessRecorder"
            )
        return env

    def event_store_env(self) -> dict[str, str]:
        """Environment for the eventsourcing Application (persistence by config).

        Aggregates are cached and fast-forwarded from the store on every get: the
        access gate reads current state with one small query per aggregate.
        """
        cache = {"AGGREGATE_CACHE_MAXSIZE": "20000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
        if self.database_url is None:
            return cache | {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / "ledger.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "10",
                "APPLICATION_RECORDER_TOPIC": (
                    "infrastructure.eventstore.recorders:ChainedSQLiteApplicationRecorder"
                ),
            }
        parsed = urlparse(self.database_url)
        if parsed.scheme not in {"postgresql", "postgres"}:
            raise InvalidInput("KEYLEDGER_DATABASE_URL must be a postgresql:// URL")
        return cache | {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_POOL_SIZE": "10",
            "APPLICATION_RECORDER_TOPIC": (
                "infrastructure.eventstore.recorders:ChainedPostgresApplicationRecorder"
            ),
        }
