"""`keyledger export` formats read back exactly by sh, dash, bash, python-dotenv and compose.

Every value goes through the real shells (eval and source) and python-dotenv; docker
compose is not installed here, so `compose_values` models its documented env-file rules
(compose-go's dotenv parser) for the lines the exporter writes.
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from interfaces.cli import envvars, identity, main
from tests.unit.http_stranger import Stranger, serving

HOSTILE = [
    "plain",
    "",
    "it's",
    "'",
    "''",
    "'\\''",
    'say "hi"',
    "pa ss$HOME\"q'x",
    "$HOME",
    "${HOME}",
    "${HOME:-x}",
    "$(touch pwned)",
    "`touch pwned`",
    ";touch pwned",
    "'; touch pwned; '",
    '"; touch pwned; "',
    "line1\nline2",
    "\n",
    "trailing newline\n",
    "cr\rlf\r\n",
    "back\\slash",
    "\\",
    "\\\\",
    "ends with \\",
    "\\n is not a newline",
    "\\'",
    "tab\there",
    "  spaces around  ",
    "# not a comment",
    "x #comment",
    "a=b=c",
    "ünïcødé ✓ 秘密",
    "!history !! $!",
    "*glob? [x]",
    "~ ~root",
    "$'ansi\\n'",
    "export X=1",
]
SHELLS = [s for s in ("sh", "dash", "bash") if shutil.which(s)]
ALPHABET = st.sampled_from(list("aZ09 _'\"$`\\;#=\n\r\t!*?[]{}()~&|<>ü✓"))
VALUES = st.text(ALPHABET, max_size=24)


def names_for(values: list[str]) -> dict[str, str]:
    return {f"V_{i}": v for i, v in enumerate(values)}


def shell_read(shell: str, script: str, names: list[str], how: str, tmp: Path) -> list[str]:
    """Values as `shell` sees them after `set -a` and `eval "$(cat file)"` or `. file`."""
    path = tmp / "exported.sh"
    path.write_text(script)
    load = {
        "eval": f'set -a; eval "$(cat {path})"',
        "source": f"set -a; . {path}",
        "set -a": f"set -a; . {path}",
    }[how]
    # A child process proves the variables were exported, not only set.
    show = "printf '%s\\0' " + " ".join(f'"${{{n}}}"' for n in names) if names else "true"
    result = subprocess.run(
        [shell, "-c", f"{load} && exec {shell} -c {shlex.quote(show)}"],
        cwd=tmp,
        capture_output=True,
        check=True,
    )
    return result.stdout.decode().split("\0")[:-1] if names else []


def compose_values(text: str) -> dict[str, str]:
    """docker compose's reading of `KEY="…"` / `KEY='…'` lines (compose-go dotenv rules).

    Inside either quote a backslash escapes the next character: an escaped quote loses
    its backslash, anything else keeps it. Single-quoted values are then literal.
    Double-quoted ones decode \\n \\r \\t \\\\ \\" (and more) and interpolate `$`: the
    exporter must never put a `$` there, so this model refuses one.
    """
    out: dict[str, str] = {}
    rest = text
    while rest:
        key, _, rest = rest.partition("=")
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), key
        quote, rest = rest[0], rest[1:]
        assert quote in "'\"", "unquoted value"
        chars: list[str] = []
        while True:
            char, rest = rest[0], rest[1:]
            if char == "\\":
                nxt, rest = rest[0], rest[1:]
                chars.append(nxt if nxt == quote else "\\" + nxt)
            elif char == quote:
                break
            else:
                chars.append(char)
        value = "".join(chars)
        if quote == '"':
            assert "$" not in value, "compose would interpolate this"
            escapes = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
            value = re.sub(r"\\(.)", lambda m: escapes.get(m[1], m[0]), value, flags=re.S)
        out[key] = value
        assert rest.startswith("\n")
        rest = rest[1:]
    return out


def dotenv_both_ways(text: str, tmp: Path) -> list[dict[str, str | None]]:
    """python-dotenv from a stream and from a file (which reads with universal newlines)."""
    path = tmp / ".env"
    path.write_text(text)
    return [
        dict(dotenv_values(stream=io.StringIO(text), interpolate=False)),
        dict(dotenv_values(path, interpolate=False)),
    ]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("how", ["eval", "source"])
def test_env_format_reads_back_exactly_in_posix_shells(
    shell: str, how: str, tmp_path: Path
) -> None:
    values = names_for(HOSTILE)
    script = envvars.render(values.items(), "env")
    assert shell_read(shell, script, list(values), how, tmp_path) == list(values.values())
    assert not (tmp_path / "pwned").exists()


@settings(max_examples=40, derandomize=True, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=6))
def test_env_format_round_trips_any_value_through_bash_and_sh(
    values: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("env")
    named = names_for(values)
    script = envvars.render(named.items(), "env")
    for shell in ("sh", "bash"):
        assert shell_read(shell, script, list(named), "eval", tmp) == values
    assert not (tmp / "pwned").exists()


def test_injected_commands_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    attacks = [
        ";touch marker",
        "x\ntouch marker",
        "$(touch marker)",
        "`touch marker`",
        "'; touch marker; '",
        "'\"$(touch marker)\"'",
        "x'\n touch marker\n'",
    ]
    named = names_for(attacks)
    script = envvars.render(named.items(), "env")
    seen: list[list[str] | None] = []
    for shell in SHELLS:
        for how in ("eval", "source"):
            try:
                seen.append(shell_read(shell, script, list(named), how, tmp_path))
            except subprocess.CalledProcessError:
                seen.append(None)
    assert not marker.exists()
    assert seen == [attacks] * len(seen)


# The dotenv values no spelling carries exactly to both parsers *and* safely through a shell.
UNSPELLABLE = {
    "pa ss$HOME\"q'x",
    "$'ansi\\n'",
    "!history !! $!'",
    "'$(touch pwned)'",
    "`touch pwned`'",
    "$\r",
    "$\\\\",
    "$ ends \\",
}


def test_dotenv_format_reads_back_exactly(tmp_path: Path) -> None:
    refused = {v for v in [*HOSTILE, *UNSPELLABLE] if not _spells(v)}
    assert refused == UNSPELLABLE
    exact = names_for([v for v in HOSTILE if v not in UNSPELLABLE])
    text = envvars.render(exact.items(), "dotenv")
    for parsed in dotenv_both_ways(text, tmp_path):
        assert parsed == exact
    assert compose_values(text) == exact


def _spells(value: str) -> bool:
    try:
        envvars.dotenv_quote(value)
    except envvars.VariableError:
        return False
    return True


@pytest.mark.parametrize("shell", SHELLS)
def test_a_shell_sourcing_the_dotenv_file_runs_nothing(shell: str, tmp_path: Path) -> None:
    """Not the shells' format (`\\n` stays two characters there), but never code."""
    named = names_for([v for v in HOSTILE if v not in UNSPELLABLE])
    got = shell_read(
        shell, envvars.render(named.items(), "dotenv"), list(named), "set -a", tmp_path
    )
    assert not (tmp_path / "pwned").exists()
    for value, seen in zip(named.values(), got, strict=True):
        if "\n" not in value and "\r" not in value:
            assert seen == value


