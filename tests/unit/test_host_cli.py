"""The host CLI's pure parts, checked against the official SDK where it has an opinion."""

from __future__ import annotations

import base64
import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sikkerkey.client as sdk
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interfaces.cli import envvars, identity, signing
from interfaces.cli.runner import exit_code

NAMES = [
    "stripe-key",
    "db",
    "My Secret.v2",
    "__lead__trail__",
    "a--b__c  d",
    "weird/$name!",
    "ünïcode-ß",
    "123",
    "x",
    "---",
]


@pytest.mark.parametrize("name", NAMES)
def test_env_name_matches_the_sdk(name: str) -> None:
    assert envvars.env_name(name) == sdk._to_env_name(name)


def _sdk_client(key: Ed25519PrivateKey, reply: Any, seen: list[Any]) -> sdk.SikkerKey:
    client = sdk.SikkerKey.__new__(sdk.SikkerKey)
    client._identity = {"machineId": "m-1", "apiUrl": "http://localhost:1", "vaultId": "vault_x"}
    client._private_key = key
    client._init_watch_state()

    class Answer:
        status = 200

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self) -> bytes:
            return json.dumps(reply).encode()

    def urlopen(request: Any, timeout: float) -> Answer:
        seen.append(request)
        return Answer()

    sdk.urlopen = urlopen
    return client


@pytest.fixture
def restore_urlopen() -> Any:
    original = sdk.urlopen
    yield
    sdk.urlopen = original


def test_export_flattening_matches_the_sdk(restore_urlopen: Any) -> None:
    entries: list[dict[str, Any]] = [
        {"id": "sk_1", "name": "stripe-key", "value": "sk_live_x", "fieldNames": None},
        {
            "id": "sk_2",
            "name": "db",
            "value": json.dumps({"host": "h", "port": "5432", "pass-word": 'p"w\\d'}),
            "fieldNames": "host,port,pass-word",
        },
        {"id": "sk_3", "name": "json but standard", "value": '{"a": "b"}', "fieldNames": None},
        {"id": "sk_4", "name": "empty struct", "value": "{}", "fieldNames": ""},
    ]
    client = _sdk_client(Ed25519PrivateKey.generate(), {"secrets": entries}, [])
    assert dict(envvars.flatten(entries)) == client.export()
    assert envvars.flatten(entries)[1] == ("DB_HOST", "h")
    assert envvars.flatten(entries, "APP_")[0] == ("APP_STRIPE_KEY", "sk_live_x")


def test_secret_picked_by_id_is_named_after_the_id() -> None:
    assert envvars.by_id_name("sk_ab12cd34ef") == "SK_AB12CD34EF"
    assert envvars.by_id_name("ab-12") == "SK_AB_12"
    value = json.dumps({"host": "h", "port": "1"})
    pairs = envvars.variables(envvars.by_id_name("sk_ab", "P_"), value, structured=True)
    assert pairs == [("P_SK_AB_HOST", "h"), ("P_SK_AB_PORT", "1")]
    assert envvars.variables("SK_AB", value, structured=False) == [("SK_AB", value)]


