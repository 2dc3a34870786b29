"""Settings: environment parsing and the persistence configuration derived from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import InvalidInput
from infrastructure.settings import DEFAULT_PORT, Settings


def test_defaults_from_an_empty_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"XDG_DATA_HOME": str(tmp_path)}, data_dir=tmp_path / "d")
    assert settings.data_dir == tmp_path / "d"
    assert settings.database_url is None
    assert not settings.is_distributed
    assert settings.port == DEFAULT_PORT
    assert settings.host == "127.0.0.1"
    assert settings.start_sealed is False
    assert settings.server_key_file is None
    assert settings.session_ttl_seconds == 12 * 3600
    assert settings.argon2_memory_kib == 64 * 1024


def test_environment_values(tmp_path: Path) -> None:
    env = {
        "KEYLEDGER_DATA_DIR": str(tmp_path / "data"),
        "KEYLEDGER_DATABASE_URL": "postgresql://kl@db:5432/kl",
        "KEYLEDGER_HOST": "0.0.0.0",
        "KEYLEDGER_PORT": "9000",
        "KEYLEDGER_SERVER_KEY_FILE": str(tmp_path / "k"),
        "KEYLEDGER_START_SEALED": "TRUE",
        "KEYLEDGER_SESSION_TTL": "60",
        "KEYLEDGER_ARGON2_MEMORY_KIB": "8192",
    }
    settings = Settings.from_env(env)
    assert settings.data_dir == tmp_path / "data"
    assert settings.is_distributed
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.server_key_file == tmp_path / "k"
    assert settings.start_sealed is True
    assert settings.session_ttl_seconds == 60
    assert settings.argon2_memory_kib == 8192


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("0", False), ("", False)]
)
def test_start_sealed_flag(tmp_path: Path, raw: str, expected: bool) -> None:
    env = {"KEYLEDGER_DATA_DIR": str(tmp_path), "KEYLEDGER_START_SEALED": raw}
    assert Settings.from_env(env).start_sealed is expected


def test_overrides_win_but_none_is_ignored(tmp_path: Path) -> None:
    env = {"KEYLEDGER_DATA_DIR": str(tmp_path), "KEYLEDGER_PORT": "9000"}
    assert Settings.from_env(env, port=9100).port == 9100
    assert Settings.from_env(env, port=None).port == 9000


def test_empty_database_url_means_embedded(tmp_path: Path) -> None:
    env = {"KEYLEDGER_DATA_DIR": str(tmp_path), "KEYLEDGER_DATABASE_URL": ""}
    assert Settings.from_env(env).database_url is None


def test_embedded_store_paths(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.state_db_url() == f"sqlite:///{tmp_path / 'state.sqlite'}"
    env = settings.event_store_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "ledger.sqlite")
    assert env["APPLICATION_RECORDER_TOPIC"].endswith(":ChainedSQLiteApplicationRecorder")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_distributed_store_config(tmp_path: Path, scheme: str) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=f"{scheme}://kl%40corp:p%40ss%2Fw@db.internal:6543/vault"
    )
    assert settings.state_db_url() == (
        "postgresql+psycopg://kl%40corp:p%40ss%2Fw@db.internal:6543/vault"
    )
    env = settings.event_store_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert env["POSTGRES_DBNAME"] == "vault"
    assert env["POSTGRES_HOST"] == "db.internal"
    assert env["POSTGRES_PORT"] == "6543"
    assert env["POSTGRES_USER"] == "kl@corp"
    assert env["POSTGRES_PASSWORD"] == "p@ss/w"
    assert env["APPLICATION_RECORDER_TOPIC"].endswith(":ChainedPostgresApplicationRecorder")


def test_distributed_defaults(tmp_path: Path) -> None:
    env = Settings(data_dir=tmp_path, database_url="postgresql://db").event_store_env()
    assert env["POSTGRES_DBNAME"] == "postgres"
    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POSTGRES_PASSWORD"] == ""


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite:///x.db", "http://h/db"])
def test_non_postgres_url_is_rejected(tmp_path: Path, url: str) -> None:
    settings = Settings(data_dir=tmp_path, database_url=url)
    with pytest.raises(InvalidInput):
        settings.state_db_url()
    with pytest.raises(InvalidInput):
        settings.event_store_env()


@pytest.mark.parametrize(
    "url", ["https://keys.example.com", "http://localhost:8420/", "https://[::1]:8443/kl"]
)
def test_public_url_accepts_plain_urls(url: str, tmp_path: Path) -> None:
    env = {"KEYLEDGER_DATA_DIR": str(tmp_path), "KEYLEDGER_PUBLIC_URL": url}
    assert Settings.from_env(env).public_url == url


@pytest.mark.parametrize(
    "url", ["keys.example.com", "ftp://x", "https://x'; id; '", "https://x/$(id)", 'http://x"']
)
def test_public_url_refuses_anything_a_shell_or_json_could_read_as_code(
    url: str, tmp_path: Path
) -> None:
    env = {"KEYLEDGER_DATA_DIR": str(tmp_path), "KEYLEDGER_PUBLIC_URL": url}
    with pytest.raises(InvalidInput, match="KEYLEDGER_PUBLIC_URL"):
        Settings.from_env(env)


def test_server_log_and_data_dir_switches(tmp_path: Path) -> None:
    off = Settings.from_env({"KEYLEDGER_DATA_DIR": str(tmp_path)})
    assert (off.access_log, off.allow_open_data_dir) == (False, False)
    on = Settings.from_env(
        {
            "KEYLEDGER_DATA_DIR": str(tmp_path),
            "KEYLEDGER_ACCESS_LOG": "1",
            "KEYLEDGER_ALLOW_OPEN_DATA_DIR": "yes",
        }
    )
    assert (on.access_log, on.allow_open_data_dir) == (True, True)