@settings(max_examples=300, derandomize=True, deadline=None)
@given(value=VALUES)
def test_dotenv_format_is_exact_or_refused(value: str) -> None:
    try:
        text = envvars.render([("V", value)], "dotenv")
    except envvars.VariableError as exc:
        assert "$" in value or "`" in value
        assert "'" in value or "\r" in value or "\\" in value
        assert str(exc).startswith("The value of V cannot be written as dotenv")
        return
    assert dict(dotenv_values(stream=io.StringIO(text), interpolate=False)) == {"V": value}
    assert compose_values(text) == {"V": value}


def test_dotenv_spelling() -> None:
    assert envvars.dotenv_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert envvars.dotenv_quote("l1\nl2\r") == '"l1\\nl2\\r"'
    assert envvars.dotenv_quote("it's") == '"it\'s"'
    # $ is expanded in double quotes by compose, with no escape python-dotenv knows
    assert envvars.dotenv_quote("pa$$w${HOME}") == "'pa$$w${HOME}'"
    assert envvars.dotenv_quote("$ and \\d `x`") == "'$ and \\d `x`'"
    for unspellable in UNSPELLABLE:
        with pytest.raises(envvars.VariableError):
            envvars.dotenv_quote(unspellable)


def test_env_spelling() -> None:
    assert envvars.render([("A", "it's $x")], "env") == "A='it'\"'\"'s $x'\n"
    assert envvars.render([("A", "plain")], "env") == "A=plain\n"
    assert envvars.render([("A", "")], "env") == "A=''\n"


