"""The served bootstrap script: every value the server puts into it stays a value."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from interfaces.http.enroll import bootstrap_script

TOKEN = "0123456789abcdef" * 3
HOSTILE = [
    "http://x';touch MARK;'",
    "http://$(touch MARK)",
    "http://`touch MARK`",
    'http://x"; touch MARK; "',
    "http://x\ntouch MARK\n",
    "http://x\\'$HOME",
]


def assignments(script: str) -> str:
    """The script up to its TOKEN= line: the part holding the interpolated values."""
    head = script.split("\nTOKEN=", 1)[0]
    token_line = script.split("\nTOKEN=", 1)[1].split("\nNAME=", 1)[0]
    return f"{head}\nTOKEN={token_line}\n"


@pytest.mark.parametrize("url", HOSTILE)
def test_interpolated_values_are_shell_quoted(url: str, tmp_path: Path) -> None:
    script = bootstrap_script(url, TOKEN)
    syntax = subprocess.run(["sh", "-n"], input=script.encode(), capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
    probe = assignments(script) + 'printf "%s|%s" "$API_URL" "$TOKEN"\n'
    done = subprocess.run(["sh"], input=probe.encode(), capture_output=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"{url}|{TOKEN}"
    assert not (tmp_path / "MARK").exists()
