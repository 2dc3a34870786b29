"""The operator's bearer token goes only to the server that issued it; odd answers are one line.

A real HTTP server in a thread (`Stranger`) stands in for "whatever server is named".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from interfaces.cli import client, main
from interfaces.cli.output import EXIT_AUTH
from tests.unit.http_stranger import Stranger, serving

TOKEN = "kl_session_token_that_must_stay_home"


@pytest.fixture
def stranger() -> Iterator[Stranger]:
    with serving() as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEYLEDGER_HOME", str(tmp_path))
    monkeypatch.delenv("KEYLEDGER_SERVER", raising=False)
    monkeypatch.delenv("KEYLEDGER_DEBUG", raising=False)
    return tmp_path


def keyledger(*args: str, **env: str) -> Any:
    return CliRunner().invoke(main.app, list(args), env=env or None)


def logged_in(server: str, **extra: Any) -> None:
    client.save_session(server, {"token": TOKEN, "sessionId": "s", "expiresAt": 1, **extra})


def test_the_token_never_goes_to_another_server(home: Path, stranger: Stranger) -> None:
    logged_in("http://localhost:8420")
    stranger.answer(200, {"projects": []})
    by_env = keyledger("project", "list", KEYLEDGER_SERVER=stranger.url)
    by_option = keyledger("project", "list", "--server", stranger.url)
    assert stranger.tokens_seen == []
    assert stranger.seen == []  # not even a request without the token
    for result in (by_env, by_option):
        assert result.exit_code == EXIT_AUTH, result.output
        assert f"Not logged in to {stranger.url}" in result.stderr
        assert "login --server" in result.stderr and TOKEN not in result.output


def test_the_issuing_server_gets_it_however_spelled(home: Path, stranger: Stranger) -> None:
    port = stranger.url.rsplit(":", 1)[1]
    stranger.answer(200, {"token": TOKEN, "sessionId": "s", "expiresAt": 1})
    login = CliRunner().invoke(
        main.app,
        ["login", "--email", "o@example.com", "--password-stdin", "--server", stranger.url + "/"],
        input="pw\n",
    )
    assert login.exit_code == 0, login.output
    stored = json.loads((home / "session.json").read_text())
    assert stored["server"] == f"http://127.0.0.1:{port}" and stored["token"] == TOKEN
    stranger.answer(200, {"projects": []})
    same = keyledger("project", "list", "--json", KEYLEDGER_SERVER=f"HTTP://127.0.0.1:{port}/")
    assert same.exit_code == 0, same.output
    assert keyledger("project", "list", "--json").exit_code == 0  # the session's server
    assert stranger.tokens_seen == [f"Bearer {TOKEN}"] * 2
    assert "authorization" not in stranger.seen[0]  # login itself carries none


def test_a_session_that_names_no_server_is_valid_for_none(home: Path, stranger: Stranger) -> None:
    (home / "session.json").write_text(json.dumps({"token": TOKEN, "sessionId": "s"}))
    result = keyledger("project", "list", "--server", stranger.url)
    assert result.exit_code == EXIT_AUTH and "log" in result.stderr
    assert stranger.seen == []
    logout = keyledger("logout", "--server", stranger.url)
    assert logout.exit_code == 0 and not (home / "session.json").exists()
    assert stranger.seen == []


def test_a_login_reply_cannot_choose_where_the_token_goes(home: Path, stranger: Stranger) -> None:
    stranger.answer(
        200, {"token": TOKEN, "sessionId": "s", "expiresAt": 1, "server": "http://evil:1"}
    )
    args = ["login", "--email", "o@example.com", "--password-stdin", "--server", stranger.url]
    assert CliRunner().invoke(main.app, args, input="pw\n").exit_code == 0
    assert json.loads((home / "session.json").read_text())["server"] == stranger.url


@pytest.mark.parametrize(
    "reply",
    [
        (200, "<html><body>It works!</body></html>"),
        (502, "<html>\n<head><title>502 Bad Gateway</title></head>\n</html>\n"),
        (500, b"\x00\xff\x1b[31mgarbage"),
        (200, ["a", "list"]),
        (200, {"unexpected": "shape"}),
        (404, {"error": "line one\nline two \x1b[2J"}),
        (200, ""),
    ],
)
def test_unexpected_answers_end_in_one_line(
    home: Path, stranger: Stranger, reply: tuple[int, Any]
) -> None:
    logged_in(stranger.url)
    stranger.answer(*reply)
    result = keyledger("project", "list")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "\x1b" not in result.stderr and TOKEN not in result.output


def test_no_answer_at_all_is_one_line(home: Path, stranger: Stranger) -> None:
    logged_in(stranger.url)
    stranger.hang_up = True
    result = keyledger("project", "list")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1 and "Cannot reach" in result.stderr
    stranger.hang_up = False
    closed = stranger.url.rsplit(":", 1)[0] + ":1"
    logged_in(closed)
    refused = keyledger("project", "list")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1


@pytest.mark.parametrize("url", ["http://other:port", "ftp://x", "localhost:8420", "http://u:p@h"])
def test_a_malformed_server_url_is_a_usage_error(home: Path, url: str) -> None:
    logged_in("http://localhost:8420")
    result = keyledger("project", "list", "--server", url)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr


def test_the_console_script_prints_no_traceback(
    home: Path, stranger: Stranger, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A shape the commands did not foresee (entries that are not a list) is one line too."""
    logged_in(stranger.url)
    stranger.answer(200, {"entries": 5})
    monkeypatch.setattr(sys, "argv", ["keyledger", "audit", "tail"])
    with pytest.raises(SystemExit) as ended:
        main.run()
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "TypeError" in err
    monkeypatch.setenv("KEYLEDGER_DEBUG", "1")
    with pytest.raises(TypeError):
        main.run()


def test_origins() -> None:
    assert client.server_origin("HTTP://LocalHost:8420/") == "http://localhost:8420"
    assert client.server_origin("https://vault.example") == "https://vault.example:443"
    assert client.server_origin("http://[::1]/kl/") == "http://[::1]:80/kl"
    assert client.server_origin("http://a:80") != client.server_origin("http://a:8080")