@pytest.mark.parametrize("fmt", ["env", "dotenv"])
def test_what_no_shell_can_carry_is_refused_whole(fmt: str) -> None:
    for pairs in (
        [("A", "fine"), ("B", "nul\0byte")],
        [("A", "fine"), ("123", "starts with a digit")],
        [("A", "fine"), ("", "no name")],
    ):
        with pytest.raises(envvars.VariableError) as caught:
            envvars.render(pairs, fmt)
        assert "fine" not in str(caught.value)
    # json carries anything; run's environment takes a digit-led name but no NUL
    assert envvars.render([("123", "nul\0")], "json") == '{\n  "123": "nul\\u0000"\n}\n'
    envvars.check_environ([("123", "x")])
    with pytest.raises(envvars.VariableError):
        envvars.check_environ([("A", "nul\0")])


# Through the real CLI: a machine identity pointed at a server answering the export call.


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stranger]:
    monkeypatch.setenv("KEYLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KEYLEDGER_IDENTITY", raising=False)
    with serving() as server:
        key = Ed25519PrivateKey.generate()
        identity.write_identity(key, "m-1", "api", "vault_abcdefghij", server.url)
        yield server


def exported(*entries: tuple[str, str]) -> dict[str, Any]:
    return {
        "secrets": [
            {"id": f"sk_{i}", "name": n, "value": v, "fieldNames": None}
            for i, (n, v) in enumerate(entries)
        ]
    }


def test_export_prints_what_a_shell_reads_back(machine: Stranger, tmp_path: Path) -> None:
    machine.answer(200, exported(("db-pass", "x';touch pwned;'$(id)`id`\n"), ("plain", "v")))
    result = CliRunner().invoke(main.app, ["export"])
    assert result.exit_code == 0, result.output
    got = shell_read("sh", result.stdout, ["DB_PASS", "PLAIN"], "eval", tmp_path)
    assert got == ["x';touch pwned;'$(id)`id`\n", "v"]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("fmt", "entries", "says"),
    [
        ("env", [("ok", "v"), ("nul", "a\0b")], "NUL"),
        ("dotenv", [("ok", "v"), ("nul", "a\0b")], "NUL"),
        ("env", [("ok", "v"), ("123", "v")], "123 is not a shell variable name"),
        ("dotenv", [("ok", "v"), ("mixed", "it's $HOME")], "MIXED cannot be written as dotenv"),
    ],
)
def test_export_refuses_whole_with_one_line(
    machine: Stranger, fmt: str, entries: list[tuple[str, str]], says: str
) -> None:
    machine.answer(200, exported(*entries))
    result = CliRunner().invoke(main.app, ["export", "--format", fmt])
    assert result.exit_code == 1 and result.stdout == ""  # nothing partial
    assert says in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "$HOME" not in result.stderr  # the variable is named, never its value


def test_run_refuses_a_nul_before_starting_anything(machine: Stranger, tmp_path: Path) -> None:
    machine.answer(200, exported(("nul", "a\0b")))
    marker = tmp_path / "started"
    result = CliRunner().invoke(main.app, ["run", "--all", "--", "touch", str(marker)])
    assert result.exit_code == 1 and "NUL" in result.stderr
    assert not marker.exists()