def test_dotenv_escaping_and_rendering() -> None:
    assert envvars.dotenv_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert envvars.dotenv_quote("l1\nl2") == '"l1\\nl2"'
    # $ would be expanded inside double quotes by python-dotenv and compose: single-quote it
    assert envvars.dotenv_quote("pa$$w${HOME}") == "'pa$$w${HOME}'"
    with pytest.raises(envvars.VariableError):  # no spelling both parsers and sh agree on
        envvars.dotenv_quote("it's $x")
    pairs = [("A", 'x"y'), ("B", "plain=1")]
    assert envvars.render(pairs, "dotenv") == 'A="x\\"y"\nB="plain=1"\n'
    assert envvars.render(pairs, "env") == "A='x\"y'\nB=plain=1\n"
    assert json.loads(envvars.render(pairs, "json")) == {"A": 'x"y', "B": "plain=1"}
    assert envvars.masked(pairs, show_values=False) == "A=****\nB=****\n"
    assert envvars.duplicates([("A", "1"), ("B", "2"), ("A", "3")]) == ["A"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/secret/sk_abc", None),
        ("POST", "/v1/secrets/export", None),
        ("POST", "/v1/secrets/poll", {"watch": ["sk_a", "sk_b"]}),
    ],
)
def test_requests_are_signed_exactly_like_the_sdk(
    method: str, path: str, body: Any, restore_urlopen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    seen: list[Any] = []
    client = _sdk_client(key, {"changes": {}}, seen)
    client._request(method, path, json.dumps(body) if body is not None else None)
    theirs = {k.lower(): v for k, v in seen[0].header_items()}

    sent: list[dict[str, Any]] = []

    def send(
        _self: Any, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int, bytes]:
        sent.append({"method": method, "path": path, "content": body, "headers": headers})
        return 200, b'{"ok": true}'

    monkeypatch.setattr(signing.Connection, "send", send)
    mine = signing.MachineClient("http://localhost:1", "m-1", key)
    assert mine.call(method, path, body) == {"ok": True}
    ours = {k.lower(): v for k, v in sent[0]["headers"].items()}
    assert "http://localhost:1" + sent[0]["path"] == seen[0].full_url
    assert (sent[0]["content"] or None) == seen[0].data  # same bytes (None: no body at all)
    assert ("content-type" in ours) == ("content-type" in theirs)

    # Ed25519 is deterministic: with the SDK's timestamp and nonce, the signatures match.
    again = signing.signed_headers(
        key,
        "m-1",
        method,
        path,
        signing.encode_body(body),
        timestamp=theirs["x-timestamp"],
        nonce=theirs["x-nonce"],
    )
    assert again["X-Signature"] == theirs["x-signature"]
    assert again["X-Machine-Id"] == theirs["x-machine-id"]
    assert len(base64.b64decode(ours["x-nonce"])) == 16
    assert ours["x-timestamp"].isdigit()


def test_server_errors_become_machine_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def send(_self: Any, *_args: Any) -> tuple[int, bytes]:
        calls.append(1)
        return 403, b'{"error": "Machine is pending"}'

    monkeypatch.setattr(signing.Connection, "send", send)
    client = signing.MachineClient("http://localhost:1", "m", Ed25519PrivateKey.generate())
    with pytest.raises(signing.MachineError) as caught:
        client.get("/v1/machine/whoami")
    assert str(caught.value) == "Machine is pending (HTTP 403)" and len(calls) == 1


def test_identity_files_are_private_and_readable_by_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYLEDGER_HOME", str(tmp_path / "kl"))
    monkeypatch.delenv("KEYLEDGER_IDENTITY", raising=False)
    key = Ed25519PrivateKey.generate()
    path = identity.write_identity(key, "m-1", "api", "vault_abc", "http://localhost:9/")
    for p in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700
    for p in (path, path.parent / "private.pem"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert sorted(f.name for f in path.parent.iterdir()) == ["identity.json", "private.pem"]

    loaded = identity.load_identity(path)
    assert loaded.api_url == "http://localhost:9" and loaded.private_key_path.is_absolute()
    assert loaded.key().private_bytes_raw() == key.private_bytes_raw()
    theirs, their_key = sdk._load_identity(str(path))
    assert theirs["machineId"] == "m-1" and their_key.private_bytes_raw() == key.private_bytes_raw()

    with pytest.raises(identity.IdentityError):
        identity.write_identity(key, "m", "n", "../escape", "http://localhost:9")


def test_identity_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYLEDGER_HOME", str(tmp_path / "kl"))
    monkeypatch.delenv("KEYLEDGER_IDENTITY", raising=False)
    assert identity.find_identity_path(None, None) is None
    key = Ed25519PrivateKey.generate()
    one = identity.write_identity(key, "m-1", "a", "vault_one", "http://localhost:9")
    assert identity.find_identity_path(None, None) == one
    two = identity.write_identity(key, "m-2", "b", "vault_two", "http://localhost:9")
    with pytest.raises(SystemExit) as several:
        identity.find_identity_path(None, None)
    assert several.value.code == 2
    assert identity.find_identity_path(None, "vault_two") == two
    assert identity.find_identity_path(None, "one") == one
    with pytest.raises(SystemExit) as missing:
        identity.find_identity_path(None, "vault_three")
    assert missing.value.code == 1
    monkeypatch.setenv("KEYLEDGER_IDENTITY", str(two))
    assert identity.find_identity_path(None, None) == two
    assert identity.find_identity_path(one, None) == one  # an explicit option wins


def test_signal_deaths_map_to_128_plus_n() -> None:
    assert exit_code(-15) == 143 and exit_code(7) == 7 and exit_code(0) == 0


def test_signals_reach_the_child_and_its_death_comes_back(tmp_path: Path) -> None:
    """A supervisor process forwards SIGINT; the child dies of it; the exit code is 130."""
    ready = tmp_path / "ready"
    child = f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(30)"
    parent = (
        "import sys; from interfaces.cli.runner import Supervisor; "
        f"sup = Supervisor([sys.executable, '-c', {child!r}], None, None, 1.0); "
        "sys.exit(sup.run([('SK_X', 'v')], [], False))"
    )
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-c", parent], cwd=root)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        process.send_signal(signal.SIGINT)  # only the parent: it must pass it on
        assert process.wait(20) == 128 + signal.SIGINT
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_dotenv_export_reads_back_exactly_with_python_dotenv() -> None:
    """python-dotenv (without interpolation; with it no quoting keeps a `$`) and `sh`."""
    import io
    import subprocess

    from dotenv import dotenv_values

    values = {
        "A": "plain",
        "B": "pa$$w${HOME}$x",
        "C": 'quo"te\\back',
        "D": "line1\nline2",
        "E": "its `$HOME`",
        "F": "tab\tand space ",
        "G": "",
    }
    text = envvars.render(values.items(), "dotenv")
    parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
    assert parsed == values
    # A shell sourcing the file: single-quoted values stay literal (no $ expansion).
    shown = subprocess.run(
        ["sh", "-c", 'set -a; . /dev/stdin; printf %s "$B"'],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == values["B"]
