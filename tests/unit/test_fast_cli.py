"""The fast host CLI path: what `get`, `--version` and `--help` import, and its root help
kept in step with the Typer app. (Start-up time is measured by bench/cli_startup.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interfaces.cli import fast, identity, plain

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"typer", "click", "rich", "httpx", "litestar", "sqlalchemy", "eventsourcing"}
# Runs the console script's entry point, then names the heavy packages it loaded.
PROBE = """
import json, sys
heavy = set(json.loads(sys.argv[2]))
sys.argv = ["keyledger", *json.loads(sys.argv[1])]
from interfaces.cli import main
try:
    main.run()
except SystemExit:
    pass
loaded = {m.split(".")[0] for m in sys.modules}
sys.stderr.write("\\nLOADED " + json.dumps(sorted(loaded & heavy)))
"""


class _Stub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"value": "v-1"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _probe(args: list[str], home: Path) -> tuple[str, list[str]]:
    env = {"PATH": "/usr/bin:/bin", "KEYLEDGER_HOME": str(home), "HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(sorted(HEAVY))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    loaded = done.stderr.rsplit("LOADED ", 1)[1]
    return done.stdout, json.loads(loaded)


@pytest.mark.parametrize("args", [["--version"], ["--help"], [], ["get", "--help"]])
def test_version_and_help_load_no_framework(args: list[str], tmp_path: Path) -> None:
    out, loaded = _probe(args, tmp_path)
    assert loaded == [] and out


def test_a_get_loads_no_framework(stub: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KEYLEDGER_HOME", str(tmp_path))
    identity.write_identity(Ed25519PrivateKey.generate(), "m-1", "a", "vault_abc", stub)
    out, loaded = _probe(["get", "sk_abc"], tmp_path)
    assert out == "v-1" and loaded == []
    _, loaded = _probe(["list", "secrets"], tmp_path)  # the probe would see them
    assert "typer" in loaded


def test_the_root_help_lists_what_the_app_has() -> None:
    import typer.main

    from interfaces.cli.app import app

    registered = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {name for name, _ in fast.COMMANDS} == registered
    assert version("keyledger") == plain.VERSION
